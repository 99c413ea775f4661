//! The federation's directory: organisations and their services.

pub mod organisations;
pub mod services;
