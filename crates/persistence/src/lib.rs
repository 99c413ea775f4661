//! Waymark's PostgreSQL layer: connection pool, migrations, tenant-scoped transactions and one
//! repository module per aggregate.
//!
//! Repository functions take a `&mut PgConnection` inside a transaction opened by
//! [`tenant::begin`], so the caller decides the transaction's boundary and the tenant it is
//! scoped to; row-level security then checks every row against that tenant again.

pub mod audit;
pub mod bulk;
mod code_arrays;
pub mod credentials;
pub mod directory;
pub mod error;
pub mod events;
pub mod federations;
pub mod health;
pub mod idempotency;
pub mod ledger;
pub mod login_role;
pub mod pathway;
pub mod pool;
pub mod practices;
pub mod rate_limits;
mod rows;
pub mod service_accounts;
pub mod stats;
pub mod tenant;
pub mod users;
pub mod webhooks;

pub use error::StoreError;
pub use pool::{connect, migrate, migrate_citus, Database, MIGRATOR};
pub use sqlx::PgPool;
pub use tenant::{
    begin, begin_read, begin_search, begin_snapshot, begin_tally, commit, end_read, TenantScope, Tx,
};
