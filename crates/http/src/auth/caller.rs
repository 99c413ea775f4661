//! The `Caller` extractor: a route that takes one requires a valid bearer token.

use super::tokens::TokenService;
use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::{ready, Ready};
use std::ops::Deref;
use waymark_domain::{FederationId, Principal};

/// The authenticated principal of a request.
#[derive(Clone, Debug)]
pub struct Caller(pub Principal);

impl Deref for Caller {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl Caller {
    /// The caller's federation, for routes that act inside one; callers outside any federation
    /// (platform administrators) are not allowed there.
    pub fn federation(&self) -> Result<FederationId, ApiError> {
        self.0.federation_id.ok_or(ApiError::Forbidden(
            "this route acts inside a federation; your token belongs to none",
        ))
    }

    /// `Ok` when `allowed`, else 403: for routes the caller's role may not use at all.
    pub fn require(&self, allowed: bool, why: &'static str) -> Result<(), ApiError> {
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden(why))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let tokens = req
        .app_data::<web::Data<TokenService>>()
        .ok_or_else(|| ApiError::Internal("token service not configured".into()))?;
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized(
            "this route needs an access token: Authorization: Bearer <token>".into(),
        )
    })?;
    let value = value.to_str().map_err(|_| {
        ApiError::Unauthorized("the Authorization header is not readable text".into())
    })?;
    let token = match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            token.trim()
        }
        _ => {
            return Err(ApiError::Unauthorized(
                "the Authorization header must be `Bearer <token>`".into(),
            ))
        }
    };
    tokens
        .verify(token)
        .map(Caller)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))
}
