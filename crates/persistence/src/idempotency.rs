//! `Idempotency-Key`: the first request with a key makes a resource; a retry with the same key
//! and body finds that resource instead of making another, and the same key with another body
//! is refused. Only the resource's id is stored.

use crate::error::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::FederationId;

/// What a key was first used for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotentRequest<'a> {
    pub principal: Uuid,
    pub key: &'a str,
    /// The kind of request, e.g. `create_referral`: a key serves one kind only.
    pub operation: &'static str,
    /// A digest of the request: its path and body.
    pub request_hash: &'a str,
}

/// The outcome of claiming a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is new: it now names `resource`, which the caller must create in this
    /// transaction.
    Fresh,
    /// The key was used before for this same request: this is the resource it made, and the
    /// response it was answered with, when one was kept.
    Replay {
        resource: Uuid,
        response: Option<(u16, serde_json::Value)>,
    },
    /// The key was used before for a different request.
    Mismatch,
}

/// Claims `request.key` for `resource`. A concurrent request with the same key waits for this
/// transaction and then sees it as a replay, so two retries never both create.
pub async fn claim(
    conn: &mut PgConnection,
    federation: FederationId,
    request: &IdempotentRequest<'_>,
    practice: Option<Uuid>,
    resource: Uuid,
) -> Result<Claim, StoreError> {
    let inserted = sqlx::query!(
        r#"INSERT INTO idempotency_keys
               (federation_id, principal_id, key, operation, request_hash, practice_id, resource_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (federation_id, principal_id, key) DO NOTHING"#,
        federation.as_uuid(),
        request.principal,
        request.key,
        request.operation,
        request.request_hash,
        practice,
        resource,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    let first = sqlx::query!(
        r#"SELECT operation, request_hash, resource_id, response_status, response_body
           FROM idempotency_keys
           WHERE federation_id = $1 AND principal_id = $2 AND key = $3"#,
        federation.as_uuid(),
        request.principal,
        request.key,
    )
    .fetch_one(conn)
    .await?;
    if first.operation == request.operation && first.request_hash == request.request_hash {
        Ok(Claim::Replay {
            resource: first.resource_id,
            response: first
                .response_status
                .zip(first.response_body)
                .map(|(status, body)| (u16::try_from(status).unwrap_or(200), body)),
        })
    } else {
        Ok(Claim::Mismatch)
    }
}

/// Keeps the response a claimed key was answered with, so a retry gets the same one.
pub async fn complete(
    conn: &mut PgConnection,
    federation: FederationId,
    principal: Uuid,
    key: &str,
    status: u16,
    body: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"UPDATE idempotency_keys SET response_status = $4, response_body = $5
           WHERE federation_id = $1 AND principal_id = $2 AND key = $3"#,
        federation.as_uuid(),
        principal,
        key,
        i16::try_from(status).unwrap_or(200),
        body,
    )
    .execute(conn)
    .await?;
    Ok(())
}
