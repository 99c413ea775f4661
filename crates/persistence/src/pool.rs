//! The connection pool (logged in as the service's own role, which holds only `waymark_app`'s
//! rights; see `login_role`) and migrations (run as the schema owner, another login).

use crate::login_role::{self, LoginRoleError};
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool, Postgres};
use std::str::FromStr;
use std::time::Duration;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// A pool of connections logged in as the service's role, so that row-level security applies to
/// everything the service does.
#[derive(Clone, Debug)]
pub struct Database {
    pub pool: PgPool,
}

pub async fn connect(url: &str, max_connections: u32) -> Result<Database, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .application_name("waymark")
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // No ping as a connection leaves the pool: every use starts with a statement that can
        // safely be retried on another connection (see `tenant`), which finds a dead one as
        // surely, without a round trip on every request.
        .test_before_acquire(false)
        .connect_lazy_with(options);
    Ok(Database { pool })
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    LoginRole(#[from] LoginRoleError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Creates the database if it does not exist yet, applies pending migrations over a connection
/// of the schema owner (`owner_url`), then makes sure the role `service_url` logs in as exists
/// and holds only `waymark_app`'s rights.
pub async fn migrate(owner_url: &str, service_url: &str) -> Result<(), MigrationError> {
    if !Postgres::database_exists(owner_url).await? {
        Postgres::create_database(owner_url).await?;
    }
    let mut conn = PgConnection::connect(owner_url).await?;
    MIGRATOR.run(&mut conn).await?;
    login_role::provision(&mut conn, service_url).await?;
    conn.close().await?;
    Ok(())
}

/// What distributes a migrated database over a Citus cluster (idempotent: it distributes only
/// the tables not yet distributed).
pub const CITUS_DISTRIBUTION: &str = include_str!("../../../deploy/citus/distribute.sql");

/// Runs [`migrate`], then distributes the tables on the Citus coordinator `owner_url` names:
/// platform tables as reference tables, tenant tables by `federation_id`, colocated; and gives
/// every worker the service's login.
pub async fn migrate_citus(owner_url: &str, service_url: &str) -> Result<(), MigrationError> {
    migrate(owner_url, service_url).await?;
    let mut conn = PgConnection::connect(owner_url).await?;
    sqlx::raw_sql(CITUS_DISTRIBUTION).execute(&mut conn).await?;
    login_role::provision_on_workers(&mut conn, service_url).await?;
    conn.close().await?;
    Ok(())
}
