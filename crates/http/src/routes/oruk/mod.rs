//! A read-only API compatible with Open Referral UK 3.0 (the UK profile of HSDS) under
//! `/oruk/{federation}/`, so other directories and tools can consume the federation's directory.
//! As the profile's compliance rules require, these routes are public (no token), answer
//! `Access-Control-Allow-Origin: *` and are rate-limited per address; they expose only public
//! directory fields (never payee references, capacity or tariffs).

mod model;
pub mod routes;

use crate::problem::ApiError;
use crate::state::AppState;
use waymark_domain::federation::Slug;
use waymark_domain::FederationId;
use waymark_persistence::{end_read, federations, StoreError, TenantScope};

/// The federation a public route names by slug; an unknown or malformed slug is not found.
pub(crate) async fn federation_by_slug(
    state: &AppState,
    slug: &str,
) -> Result<FederationId, ApiError> {
    let slug = Slug::parse(slug).map_err(|_| ApiError::NotFound)?;
    // Federation slugs and ids are public; the platform scope here reads nothing else.
    let mut tx = state.begin_read(TenantScope::platform()).await?;
    let federation = match federations::find_by_slug(&mut tx, slug.as_str()).await {
        Ok(record) => FederationId::from(record.id),
        Err(StoreError::NotFound) => return Err(ApiError::NotFound),
        Err(other) => return Err(other.into()),
    };
    end_read(tx);
    Ok(federation)
}
