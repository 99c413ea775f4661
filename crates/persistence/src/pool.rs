//! The connection pool (running as the unprivileged `waymark_app` role) and migrations (run as
//! the connecting user, who owns the schema).

use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, PgConnection, PgPool, Postgres};
use std::str::FromStr;
use std::time::Duration;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// A pool whose every connection has switched to `waymark_app`, so that row-level security
/// applies to everything the service does.
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
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("SET ROLE waymark_app").await?;
                Ok(())
            })
        })
        .connect_lazy_with(options);
    Ok(Database { pool })
}

/// Creates the database if it does not exist yet, then applies pending migrations over a
/// connection of the schema owner.
pub async fn migrate(url: &str) -> Result<(), sqlx::migrate::MigrateError> {
    if !Postgres::database_exists(url).await? {
        Postgres::create_database(url).await?;
    }
    let mut conn = PgConnection::connect(url).await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// What distributes a migrated database over a Citus cluster (idempotent: it distributes only
/// the tables not yet distributed).
pub const CITUS_DISTRIBUTION: &str = include_str!("../../../deploy/citus/distribute.sql");

/// Runs [`migrate`], then distributes the tables on the Citus coordinator `url` names: platform
/// tables as reference tables, tenant tables by `federation_id`, colocated.
pub async fn migrate_citus(url: &str) -> Result<(), sqlx::Error> {
    migrate(url).await?;
    let mut conn = PgConnection::connect(url).await?;
    sqlx::raw_sql(CITUS_DISTRIBUTION).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}
