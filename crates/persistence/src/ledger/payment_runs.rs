//! Payment runs: every provider's approved charges up to a cut-off date, settled in one
//! transaction (provider payable → paid out) with a remittance per provider.

use super::accounts::{self, PostError, TransferContext};
use crate::error::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::ledger::{AccountKind, Pence, Transfer, TransferKind};
use waymark_domain::{FederationId, OrganisationId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRunRecord {
    pub id: Uuid,
    pub cut_off: NaiveDate,
    pub total_pence: i64,
    pub charge_count: i32,
    pub provider_count: i32,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemittanceRecord {
    pub id: Uuid,
    pub payment_run_id: Uuid,
    pub organisation_id: Uuid,
    pub organisation_name: String,
    pub transfer_id: Uuid,
    pub amount_pence: i64,
    pub charge_count: i32,
    pub created_at: DateTime<Utc>,
}

/// Settles every approved charge delivered on or before `cut_off`. Runs of one federation take
/// turns (the paid-out account is locked first), and each charge is locked and then marked paid,
/// so two runs can never pay the same charge.
pub async fn run(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
    cut_off: NaiveDate,
    by: Uuid,
) -> Result<PaymentRunRecord, PostError> {
    let paid_out = accounts::account_id(conn, federation, AccountKind::PaidOut, None).await?;
    sqlx::query!(
        "SELECT id FROM ledger_accounts WHERE id = $1 FOR UPDATE",
        paid_out
    )
    .fetch_one(&mut *conn)
    .await?;
    let due = sqlx::query!(
        r#"SELECT id, organisation_id, amount_pence FROM charges
           WHERE federation_id = $1 AND status = 'approved' AND delivered_on <= $2
           ORDER BY organisation_id, id FOR UPDATE"#,
        federation.as_uuid(),
        cut_off,
    )
    .fetch_all(&mut *conn)
    .await?;
    let overflow = || StoreError::Database(sqlx::Error::Protocol("payment overflows".into()));
    let total = due
        .iter()
        .try_fold(Pence::ZERO, |sum, c| sum.checked_add(Pence(c.amount_pence)))
        .ok_or_else(overflow)?;
    let providers = due
        .windows(2)
        .filter(|pair| pair[0].organisation_id != pair[1].organisation_id)
        .count()
        + usize::from(!due.is_empty());
    // The run is recorded whole before it pays, since its remittances refer to it.
    let run = sqlx::query_as!(
        PaymentRunRecord,
        r#"INSERT INTO payment_runs (federation_id, id, cut_off, total_pence, charge_count,
               provider_count, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING id, cut_off, total_pence, charge_count, provider_count, created_by, created_at"#,
        federation.as_uuid(),
        id,
        cut_off,
        total.0,
        i32::try_from(due.len()).unwrap_or(i32::MAX),
        i32::try_from(providers).unwrap_or(i32::MAX),
        by,
    )
    .fetch_one(&mut *conn)
    .await?;

    let mut start = 0;
    while start < due.len() {
        let organisation = due[start].organisation_id;
        let end = due[start..]
            .iter()
            .position(|c| c.organisation_id != organisation)
            .map_or(due.len(), |n| start + n);
        let charges: Vec<Uuid> = due[start..end].iter().map(|c| c.id).collect();
        let amount = due[start..end]
            .iter()
            .try_fold(Pence::ZERO, |sum, c| sum.checked_add(Pence(c.amount_pence)))
            .ok_or_else(overflow)?;
        let payable = accounts::account_id(
            conn,
            federation,
            AccountKind::Payable,
            Some(OrganisationId::from(organisation)),
        )
        .await?;
        let transfer = Transfer::simple(TransferKind::Payment, payable, paid_out, amount)
            .map_err(|e| StoreError::Database(sqlx::Error::Protocol(e.to_string())))?;
        let transfer_id = accounts::post(
            conn,
            federation,
            &transfer,
            TransferContext {
                payment_run: Some(id),
                description: Some("payment run"),
                by,
                ..TransferContext::default()
            },
            false,
        )
        .await?;
        let remittance = Uuid::now_v7();
        sqlx::query!(
            r#"INSERT INTO remittances (federation_id, id, payment_run_id, organisation_id,
                   transfer_id, amount_pence, charge_count)
               VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
            federation.as_uuid(),
            remittance,
            id,
            organisation,
            transfer_id,
            amount.0,
            i32::try_from(charges.len()).unwrap_or(i32::MAX),
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            r#"UPDATE charges SET status = 'paid', remittance_id = $2, version = version + 1,
                   updated_at = now()
               WHERE federation_id = $1 AND id = ANY($3) AND status = 'approved'"#,
            federation.as_uuid(),
            remittance,
            &charges,
        )
        .execute(&mut *conn)
        .await?;
        start = end;
    }
    Ok(run)
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
) -> Result<PaymentRunRecord, StoreError> {
    sqlx::query_as!(
        PaymentRunRecord,
        r#"SELECT id, cut_off, total_pence, charge_count, provider_count, created_by, created_at
           FROM payment_runs WHERE federation_id = $1 AND id = $2"#,
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
    before: Option<Uuid>,
    probe: i64,
) -> Result<Vec<PaymentRunRecord>, StoreError> {
    Ok(sqlx::query_as!(
        PaymentRunRecord,
        r#"SELECT id, cut_off, total_pence, charge_count, provider_count, created_by, created_at
           FROM payment_runs WHERE federation_id = $1 AND ($2::uuid IS NULL OR id < $2)
           ORDER BY id DESC LIMIT $3"#,
        federation.as_uuid(),
        before,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// Remittances of a run, or one organisation's (all runs), newest first.
pub async fn remittances(
    conn: &mut PgConnection,
    federation: FederationId,
    run: Option<Uuid>,
    organisation: Option<Uuid>,
) -> Result<Vec<RemittanceRecord>, StoreError> {
    Ok(sqlx::query_as!(
        RemittanceRecord,
        r#"SELECT r.id, r.payment_run_id, r.organisation_id, o.name AS organisation_name,
                  r.transfer_id, r.amount_pence, r.charge_count, r.created_at
           FROM remittances r JOIN organisations o ON o.id = r.organisation_id
           WHERE r.federation_id = $1
             AND ($2::uuid IS NULL OR r.payment_run_id = $2)
             AND ($3::uuid IS NULL OR r.organisation_id = $3)
           ORDER BY r.id DESC"#,
        federation.as_uuid(),
        run,
        organisation,
    )
    .fetch_all(conn)
    .await?)
}

pub async fn remittance(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
) -> Result<RemittanceRecord, StoreError> {
    sqlx::query_as!(
        RemittanceRecord,
        r#"SELECT r.id, r.payment_run_id, r.organisation_id, o.name AS organisation_name,
                  r.transfer_id, r.amount_pence, r.charge_count, r.created_at
           FROM remittances r JOIN organisations o ON o.id = r.organisation_id
           WHERE r.federation_id = $1 AND r.id = $2"#,
        federation.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}
