//! Building a federation's statistics afresh from its pathway, ledger and clinics, for a bulk
//! load that deferred them (`waymark seed-synthetic`): one set-wise pass instead of a trigger per
//! row. Runs in the load's own transaction, as the schema owner.

use crate::error::StoreError;
use sqlx::PgConnection;
use waymark_domain::FederationId;

/// Tells the statistics triggers to leave this transaction's rows to [`rebuild`]. Only a role
/// that row-level security does not restrict is listened to (`waymark_stats_deferred()`).
pub async fn defer(conn: &mut PgConnection) -> Result<(), StoreError> {
    // A SET LOCAL statement, which Citus passes on to the workers the triggers run on (a
    // set_config() call it does not).
    sqlx::query("SET LOCAL waymark.stats_deferred = 'on'")
        .execute(conn)
        .await?;
    Ok(())
}

/// Rebuilds `federation`'s facts and rollups from its rows.
pub async fn rebuild(conn: &mut PgConnection, federation: FederationId) -> Result<(), StoreError> {
    // Each referral's fact spreads over a score of rollup cells before they are summed: room
    // to sum them in memory rather than in batches spilled to disk.
    sqlx::query("SET LOCAL work_mem = '512MB'")
        .execute(&mut *conn)
        .await?;
    sqlx::query!("SELECT waymark_stats_rebuild($1)", federation.as_uuid())
        .execute(&mut *conn)
        .await?;
    sqlx::query("SET LOCAL work_mem TO DEFAULT")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The tables a rebuild writes, for ANALYZE after a load.
pub const TABLES: [&str; 6] = [
    "stats_referrals",
    "stats_referral_rollups",
    "stats_contact_day_rollups",
    "stats_spend_rollups",
    "stats_clinic_rollups",
    "stats_referral_deltas",
];
