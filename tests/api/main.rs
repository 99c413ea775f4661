//! Black-box tests of the API: each spawns the real application on a fresh database and talks
//! HTTP to it.

mod admin;
mod auth;
mod citus;
mod cli;
mod clinics;
mod directory;
mod directory_cache;
mod directory_eligibility;
mod directory_import;
mod events;
mod exports;
mod fhir_conformance;
mod gp_record;
mod helpers;
mod instances;
mod journey;
mod ledger;
mod ledger_clawbacks;
mod ledger_rules;
mod login_role;
mod openapi_contract;
mod operations;
mod oruk;
mod pathway;
mod pathway_matrix;
mod pathway_rules;
mod problems;
mod rate_limits;
mod schema_rules;
mod service_accounts;
mod stats;
mod synthetic;
mod tenancy;
mod webhooks;
