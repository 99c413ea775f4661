//! Charges: one per activity delivered, priced by the tariff in force on the day, then approved
//! (posted), rejected, reversed or paid.

use crate::error::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::ledger::charge::price;
use waymark_domain::ledger::{ChargeStatus, Pence};
use waymark_domain::{FederationId, PracticeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRecord {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub activity_id: Uuid,
    pub organisation_id: Uuid,
    pub service_id: Uuid,
    pub tariff_id: Uuid,
    pub activity_type: String,
    pub delivered_on: NaiveDate,
    pub quantity: i32,
    pub unit_pence: i64,
    pub amount_pence: i64,
    pub status: ChargeStatus,
    pub approval_transfer_id: Option<Uuid>,
    pub reversal_transfer_id: Option<Uuid>,
    pub remittance_id: Option<Uuid>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A charge as the database returns it.
pub(super) struct ChargeRow {
    pub(super) id: Uuid,
    pub(super) practice_id: Uuid,
    pub(super) activity_id: Uuid,
    pub(super) organisation_id: Uuid,
    pub(super) service_id: Uuid,
    pub(super) tariff_id: Uuid,
    pub(super) activity_type: String,
    pub(super) delivered_on: NaiveDate,
    pub(super) quantity: i32,
    pub(super) unit_pence: i64,
    pub(super) amount_pence: i64,
    pub(super) status: String,
    pub(super) approval_transfer_id: Option<Uuid>,
    pub(super) reversal_transfer_id: Option<Uuid>,
    pub(super) remittance_id: Option<Uuid>,
    pub(super) decided_by: Option<Uuid>,
    pub(super) decided_at: Option<DateTime<Utc>>,
    pub(super) reason: Option<String>,
    pub(super) created_at: DateTime<Utc>,
}

impl TryFrom<ChargeRow> for ChargeRecord {
    type Error = StoreError;

    fn try_from(r: ChargeRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            practice_id: r.practice_id,
            activity_id: r.activity_id,
            organisation_id: r.organisation_id,
            service_id: r.service_id,
            tariff_id: r.tariff_id,
            activity_type: r.activity_type,
            delivered_on: r.delivered_on,
            quantity: r.quantity,
            unit_pence: r.unit_pence,
            amount_pence: r.amount_pence,
            status: r
                .status
                .parse()
                .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?,
            approval_transfer_id: r.approval_transfer_id,
            reversal_transfer_id: r.reversal_transfer_id,
            remittance_id: r.remittance_id,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
            reason: r.reason,
            created_at: r.created_at,
        })
    }
}

impl ChargeRecord {
    pub fn amount(&self) -> Pence {
        Pence(self.amount_pence)
    }
}

/// What is charged: an activity, priced by a tariff.
pub struct NewCharge {
    pub practice: PracticeId,
    pub activity: Uuid,
    pub organisation: Uuid,
    pub service: Uuid,
    pub tariff: Uuid,
    pub activity_type: String,
    pub delivered_on: NaiveDate,
    pub quantity: u32,
    pub unit: Pence,
}

/// Records the pending charge for an activity. The unique activity makes a second charge for it
/// impossible, whatever the retries or concurrency.
pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    charge: &NewCharge,
) -> Result<ChargeRecord, StoreError> {
    let amount = price(charge.unit, charge.quantity).ok_or(StoreError::Database(
        sqlx::Error::Protocol("charge amount overflows".into()),
    ))?;
    sqlx::query_as!(
        ChargeRow,
        r#"INSERT INTO charges (federation_id, id, practice_id, activity_id, organisation_id,
               service_id, tariff_id, activity_type, delivered_on, quantity, unit_pence,
               amount_pence)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           RETURNING id, practice_id, activity_id, organisation_id, service_id, tariff_id,
                     activity_type, delivered_on, quantity, unit_pence, amount_pence, status,
                     approval_transfer_id, reversal_transfer_id, remittance_id, decided_by,
                     decided_at, reason, created_at"#,
        federation.as_uuid(),
        Uuid::now_v7(),
        charge.practice.as_uuid(),
        charge.activity,
        charge.organisation,
        charge.service,
        charge.tariff,
        charge.activity_type,
        charge.delivered_on,
        i32::try_from(charge.quantity).unwrap_or(i32::MAX),
        charge.unit.0,
        amount.0,
    )
    .fetch_one(conn)
    .await
    .map_err(|e| {
        crate::error::on_constraint(
            e,
            &[(
                "charges_one_per_activity",
                StoreError::Duplicate {
                    field: "activity_id",
                },
            )],
        )
    })?
    .try_into()
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
) -> Result<ChargeRecord, StoreError> {
    sqlx::query_as!(
        ChargeRow,
        r#"SELECT id, practice_id, activity_id, organisation_id, service_id, tariff_id,
                  activity_type, delivered_on, quantity, unit_pence, amount_pence, status,
                  approval_transfer_id, reversal_transfer_id, remittance_id, decided_by,
                  decided_at, reason, created_at
           FROM charges WHERE federation_id = $1 AND id = $2"#,
        federation.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// Locks the charges (in id order, so concurrent decisions never deadlock) until the
/// transaction ends; answers those found.
pub async fn lock(
    conn: &mut PgConnection,
    federation: FederationId,
    ids: &[Uuid],
) -> Result<Vec<ChargeRecord>, StoreError> {
    sqlx::query_as!(
        ChargeRow,
        r#"SELECT id, practice_id, activity_id, organisation_id, service_id, tariff_id,
                  activity_type, delivered_on, quantity, unit_pence, amount_pence, status,
                  approval_transfer_id, reversal_transfer_id, remittance_id, decided_by,
                  decided_at, reason, created_at
           FROM charges WHERE federation_id = $1 AND id = ANY($2)
           ORDER BY id FOR UPDATE"#,
        federation.as_uuid(),
        ids,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(ChargeRecord::try_from)
    .collect()
}

/// Filters of the charge list; absent filters match everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChargeFilter {
    pub status: Option<ChargeStatus>,
    pub organisation: Option<Uuid>,
}

pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    filter: ChargeFilter,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<ChargeRecord>, StoreError> {
    sqlx::query_as!(
        ChargeRow,
        r#"SELECT id, practice_id, activity_id, organisation_id, service_id, tariff_id,
                  activity_type, delivered_on, quantity, unit_pence, amount_pence, status,
                  approval_transfer_id, reversal_transfer_id, remittance_id, decided_by,
                  decided_at, reason, created_at
           FROM charges
           WHERE federation_id = $1
             AND ($2::text IS NULL OR status = $2)
             AND ($3::uuid IS NULL OR organisation_id = $3)
             AND ($4::uuid IS NULL OR id > $4)
           ORDER BY id LIMIT $5"#,
        federation.as_uuid(),
        filter.status.map(ChargeStatus::code),
        filter.organisation,
        after,
        probe,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(ChargeRecord::try_from)
    .collect()
}

/// Records a decision the charge state machine allowed on charges locked by [`lock`], with the
/// transfer that moved their money, if any. Answers them by id.
pub async fn decide_all(
    conn: &mut PgConnection,
    federation: FederationId,
    ids: &[Uuid],
    to: ChargeStatus,
    transfer: Option<Uuid>,
    reason: Option<&str>,
    by: Uuid,
) -> Result<Vec<ChargeRecord>, StoreError> {
    let mut decided = sqlx::query_as!(
        ChargeRow,
        r#"UPDATE charges
           SET status = $3,
               approval_transfer_id = CASE WHEN $3 = 'approved' THEN $4 ELSE approval_transfer_id END,
               reversal_transfer_id = CASE WHEN $3 = 'reversed' THEN $4 ELSE reversal_transfer_id END,
               reason = coalesce($5, reason), decided_by = $6, decided_at = now(),
               version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND id = ANY($2)
           RETURNING id, practice_id, activity_id, organisation_id, service_id, tariff_id,
                     activity_type, delivered_on, quantity, unit_pence, amount_pence, status,
                     approval_transfer_id, reversal_transfer_id, remittance_id, decided_by,
                     decided_at, reason, created_at"#,
        federation.as_uuid(),
        ids,
        to.code(),
        transfer,
        reason,
        by,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(ChargeRecord::try_from)
    .collect::<Result<Vec<_>, _>>()?;
    decided.sort_by_key(|c| c.id);
    Ok(decided)
}

/// The charges a remittance paid, by id.
pub async fn of_remittance(
    conn: &mut PgConnection,
    federation: FederationId,
    remittance: Uuid,
) -> Result<Vec<ChargeRecord>, StoreError> {
    sqlx::query_as!(
        ChargeRow,
        r#"SELECT id, practice_id, activity_id, organisation_id, service_id, tariff_id,
                  activity_type, delivered_on, quantity, unit_pence, amount_pence, status,
                  approval_transfer_id, reversal_transfer_id, remittance_id, decided_by,
                  decided_at, reason, created_at
           FROM charges WHERE federation_id = $1 AND remittance_id = $2 ORDER BY id"#,
        federation.as_uuid(),
        remittance,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(ChargeRecord::try_from)
    .collect()
}
