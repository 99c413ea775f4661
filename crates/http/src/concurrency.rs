//! Optimistic concurrency at the HTTP edge: `ETag` on reads, `If-Match` required on updates.

use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponseBuilder};
use std::future::{ready, Ready};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::Required;
use utoipa::IntoParams;
use waymark_domain::etag::{etag_for, version_from_if_match};

/// The `If-Match` header of an update. Read only once the caller is authorised, so a caller
/// who may not update learns nothing from it.
#[derive(Clone, Copy, Debug)]
pub struct IfMatch(Option<i32>);

impl IfMatch {
    /// The version the client last read: missing is 428; a tag that cannot be one of ours is
    /// version 0, which never matches, so the update answers 412.
    pub fn version(self) -> Result<i32, ApiError> {
        self.0.ok_or(ApiError::PreconditionRequired)
    }
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let version = req.headers().get(header::IF_MATCH).map(|value| {
            value
                .to_str()
                .ok()
                .and_then(version_from_if_match)
                .unwrap_or(0)
        });
        ready(Ok(IfMatch(version)))
    }
}

/// `params(IfMatchHeader)`: the `If-Match` an update under optimistic concurrency needs. The
/// document gives every operation that declares it its 412 and 428.
pub struct IfMatchHeader;

pub const IF_MATCH: &str = "If-Match";

impl IntoParams for IfMatchHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name(IF_MATCH)
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(
                "The ETag from your last read: without it the answer is 428, and 412 when the \
                 resource has changed since",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build()]
    }
}

/// Adds the `ETag` of a row at `version` to a response.
pub fn with_etag(mut response: HttpResponseBuilder, version: i32) -> HttpResponseBuilder {
    response.insert_header((header::ETAG, etag_for(version)));
    response
}
