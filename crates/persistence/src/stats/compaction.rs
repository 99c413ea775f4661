//! Folding a federation's statistics deltas into its rollups. Writers only append deltas (in
//! their own transactions, so the statistics are exact at every commit); folding them keeps what
//! a reader must add up small. Any instance may fold any federation: the federation's row in
//! `stats_compactions`, taken with SKIP LOCKED, lets one fold at a time, and a fold that finds it
//! taken leaves the work to the one that has it.

use crate::error::StoreError;
use crate::tenant::{begin_fold, commit, TenantScope};
use sqlx::PgPool;
use waymark_domain::FederationId;

/// What a fold did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folded {
    /// Nothing was waiting.
    Nothing,
    /// Another instance is folding this federation.
    Busy,
    /// The deltas were folded.
    Folded { deltas: i64 },
}

/// Federations to fold: every one (a fold of one with nothing waiting is a single read).
pub async fn federations(pool: &PgPool) -> Result<Vec<FederationId>, StoreError> {
    let mut tx = crate::tenant::begin_read(pool, TenantScope::platform()).await?;
    let ids = sqlx::query_scalar!("SELECT id FROM federations ORDER BY id")
        .fetch_all(&mut *tx)
        .await?;
    crate::tenant::end_read(tx);
    Ok(ids.into_iter().map(FederationId::from).collect())
}

/// Folds every federation's deltas every `interval`, for as long as the runtime runs. A failed
/// round (the database away, say) is logged and the next one tried.
pub fn spawn(pool: PgPool, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = fold_all(&pool).await {
                match error {
                    StoreError::Unavailable(_) => {
                        tracing::debug!(%error, "statistics fold skipped")
                    }
                    _ => tracing::warn!(%error, "statistics fold failed"),
                }
            }
        }
    })
}

/// Folds every federation's waiting deltas once.
pub async fn fold_all(pool: &PgPool) -> Result<(), StoreError> {
    for federation in federations(pool).await? {
        if let Folded::Folded { deltas } = fold(pool, federation).await? {
            tracing::debug!(%federation, deltas, "statistics folded");
        }
    }
    Ok(())
}

/// Folds what is waiting for `federation`.
pub async fn fold(pool: &PgPool, federation: FederationId) -> Result<Folded, StoreError> {
    let mut tx = begin_fold(pool, TenantScope::federation(federation)).await?;
    let waiting = sqlx::query_scalar!(
        r#"SELECT (SELECT count(*) FROM stats_referral_deltas WHERE federation_id = $1)
                + (SELECT count(*) FROM stats_spend_deltas WHERE federation_id = $1)
                + (SELECT count(*) FROM stats_clinic_deltas WHERE federation_id = $1) AS "waiting!""#,
        federation.as_uuid(),
    )
    .fetch_one(&mut *tx)
    .await?;
    if waiting == 0 {
        crate::tenant::end_read(tx);
        return Ok(Folded::Nothing);
    }
    sqlx::query!(
        "INSERT INTO stats_compactions (federation_id, compacted_at) VALUES ($1, now())
         ON CONFLICT (federation_id) DO NOTHING",
        federation.as_uuid(),
    )
    .execute(&mut *tx)
    .await?;
    let taken = sqlx::query_scalar!(
        "SELECT federation_id FROM stats_compactions WHERE federation_id = $1
         FOR UPDATE SKIP LOCKED",
        federation.as_uuid(),
    )
    .fetch_optional(&mut *tx)
    .await;
    match taken {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(Folded::Busy),
        // Another fold committed since this snapshot was taken: its deltas are gone, and this
        // snapshot still sees them, so this one must not fold.
        Err(e) if is_serialization_failure(&e) => return Ok(Folded::Busy),
        Err(e) => return Err(e.into()),
    }
    let folded = sqlx::query!("SELECT waymark_stats_fold($1)", federation.as_uuid())
        .execute(&mut *tx)
        .await;
    match folded {
        Ok(_) => {}
        Err(e) if is_serialization_failure(&e) => return Ok(Folded::Busy),
        Err(e) => return Err(e.into()),
    }
    sqlx::query!(
        "UPDATE stats_compactions SET compacted_at = now() WHERE federation_id = $1",
        federation.as_uuid(),
    )
    .execute(&mut *tx)
    .await?;
    commit(tx).await?;
    Ok(Folded::Folded { deltas: waiting })
}

fn is_serialization_failure(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "40001")
}
