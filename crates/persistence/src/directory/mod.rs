//! The federation's directory: organisations and their services.

pub mod import;
pub mod organisations;
pub mod services;
