//! A per-address request budget for the public (unauthenticated) routes of a federation, which
//! anyone can call. The count is kept in the database (`persistence::public_requests`), so every
//! instance of the service counts against one budget per client address and federation.

use crate::client_address;
use crate::problem::ApiError;
use crate::routes::oruk::federation_by_slug;
use crate::state::AppState;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, FromRequest, HttpMessage, HttpRequest};
use std::future::{ready, Ready};
use waymark_domain::request_budget::RequestBudget;
use waymark_domain::FederationId;
use waymark_persistence::{begin_tally, commit, public_requests, TenantScope};

/// The budget each client address has on each federation's public routes.
#[derive(Clone, Copy, Debug)]
pub struct PublicBudget(pub RequestBudget);

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
    match admit(&req).await {
        Ok(federation) => {
            req.extensions_mut().insert(federation);
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(error) => {
            let response = actix_web::ResponseError::error_response(&error);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

async fn admit(req: &ServiceRequest) -> Result<PublicFederation, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("no application state".into()))?;
    let slug = req.match_info().get("federation").unwrap_or_default();
    let federation = federation_by_slug(state, slug).await?;
    let budget = req.app_data::<web::Data<PublicBudget>>().map(|b| b.0);
    if let (Some(budget), Some(address)) = (budget, client_address::of_service_request(req)) {
        let mut tx = begin_tally(&state.db.pool, TenantScope::federation(federation)).await?;
        let count = public_requests::count(&mut tx, federation, address).await?;
        commit(tx).await?;
        budget
            .check(count)
            .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
    }
    Ok(PublicFederation(federation))
}
