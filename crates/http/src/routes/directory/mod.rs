//! The federation's shared directory: need categories, organisations and services.
//! Everyone in the federation reads it; federation admins and `directory:write` service accounts
//! maintain it; providers update their own organisation's services.

pub mod import;
pub mod need_categories;
pub mod organisations;
pub mod services;

use crate::auth::Caller;
use crate::problem::ApiError;
use waymark_domain::FederationId;

/// The federation whose directory the caller reads: any user or service account of it.
pub(crate) fn readable_directory(caller: &Caller) -> Result<FederationId, ApiError> {
    caller.federation()
}

pub(crate) fn require_writer(caller: &Caller) -> Result<FederationId, ApiError> {
    let federation = caller.federation()?;
    caller.require(
        caller.can_write_directory(),
        "only federation administrators and directory:write service accounts change the directory",
    )?;
    Ok(federation)
}
