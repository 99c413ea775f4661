//! The `Caller` extractor: a route that takes one requires a valid bearer token. A service
//! account's token is also checked against its credential on every request, so deactivating or
//! revoking the account stops the tokens it holds at once.

use super::tokens::{TokenService, VerifiedToken};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use std::future::ready;
use std::ops::Deref;
use waymark_domain::{FederationId, Principal, PrincipalKind, ServiceAccountId};
use waymark_persistence::{credentials, StoreError};

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
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        match verify_bearer(req) {
            Ok(verified) if verified.principal.kind == PrincipalKind::ServiceAccount => {
                let state = req.app_data::<web::Data<AppState>>().cloned();
                Box::pin(still_valid(state, verified))
            }
            verified => Box::pin(ready(verified.map(|v| Caller(v.principal)))),
        }
    }
}

/// A service account's token stands only if the account has not been deactivated or revoked
/// since it was issued. `iat` is in whole seconds, so a token issued in the second of the
/// change is refused too (signing in again then gives a good one).
async fn still_valid(
    state: Option<web::Data<AppState>>,
    verified: VerifiedToken,
) -> Result<Caller, ApiError> {
    let state = state.ok_or_else(|| ApiError::Internal("no application state".into()))?;
    let account = ServiceAccountId::from(verified.principal.subject);
    match credentials::tokens_not_before(&state.db.pool, account).await {
        Ok(None) => Ok(Caller(verified.principal)),
        Ok(Some(cutoff)) if verified.issued_at > cutoff.timestamp().max(0) as u64 => {
            Ok(Caller(verified.principal))
        }
        Ok(Some(_)) => Err(ApiError::Unauthorized(
            "the service account was deactivated or revoked after this token was issued".into(),
        )),
        Err(StoreError::NotFound) => Err(ApiError::Unauthorized(
            "the token names a service account that does not exist".into(),
        )),
        Err(error) => Err(error.into()),
    }
}

fn verify_bearer(req: &HttpRequest) -> Result<VerifiedToken, ApiError> {
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
        .verify_issued(token)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))
}
