//! Waymark's domain: the types and rules of social prescribing across a federation of GP practices.
//!
//! Everything here is pure: no I/O, no database, no HTTP. Values are parsed once at the edge
//! (`parse` constructors returning `Result`) so that code past the edge cannot hold bad data.

pub mod access;
pub mod directory;

pub mod etag;
pub mod events;
pub mod federation;
pub mod ids;
pub mod ledger;
pub mod login_throttle;
pub mod network;
pub mod pagination;
pub mod pathway;
pub mod practice;
pub mod rate_limit;
pub mod role;
pub mod secret_rotation;
pub mod stats;
pub mod user;
pub mod validation;
pub mod webhooks;

pub use access::{Principal, PrincipalKind};
pub use ids::{FederationId, OrganisationId, PracticeId, ServiceAccountId, ServiceId, UserId};
pub use role::{Role, ServiceScope};
pub use validation::{FieldError, ValidationErrors};
