//! The change feed's storage: events are written by triggers with each change (see the events
//! migration), given their positions here once they have committed, read in position order,
//! and pruned after the retention period.

use crate::error::StoreError;
use crate::tenant::{begin_events_maintenance, begin_read, commit, end_read, TenantScope, Tx};
use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use waymark_domain::events::{FeedCursor, Visibility};
use waymark_domain::FederationId;

/// Events sequenced in one transaction at most; a larger backlog takes several.
const SEQUENCE_BATCH: i64 = 5000;

/// What a sequencing round did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sequenced {
    /// This many events took their positions (perhaps none were waiting).
    Events(u64),
    /// Another instance is sequencing the federation's events.
    Busy,
}

/// Gives the federation's committed, unsequenced events the next positions, in the order
/// they were written, until none wait. One sequencer at a time per federation (its row of
/// `event_sequences`, taken with SKIP LOCKED); each batch commits before the next begins, so
/// a position is never visible before the positions below it.
pub async fn sequence(pool: &PgPool, federation: FederationId) -> Result<Sequenced, StoreError> {
    let mut total = 0u64;
    loop {
        let mut tx = begin_events_maintenance(pool, TenantScope::federation(federation)).await?;
        let waiting = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM events WHERE federation_id = $1 AND position IS NULL) AS "waiting!""#,
            federation.as_uuid()
        )
        .fetch_one(&mut *tx)
        .await?;
        if !waiting {
            end_read(tx);
            return Ok(Sequenced::Events(total));
        }
        sqlx::query!(
            "INSERT INTO event_sequences (federation_id) VALUES ($1) ON CONFLICT (federation_id) DO NOTHING",
            federation.as_uuid()
        )
        .execute(&mut *tx)
        .await?;
        let Some(last) = sqlx::query_scalar!(
            "SELECT last_position FROM event_sequences WHERE federation_id = $1 FOR UPDATE SKIP LOCKED",
            federation.as_uuid()
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(if total > 0 {
                Sequenced::Events(total)
            } else {
                Sequenced::Busy
            });
        };
        // A statement after the lock, so its snapshot sees what the sequencer before committed.
        let ids = sqlx::query_scalar!(
            "SELECT id FROM events WHERE federation_id = $1 AND position IS NULL
             ORDER BY written_at, id LIMIT $2",
            federation.as_uuid(),
            SEQUENCE_BATCH
        )
        .fetch_all(&mut *tx)
        .await?;
        let count = ids.len() as i64;
        sqlx::query!(
            "UPDATE events e SET position = $3 + t.n, sequenced_at = $4
             FROM unnest($2::uuid[]) WITH ORDINALITY AS t (id, n)
             WHERE e.federation_id = $1 AND e.id = t.id",
            federation.as_uuid(),
            &ids,
            last,
            sequenced_now(&mut tx).await?
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE event_sequences SET last_position = last_position + $2 WHERE federation_id = $1",
            federation.as_uuid(),
            count
        )
        .execute(&mut *tx)
        .await?;
        commit(tx).await?;
        total += count as u64;
        if count < SEQUENCE_BATCH {
            return Ok(Sequenced::Events(total));
        }
    }
}

/// The sequencer's clock is the database's: sequencers run one after another, so it never
/// goes back from one to the next, whichever instance runs them.
async fn sequenced_now(tx: &mut Tx) -> Result<DateTime<Utc>, StoreError> {
    Ok(sqlx::query_scalar!(r#"SELECT now() AS "now!""#)
        .fetch_one(&mut **tx)
        .await?)
}

/// Removes the federation's events sequenced before `before`, and records how far the feed
/// was cut, so that a reader resuming from before it is told rather than silently skipped on.
pub async fn prune(
    pool: &PgPool,
    federation: FederationId,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut tx = begin_events_maintenance(pool, TenantScope::federation(federation)).await?;
    let through = sqlx::query_scalar!(
        "SELECT max(position) FROM events
         WHERE federation_id = $1 AND position IS NOT NULL AND sequenced_at < $2",
        federation.as_uuid(),
        before
    )
    .fetch_one(&mut *tx)
    .await?;
    let Some(through) = through else {
        end_read(tx);
        return Ok(0);
    };
    // Waits for a sequencer at work, so the cut is recorded after its positions.
    sqlx::query!(
        "SELECT last_position FROM event_sequences WHERE federation_id = $1 FOR UPDATE",
        federation.as_uuid()
    )
    .fetch_optional(&mut *tx)
    .await?;
    let pruned = sqlx::query!(
        "DELETE FROM events WHERE federation_id = $1 AND position <= $2",
        federation.as_uuid(),
        through
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query!(
        "UPDATE event_sequences SET pruned_through = greatest(pruned_through, $2)
         WHERE federation_id = $1",
        federation.as_uuid(),
        through
    )
    .execute(&mut *tx)
    .await?;
    commit(tx).await?;
    Ok(pruned)
}

/// One event of the feed.
#[derive(Clone, Debug)]
pub struct EventRow {
    pub id: Uuid,
    pub position: i64,
    pub event_type: String,
    pub resource_type: String,
    pub resource_id: Uuid,
    pub practice_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    pub sequenced_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

/// A page of the feed, and where the feed stands.
pub struct FeedPage {
    pub events: Vec<EventRow>,
    /// The last position given out; the feed holds nothing after it yet.
    pub last_position: i64,
    /// Events up to this position have been pruned.
    pub pruned_through: i64,
}

/// The events after `after` that `visibility` lets the caller see, in position order: at most
/// `limit`, of `types` only when some are given.
pub async fn read(
    pool: &PgPool,
    scope: TenantScope,
    federation: FederationId,
    visibility: &Visibility,
    types: &[String],
    after: FeedCursor,
    limit: u32,
) -> Result<FeedPage, StoreError> {
    let mut tx = begin_read(pool, scope).await?;
    // Read before the events: the events' statement, taking its snapshot later, sees every
    // event up to this position, so a reader may be sent on to it (`FeedCursor::next`).
    let feed = feed_state(&mut tx, federation).await?;
    let (resource_types, federation_wide) = type_names(visibility);
    let events = sqlx::query_as!(
        EventRow,
        r#"SELECT id, position AS "position!", type AS event_type, resource_type, resource_id,
                  practice_id, occurred_at, sequenced_at AS "sequenced_at!", data
           FROM events
           WHERE federation_id = $1 AND position > $2
             AND resource_type = ANY ($3::text[])
             AND (resource_type = ANY ($4::text[])
                  OR practice_id = $5 OR organisation_id = $6)
             AND (cardinality($7::text[]) = 0 OR type = ANY ($7::text[]))
           ORDER BY position
           LIMIT $8"#,
        federation.as_uuid(),
        after.position(),
        &resource_types,
        &federation_wide,
        visibility.practice.map(|p| p.as_uuid()),
        visibility.organisation.map(|o| o.as_uuid()),
        types,
        i64::from(limit)
    )
    .fetch_all(&mut *tx)
    .await?;
    end_read(tx);
    Ok(FeedPage {
        events,
        last_position: feed.last_position,
        pruned_through: feed.pruned_through,
    })
}

/// The names of the resource types a reader sees at all, and of those it sees across the
/// federation, as the queries take them.
fn type_names(visibility: &Visibility) -> (Vec<String>, Vec<String>) {
    let names = |types: &[waymark_domain::events::ResourceType]| {
        types.iter().map(|r| r.as_str().to_owned()).collect()
    };
    (
        names(&visibility.resource_types),
        names(&visibility.federation_wide),
    )
}

/// Where a federation's feed stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedState {
    /// The last position given out.
    pub last_position: i64,
    /// Events up to this position have been pruned.
    pub pruned_through: i64,
}

pub async fn feed_state(
    conn: &mut PgConnection,
    federation: FederationId,
) -> Result<FeedState, StoreError> {
    Ok(sqlx::query_as!(
        FeedState,
        "SELECT last_position, pruned_through FROM event_sequences WHERE federation_id = $1",
        federation.as_uuid()
    )
    .fetch_optional(conn)
    .await?
    .unwrap_or_default())
}

/// Every event after `after`, up to `through`, that `visibility` lets the caller see (of
/// `types` only, when some are given), in position order, as the database sends them.
pub fn export<'c>(
    conn: &'c mut PgConnection,
    federation: FederationId,
    visibility: &Visibility,
    types: &[String],
    after: FeedCursor,
    through: i64,
) -> BoxStream<'c, Result<EventRow, StoreError>> {
    let (resource_types, federation_wide) = type_names(visibility);
    sqlx::query_as!(
        EventRow,
        r#"SELECT id, position AS "position!", type AS event_type, resource_type, resource_id,
                  practice_id, occurred_at, sequenced_at AS "sequenced_at!", data
           FROM events
           WHERE federation_id = $1 AND position > $2 AND position <= $3
             AND resource_type = ANY ($4::text[])
             AND (resource_type = ANY ($5::text[])
                  OR practice_id = $6 OR organisation_id = $7)
             AND (cardinality($8::text[]) = 0 OR type = ANY ($8::text[]))
           ORDER BY position"#,
        federation.as_uuid(),
        after.position(),
        through,
        &resource_types,
        &federation_wide,
        visibility.practice.map(|p| p.as_uuid()),
        visibility.organisation.map(|o| o.as_uuid()),
        types,
    )
    .fetch(conn)
    .map(|row| row.map_err(StoreError::from))
    .boxed()
}

/// Federations with events to sequence or prune: every one.
pub async fn federations(pool: &PgPool) -> Result<Vec<FederationId>, StoreError> {
    crate::stats::compaction::federations(pool).await
}

/// Sequences every federation's events every `interval`, and prunes those older than
/// `retention` once a minute, for as long as the runtime runs.
pub fn spawn(
    pool: PgPool,
    interval: std::time::Duration,
    retention: chrono::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_pruned: Option<std::time::Instant> = None;
        loop {
            ticks.tick().await;
            let prune_now = last_pruned.is_none_or(|at| at.elapsed().as_secs() >= 60);
            if let Err(error) = round(&pool, prune_now.then_some(retention)).await {
                match error {
                    StoreError::Unavailable(_) => {
                        tracing::debug!(%error, "event sequencing skipped")
                    }
                    _ => tracing::warn!(%error, "event sequencing failed"),
                }
            } else if prune_now {
                last_pruned = Some(std::time::Instant::now());
            }
        }
    })
}

async fn round(pool: &PgPool, retention: Option<chrono::Duration>) -> Result<(), StoreError> {
    for federation in federations(pool).await? {
        if let Sequenced::Events(n) = sequence(pool, federation).await? {
            if n > 0 {
                tracing::debug!(%federation, events = n, "events sequenced");
            }
        }
        if let Some(retention) = retention {
            let pruned = prune(pool, federation, Utc::now() - retention).await?;
            if pruned > 0 {
                tracing::info!(%federation, events = pruned, "events past retention pruned");
            }
        }
    }
    Ok(())
}
