//! Waymark's HTTP API: an actix-web application over the persistence and domain crates.
//!
//! [`Application::build`] is what the binary serves and what the black-box tests spawn;
//! [`document`] is the OpenAPI description of exactly the routes it serves.

pub mod application;
pub mod auth;
pub mod client_address;
pub mod concurrency;
pub mod csv;
pub mod csv_export;
pub mod directory_cache;
pub mod idempotency;
pub mod json_body;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod problem;
pub mod public_rate_limit;
pub mod rate_limit;
pub mod request_context;
pub mod routes;
pub mod schemas;
pub mod secret_rotation;
pub mod settings;
pub mod state;
pub mod webhook_delivery;

pub use application::{document, Application};
pub use settings::Settings;
