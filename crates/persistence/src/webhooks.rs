//! Webhook endpoints, the deliveries owed to them and the attempts made at each (see the
//! webhooks migration). Endpoints are managed by the API; deliveries are made from the change
//! feed by [`enqueue`] and attempted by whichever instance takes them with [`take_due`].

use crate::error::StoreError;
use crate::events::{feed_state, EventRow};
use crate::tenant::{begin_webhook_dispatch, commit, end_read, Tx};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;
use waymark_domain::FederationId;

/// Events read from the feed at once for one endpoint.
const ENQUEUE_BATCH: i64 = 500;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRecord {
    pub id: Uuid,
    pub federation_id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub secret: String,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub enqueued_through: i64,
    pub created_by: Uuid,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new endpoint.
pub struct NewEndpoint<'a> {
    pub id: Uuid,
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub event_types: &'a [String],
    pub secret: &'a str,
    pub created_by: Uuid,
}

/// Registers an endpoint, which receives the events sequenced from now on.
pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    new: NewEndpoint<'_>,
) -> Result<EndpointRecord, StoreError> {
    let from = feed_state(conn, federation).await?.last_position;
    Ok(sqlx::query_as!(
        EndpointRecord,
        r#"INSERT INTO webhook_endpoints (federation_id, id, url, description, event_types, secret,
               enqueued_through, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id, federation_id, url, description, event_types, secret,
                     previous_secret_expires_at, enabled, disabled_reason, disabled_at,
                     enqueued_through, created_by, version, created_at, updated_at"#,
        federation.as_uuid(),
        new.id,
        new.url,
        new.description,
        new.event_types,
        new.secret,
        from,
        new.created_by,
    )
    .fetch_one(conn)
    .await?)
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
) -> Result<EndpointRecord, StoreError> {
    sqlx::query_as!(
        EndpointRecord,
        r#"SELECT id, federation_id, url, description, event_types, secret,
                  previous_secret_expires_at, enabled, disabled_reason, disabled_at,
                  enqueued_through, created_by, version, created_at, updated_at
           FROM webhook_endpoints WHERE federation_id = $1 AND id = $2"#,
        federation.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Locks an endpoint for a change.
pub async fn lock(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
) -> Result<EndpointRecord, StoreError> {
    sqlx::query_as!(
        EndpointRecord,
        r#"SELECT id, federation_id, url, description, event_types, secret,
                  previous_secret_expires_at, enabled, disabled_reason, disabled_at,
                  enqueued_through, created_by, version, created_at, updated_at
           FROM webhook_endpoints WHERE federation_id = $1 AND id = $2 FOR UPDATE"#,
        federation.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<EndpointRecord>, StoreError> {
    Ok(sqlx::query_as!(
        EndpointRecord,
        r#"SELECT id, federation_id, url, description, event_types, secret,
                  previous_secret_expires_at, enabled, disabled_reason, disabled_at,
                  enqueued_through, created_by, version, created_at, updated_at
           FROM webhook_endpoints
           WHERE federation_id = $1 AND ($2::uuid IS NULL OR id > $2)
           ORDER BY id LIMIT $3"#,
        federation.as_uuid(),
        after,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// An endpoint as it is to be, applied to a locked one.
pub struct EndpointUpdate<'a> {
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub event_types: &'a [String],
    pub enabled: bool,
}

/// Writes `update` over a locked endpoint at `expected_version`. Disabling it (by an
/// administrator) gives up its pending deliveries; enabling it again has it receive the events
/// sequenced from then on.
pub async fn update(
    conn: &mut PgConnection,
    federation: FederationId,
    current: &EndpointRecord,
    expected_version: i32,
    update: EndpointUpdate<'_>,
) -> Result<EndpointRecord, StoreError> {
    if current.version != expected_version {
        return Err(StoreError::VersionMismatch {
            current_version: current.version,
        });
    }
    let now = Utc::now();
    let disabling = current.enabled && !update.enabled;
    let enabling = !current.enabled && update.enabled;
    let from = if enabling {
        feed_state(conn, federation).await?.last_position
    } else {
        current.enqueued_through
    };
    let record = sqlx::query_as!(
        EndpointRecord,
        r#"UPDATE webhook_endpoints
           SET url = $3, description = $4, event_types = $5, enabled = $6,
               disabled_reason = CASE WHEN $6 THEN NULL
                                      WHEN enabled THEN 'administrator' ELSE disabled_reason END,
               disabled_at = CASE WHEN $6 THEN NULL WHEN enabled THEN $7 ELSE disabled_at END,
               enqueued_through = $8, version = version + 1, updated_at = $7
           WHERE federation_id = $1 AND id = $2
           RETURNING id, federation_id, url, description, event_types, secret,
                     previous_secret_expires_at, enabled, disabled_reason, disabled_at,
                     enqueued_through, created_by, version, created_at, updated_at"#,
        federation.as_uuid(),
        current.id,
        update.url,
        update.description,
        update.event_types,
        update.enabled,
        now,
        from,
    )
    .fetch_one(&mut *conn)
    .await?;
    if disabling {
        give_up_pending(conn, federation, current.id, now).await?;
    }
    Ok(record)
}

/// Makes `secret` the endpoint's, keeping the one it replaces (which signs beside it) until
/// `previous_expires_at`; none: the old one stops now.
pub async fn rotate_secret(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
    secret: &str,
    previous_expires_at: Option<DateTime<Utc>>,
) -> Result<EndpointRecord, StoreError> {
    sqlx::query_as!(
        EndpointRecord,
        r#"UPDATE webhook_endpoints
           SET previous_secret = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE secret END,
               previous_secret_expires_at = $4, secret = $3, version = version + 1,
               updated_at = $5
           WHERE federation_id = $1 AND id = $2
           RETURNING id, federation_id, url, description, event_types, secret,
                     previous_secret_expires_at, enabled, disabled_reason, disabled_at,
                     enqueued_through, created_by, version, created_at, updated_at"#,
        federation.as_uuid(),
        id,
        secret,
        previous_expires_at,
        Utc::now(),
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Removes an endpoint with its deliveries and their attempts.
pub async fn delete(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
) -> Result<(), StoreError> {
    let deleted = sqlx::query!(
        "DELETE FROM webhook_endpoints WHERE federation_id = $1 AND id = $2",
        federation.as_uuid(),
        id,
    )
    .execute(conn)
    .await?
    .rows_affected();
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// One attempt at a delivery, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub outcome: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// The endpoint's attempts, newest first.
pub async fn attempts(
    conn: &mut PgConnection,
    federation: FederationId,
    endpoint: Uuid,
    before: Option<Uuid>,
    probe: i64,
) -> Result<Vec<AttemptRecord>, StoreError> {
    Ok(sqlx::query_as!(
        AttemptRecord,
        r#"SELECT a.id, a.event_id, d.event_type, a.attempt, a.attempted_at, a.duration_ms,
                  a.response_status, a.error, a.outcome, a.next_attempt_at
           FROM webhook_attempts a
           JOIN webhook_deliveries d ON d.federation_id = a.federation_id
                AND d.endpoint_id = a.endpoint_id AND d.event_id = a.event_id
           WHERE a.federation_id = $1 AND a.endpoint_id = $2
             AND ($3::uuid IS NULL OR a.id < $3)
           ORDER BY a.id DESC LIMIT $4"#,
        federation.as_uuid(),
        endpoint,
        before,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// Makes the deliveries owed to the federation's enabled endpoints for the events sequenced
/// since each last had its deliveries made, each delivery's body rendered by `render`. An
/// endpoint another instance is serving is skipped (SKIP LOCKED); the deliveries and how far
/// they reach commit together, so each event is owed to each endpoint once.
pub async fn enqueue(
    pool: &PgPool,
    federation: FederationId,
    render: &(dyn Fn(&EventRow) -> String + Sync),
) -> Result<Enqueued, StoreError> {
    let mut tx = begin_webhook_dispatch(pool, federation).await?;
    let end = feed_state(&mut tx, federation).await?.last_position;
    let endpoints = sqlx::query!(
        "SELECT id, event_types, enqueued_through FROM webhook_endpoints
         WHERE federation_id = $1 AND enabled
         ORDER BY id FOR UPDATE SKIP LOCKED",
        federation.as_uuid(),
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut enqueued = Enqueued {
        endpoints: endpoints.len(),
        deliveries: 0,
    };
    let behind: Vec<_> = endpoints
        .into_iter()
        .filter(|e| e.enqueued_through < end)
        .collect();
    if behind.is_empty() {
        end_read(tx);
        return Ok(enqueued);
    }
    let now = Utc::now();
    for endpoint in behind {
        let mut through = endpoint.enqueued_through;
        loop {
            let events = sqlx::query_as!(
                EventRow,
                r#"SELECT id, position AS "position!", type AS event_type, resource_type,
                          resource_id, practice_id, occurred_at, sequenced_at AS "sequenced_at!",
                          data
                   FROM events
                   WHERE federation_id = $1 AND position > $2 AND position <= $3
                     AND type = ANY ($4::text[])
                   ORDER BY position LIMIT $5"#,
                federation.as_uuid(),
                through,
                end,
                &endpoint.event_types,
                ENQUEUE_BATCH,
            )
            .fetch_all(&mut *tx)
            .await?;
            for events in events.chunks(crate::rows::PER_STATEMENT) {
                let mut insert = QueryBuilder::<Postgres>::new(
                    "INSERT INTO webhook_deliveries (federation_id, endpoint_id, event_id, \
                     event_position, event_type, payload, next_attempt_at, created_at) ",
                );
                insert.push_values(events, |mut row, event| {
                    row.push_bind(federation.as_uuid())
                        .push_bind(endpoint.id)
                        .push_bind(event.id)
                        .push_bind(event.position)
                        .push_bind(&event.event_type)
                        .push_bind(render(event))
                        .push_bind(now)
                        .push_bind(now);
                });
                insert.push(" ON CONFLICT DO NOTHING");
                enqueued.deliveries += insert.build().execute(&mut *tx).await?.rows_affected();
            }
            match events.last() {
                Some(last) if events.len() as i64 == ENQUEUE_BATCH => through = last.position,
                _ => {
                    through = end;
                    break;
                }
            }
        }
        sqlx::query!(
            "UPDATE webhook_endpoints SET enqueued_through = $3 WHERE federation_id = $1 AND id = $2",
            federation.as_uuid(),
            endpoint.id,
            through,
        )
        .execute(&mut *tx)
        .await?;
    }
    commit(tx).await?;
    Ok(enqueued)
}

/// What [`enqueue`] found and made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enqueued {
    /// Enabled endpoints it served (none: nothing can be due either).
    pub endpoints: usize,
    pub deliveries: u64,
}

/// A delivery whose attempt is due, with what it needs to be made.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub url: String,
    pub secret: String,
    /// The secret before a rotation, while its grace period lasts.
    pub previous_secret: Option<String>,
}

/// The federation's deliveries due now (at most `limit`, oldest due first), each locked for
/// this transaction: another instance skips them, so no attempt is made twice. The caller
/// makes the attempts, records them with [`record_attempt`] and commits; should it stop
/// without committing, the deliveries are due again as they were.
pub async fn take_due(
    pool: &PgPool,
    federation: FederationId,
    limit: i64,
) -> Result<(Tx, Vec<DueDelivery>), StoreError> {
    let mut tx = begin_webhook_dispatch(pool, federation).await?;
    let due = sqlx::query_as!(
        DueDelivery,
        r#"SELECT d.endpoint_id, d.event_id, d.payload, d.attempts, d.created_at, w.url, w.secret,
                  CASE WHEN w.previous_secret_expires_at > $3 THEN w.previous_secret END
                      AS previous_secret
           FROM webhook_deliveries d
           JOIN webhook_endpoints w ON w.federation_id = d.federation_id AND w.id = d.endpoint_id
           WHERE d.federation_id = $1 AND d.state = 'pending' AND d.next_attempt_at <= $3
             AND w.enabled
           ORDER BY d.next_attempt_at
           LIMIT $2
           FOR UPDATE OF d SKIP LOCKED"#,
        federation.as_uuid(),
        limit,
        Utc::now(),
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok((tx, due))
}

/// An attempt made, and what follows from it.
pub struct AttemptMade<'a> {
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    /// This attempt's number, from 1.
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub response_status: Option<i32>,
    pub error: Option<&'a str>,
    /// `delivered`, `failed` or `gone`.
    pub outcome: &'a str,
    /// When to try again; none ends the delivery (delivered, gone, or given up).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Records an attempt at a delivery taken with [`take_due`], in its transaction: the attempt,
/// the delivery's state, and for a `gone` answer the endpoint disabled with everything else it
/// was owed given up.
pub async fn record_attempt(
    tx: &mut Tx,
    federation: FederationId,
    made: &AttemptMade<'_>,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"INSERT INTO webhook_attempts (federation_id, endpoint_id, id, event_id, attempt,
               attempted_at, duration_ms, response_status, error, outcome, next_attempt_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"#,
        federation.as_uuid(),
        made.endpoint_id,
        Uuid::now_v7(),
        made.event_id,
        made.attempt,
        made.attempted_at,
        made.duration_ms,
        made.response_status,
        made.error,
        made.outcome,
        made.next_attempt_at,
    )
    .execute(&mut **tx)
    .await?;
    let state = match (made.outcome, made.next_attempt_at) {
        ("delivered", _) => "delivered",
        (_, Some(_)) => "pending",
        _ => "failed",
    };
    let finished_at = made.next_attempt_at.is_none().then_some(made.attempted_at);
    sqlx::query!(
        r#"UPDATE webhook_deliveries
           SET attempts = $4, state = $5, next_attempt_at = $6, finished_at = $7
           WHERE federation_id = $1 AND endpoint_id = $2 AND event_id = $3"#,
        federation.as_uuid(),
        made.endpoint_id,
        made.event_id,
        made.attempt,
        state,
        made.next_attempt_at,
        finished_at,
    )
    .execute(&mut **tx)
    .await?;
    if made.outcome == "gone" {
        let disabled = sqlx::query!(
            r#"UPDATE webhook_endpoints
               SET enabled = false, disabled_reason = 'gone', disabled_at = $3,
                   version = version + 1, updated_at = $3
               WHERE federation_id = $1 AND id = $2 AND enabled"#,
            federation.as_uuid(),
            made.endpoint_id,
            made.attempted_at,
        )
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if disabled > 0 {
            give_up_pending(tx, federation, made.endpoint_id, made.attempted_at).await?;
        }
    }
    Ok(())
}

/// Ends the pending deliveries of a disabled endpoint, but those an instance is attempting this
/// moment (their rows locked by it): waiting for them could deadlock with that instance, which
/// may be about to disable the endpoint itself. Those end with their attempts, or when finished
/// deliveries are next forgotten ([`forget_finished`]).
async fn give_up_pending(
    conn: &mut PgConnection,
    federation: FederationId,
    endpoint: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"UPDATE webhook_deliveries SET state = 'failed', next_attempt_at = NULL, finished_at = $3
           WHERE federation_id = $1 AND endpoint_id = $2 AND state = 'pending'
             AND event_id IN (SELECT event_id FROM webhook_deliveries
                              WHERE federation_id = $1 AND endpoint_id = $2 AND state = 'pending'
                              FOR UPDATE SKIP LOCKED)"#,
        federation.as_uuid(),
        endpoint,
        at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives up what disabled endpoints are still owed, and forgets deliveries (and their
/// attempts) that ended before `before`.
pub async fn forget_finished(
    pool: &PgPool,
    federation: FederationId,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut tx = begin_webhook_dispatch(pool, federation).await?;
    sqlx::query!(
        r#"UPDATE webhook_deliveries d
           SET state = 'failed', next_attempt_at = NULL, finished_at = $2
           FROM webhook_endpoints w
           WHERE d.federation_id = $1 AND w.federation_id = $1 AND w.id = d.endpoint_id
             AND NOT w.enabled AND d.state = 'pending'"#,
        federation.as_uuid(),
        Utc::now(),
    )
    .execute(&mut *tx)
    .await?;
    let forgotten = sqlx::query!(
        "DELETE FROM webhook_deliveries
         WHERE federation_id = $1 AND state <> 'pending' AND finished_at < $2",
        federation.as_uuid(),
        before,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    commit(tx).await?;
    Ok(forgotten)
}
