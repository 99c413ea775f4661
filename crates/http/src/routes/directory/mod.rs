//! The federation's shared directory: need categories, organisations and services.
//! Every user of the federation reads it, and service accounts granted `directory:read`;
//! federation admins and `directory:write` service accounts maintain it; providers update their
//! own organisation's services.

pub mod import;
pub mod need_categories;
pub mod organisations;
pub mod services;

use crate::auth::Caller;
use crate::problem::ApiError;
use waymark_domain::FederationId;

/// The federation whose directory the caller reads: any user of it, or a service account
/// granted `directory:read` or `directory:write`.
pub(crate) fn readable_directory(caller: &Caller) -> Result<FederationId, ApiError> {
    let federation = caller.federation()?;
    caller.require(
        caller.can_read_directory(),
        "service accounts read the directory with the directory:read scope",
    )?;
    Ok(federation)
}

pub(crate) fn require_writer(caller: &Caller) -> Result<FederationId, ApiError> {
    let federation = caller.federation()?;
    caller.require(
        caller.can_write_directory(),
        "only federation administrators and directory:write service accounts change the directory",
    )?;
    Ok(federation)
}
