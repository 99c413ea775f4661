//! The federation's shared directory of voluntary and community services: the need-category
//! taxonomy, organisations, services (with the ages they are for and their weekly opening
//! hours) and the geography used to search them.

pub mod contact;
pub mod eligibility;
pub mod geo;
pub mod import;
pub mod need;
pub mod organisation;
pub mod schedule;
pub mod service;

pub use geo::GeoPoint;
pub use need::NeedCategory;
pub use service::DeliveryMode;
