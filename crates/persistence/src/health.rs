//! Readiness: the database answers and carries every migration this binary knows.

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
    let applied: Option<i64> =
        sqlx::query_scalar!("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?;
    if applied.is_some_and(|v| v >= expected) {
        Ok(Readiness::Ready)
    } else {
        Ok(Readiness::MigrationsPending { applied, expected })
    }
}
