//! The public (unauthenticated) routes of a federation, which anyone can call: their budget is
//! per client address and federation, counted by the shared rate limiter (`rate_limit`), so
//! every instance of the service counts against one budget.

use crate::client_address;
use crate::problem::ApiError;
use crate::rate_limit::{count, respond, RateLimiter};
use crate::routes::oruk::federation_by_slug;
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, FromRequest, HttpMessage, HttpRequest};
use std::future::{ready, Ready};
use waymark_domain::FederationId;

/// The federation a public route names, resolved and its request counted by
/// [`limit_public_requests`] before the handler runs.
#[derive(Clone, Copy, Debug)]
pub struct PublicFederation(pub FederationId);

impl FromRequest for PublicFederation {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<PublicFederation>()
                .copied()
                .ok_or_else(|| {
                    ApiError::Internal("a public route is served without its budget".into())
                }),
        )
    }
}

/// Resolves the `{federation}` of the scope, counts the request against its client's budget
/// there, and refuses it with 429 once the budget for the minute is spent. An unknown federation
/// is not found, and costs the caller nothing.
pub async fn limit_public_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let mut standings = Vec::new();
    let counted = admit(&req, &mut standings).await;
    let counted = counted.map(|federation| {
        req.extensions_mut().insert(federation);
    });
    respond(req, next, counted, &standings).await
}

async fn admit(
    req: &ServiceRequest,
    standings: &mut Vec<crate::rate_limit::Standing>,
) -> Result<PublicFederation, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("no application state".into()))?;
    let slug = req.match_info().get("federation").unwrap_or_default();
    let federation = federation_by_slug(state, slug).await?;
    if let Some(limiter) = req.app_data::<web::Data<RateLimiter>>() {
        count(
            limiter,
            limiter.policies.public,
            || {
                client_address::of_service_request(req)
                    .map(|address| format!("public:{}:{address}", federation.as_uuid()))
            },
            standings,
        )
        .await?;
    }
    Ok(PublicFederation(federation))
}
