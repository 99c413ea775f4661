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
    sqlx::query!("SELECT waymark_stats_rebuild($1)", federation.as_uuid())
        .execute(conn)
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
