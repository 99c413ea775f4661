//! Clawbacks of paid charges: raised by a federation administrator (provider recoverable →
//! fund), then recovered by netting them off the provider's next payments (`payment_runs`).

use super::accounts::{self, PostError, Posting};
use super::charges;
use crate::error::StoreError;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::ledger::clawback::{self, ClawbackRefused};
use waymark_domain::ledger::payment::OwedClawback;
use waymark_domain::ledger::{AccountKind, ChargeStatus, Pence, Transfer, TransferKind};
use waymark_domain::{FederationId, OrganisationId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClawbackRecord {
    pub id: Uuid,
    pub charge_id: Uuid,
    pub organisation_id: Uuid,
    pub amount_pence: i64,
    /// How much of it payment runs have recovered so far.
    pub recovered_pence: i64,
    pub reason: String,
    pub transfer_id: Uuid,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClawbackError {
    #[error("the charge is {0}; only a paid charge is clawed back (an approved one is reversed)")]
    NotPaid(ChargeStatus),
    #[error(transparent)]
    Refused(#[from] ClawbackRefused),
    #[error(transparent)]
    Post(#[from] PostError),
}

impl From<sqlx::Error> for ClawbackError {
    fn from(e: sqlx::Error) -> Self {
        ClawbackError::Post(PostError::Store(e.into()))
    }
}

impl From<StoreError> for ClawbackError {
    fn from(e: StoreError) -> Self {
        ClawbackError::Post(PostError::Store(e))
    }
}

/// Claws back `requested` pence of the paid charge `charge` (all that is left of it when
/// `None`), in the caller's transaction: the charge is locked, so two clawbacks of one charge
/// take turns and never add up to more than it.
pub async fn raise(
    conn: &mut PgConnection,
    federation: FederationId,
    charge: Uuid,
    requested: Option<Pence>,
    reason: &str,
    by: Uuid,
) -> Result<ClawbackRecord, ClawbackError> {
    let locked = charges::lock(conn, federation, &[charge]).await?;
    let charge = locked.into_iter().next().ok_or(StoreError::NotFound)?;
    if charge.status != ChargeStatus::Paid {
        return Err(ClawbackError::NotPaid(charge.status));
    }
    let already = sqlx::query_scalar!(
        r#"SELECT coalesce(sum(amount_pence), 0)::bigint AS "already!" FROM clawbacks
           WHERE federation_id = $1 AND charge_id = $2"#,
        federation.as_uuid(),
        charge.id,
    )
    .fetch_one(&mut *conn)
    .await?;
    let amount = clawback::amount(charge.amount(), Pence(already), requested)?;
    let recoverable = accounts::account_id(
        conn,
        federation,
        AccountKind::Recoverable,
        Some(OrganisationId::from(charge.organisation_id)),
    )
    .await?;
    let fund = accounts::account_id(conn, federation, AccountKind::Fund, None).await?;
    let transfer = Transfer::simple(TransferKind::Clawback, recoverable, fund, amount)
        .map_err(|e| StoreError::Database(sqlx::Error::Protocol(e.to_string())))?;
    let posting = Posting {
        charge: Some(charge.id),
        description: Some(reason),
        ..Posting::new(transfer)
    };
    let id = Uuid::now_v7();
    sqlx::query!(
        r#"INSERT INTO clawbacks (federation_id, id, charge_id, organisation_id, amount_pence,
                                  reason, transfer_id, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        federation.as_uuid(),
        id,
        charge.id,
        charge.organisation_id,
        amount.0,
        reason,
        posting.id,
        by,
    )
    .execute(&mut *conn)
    .await?;
    // A recoverable account may owe without limit and the fund is only credited, so nothing
    // here can be refused for want of funds.
    accounts::post(conn, federation, &posting, by, false).await?;
    Ok(find(conn, federation, id).await?)
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
) -> Result<ClawbackRecord, StoreError> {
    sqlx::query_as!(
        ClawbackRecord,
        r#"SELECT c.id, c.charge_id, c.organisation_id, c.amount_pence,
                  coalesce((SELECT sum(r.amount_pence) FROM clawback_recoveries r
                            WHERE r.federation_id = $1 AND r.clawback_id = c.id), 0)::bigint AS "recovered_pence!",
                  c.reason, c.transfer_id, c.created_by, c.created_at
           FROM clawbacks c WHERE c.federation_id = $1 AND c.id = $2"#,
        federation.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// A page of clawbacks, oldest first: one organisation's, one charge's, or only those not yet
/// wholly recovered, as asked.
pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    organisation: Option<Uuid>,
    charge: Option<Uuid>,
    outstanding_only: bool,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<ClawbackRecord>, StoreError> {
    Ok(sqlx::query_as!(
        ClawbackRecord,
        r#"SELECT c.id, c.charge_id, c.organisation_id, c.amount_pence,
                  coalesce(r.recovered, 0)::bigint AS "recovered_pence!",
                  c.reason, c.transfer_id, c.created_by, c.created_at
           FROM clawbacks c
           LEFT JOIN LATERAL (SELECT sum(amount_pence) AS recovered FROM clawback_recoveries
                              WHERE federation_id = $1 AND clawback_id = c.id) r ON true
           WHERE c.federation_id = $1
             AND ($2::uuid IS NULL OR c.organisation_id = $2)
             AND ($3::uuid IS NULL OR c.charge_id = $3)
             AND (NOT $4 OR coalesce(r.recovered, 0) < c.amount_pence)
             AND ($5::uuid IS NULL OR c.id > $5)
           ORDER BY c.id LIMIT $6"#,
        federation.as_uuid(),
        organisation,
        charge,
        outstanding_only,
        after,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// Every clawback of the federation with something still to recover, and how much.
pub async fn owed(
    conn: &mut PgConnection,
    federation: FederationId,
) -> Result<Vec<OwedClawback>, StoreError> {
    Ok(sqlx::query!(
        r#"SELECT c.id, c.organisation_id,
                  (c.amount_pence - coalesce(sum(r.amount_pence), 0))::bigint AS "owed!"
           FROM clawbacks c
           LEFT JOIN clawback_recoveries r ON r.federation_id = c.federation_id AND r.clawback_id = c.id
           WHERE c.federation_id = $1
           GROUP BY c.federation_id, c.id
           HAVING c.amount_pence > coalesce(sum(r.amount_pence), 0)
           ORDER BY c.id"#,
        federation.as_uuid(),
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| OwedClawback {
        clawback: r.id,
        organisation: r.organisation_id,
        owed: Pence(r.owed),
    })
    .collect())
}

/// What a remittance recovered, clawback by clawback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    pub clawback_id: Uuid,
    pub charge_id: Uuid,
    pub amount_pence: i64,
}

pub async fn recovered_by(
    conn: &mut PgConnection,
    federation: FederationId,
    remittance: Uuid,
) -> Result<Vec<Recovery>, StoreError> {
    Ok(sqlx::query_as!(
        Recovery,
        r#"SELECT r.clawback_id, c.charge_id, r.amount_pence
           FROM clawback_recoveries r JOIN clawbacks c ON c.id = r.clawback_id
           WHERE r.federation_id = $1 AND r.remittance_id = $2
           ORDER BY r.clawback_id"#,
        federation.as_uuid(),
        remittance,
    )
    .fetch_all(conn)
    .await?)
}
