//! Readiness: the database answers and carries every migration this binary knows.

use crate::error::try_another_connection;
use crate::pool::MIGRATOR;
use sqlx::PgPool;

#[derive(Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The database answered but lags behind the binary's migrations.
    MigrationsPending {
        applied: Option<i64>,
        expected: i64,
    },
}

pub async fn readiness(pool: &PgPool) -> Result<Readiness, sqlx::Error> {
    let expected = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    // A connection the server dropped since its last use fails at once; another is tried, so
    // readiness returns as soon as the pool can reach the database again.
    let mut attempts_left = pool.options().get_max_connections() + 1;
    let applied: Option<i64> = loop {
        match sqlx::query_scalar!("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await
        {
            Ok(applied) => break applied,
            Err(error) if attempts_left > 1 && try_another_connection(&error) => attempts_left -= 1,
            Err(error) => return Err(error),
        }
    };
    if applied.is_some_and(|v| v >= expected) {
        Ok(Readiness::Ready)
    } else {
        Ok(Readiness::MigrationsPending { applied, expected })
    }
}
