//! A provider's statement for a period: its payable account's opening balance, every entry in
//! the period (approvals, reversals, payments) and the closing balance.

use crate::error::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::FederationId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    pub transfer_id: Uuid,
    pub kind: String,
    pub posted_at: DateTime<Utc>,
    /// Positive when owed more (approvals), negative when owed less (reversals, payments).
    pub amount_pence: i64,
    pub charge_id: Option<Uuid>,
    pub activity_type: Option<String>,
    pub delivered_on: Option<NaiveDate>,
    pub quantity: Option<i32>,
    pub unit_pence: Option<i64>,
    pub service_name: Option<String>,
    pub payment_run_id: Option<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub opening_pence: i64,
    pub lines: Vec<StatementLine>,
    pub closing_pence: i64,
}

/// The statement of the organisation's payable account for the days `from` to `to` (UTC, both
/// included). An organisation never charged has an empty statement; one not in the federation
/// is not found.
pub async fn statement(
    conn: &mut PgConnection,
    federation: FederationId,
    organisation: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Statement, StoreError> {
    let start = from.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let end = to
        .succ_opt()
        .unwrap_or(NaiveDate::MAX)
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let known = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM organisations WHERE federation_id = $1 AND id = $2)
           AS "known!""#,
        federation.as_uuid(),
        organisation,
    )
    .fetch_one(&mut *conn)
    .await?;
    if !known {
        return Err(StoreError::NotFound);
    }
    let account = sqlx::query_scalar!(
        r#"SELECT id FROM ledger_accounts
           WHERE federation_id = $1 AND kind = 'payable' AND organisation_id = $2"#,
        federation.as_uuid(),
        organisation,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(account) = account else {
        return Ok(Statement {
            opening_pence: 0,
            lines: Vec::new(),
            closing_pence: 0,
        });
    };
    let opening = sqlx::query_scalar!(
        r#"SELECT coalesce(sum(CASE side WHEN 'credit' THEN amount_pence ELSE -amount_pence END), 0)::bigint AS "opening!"
           FROM ledger_entries WHERE account_id = $1 AND created_at < $2"#,
        account,
        start,
    )
    .fetch_one(&mut *conn)
    .await?;
    // Approvals and reversals show one line per charge (a batch approval credits the payable
    // once for all of the provider's charges in it); payments one line per remittance.
    let lines = sqlx::query_as!(
        StatementLine,
        r#"SELECT t.id AS "transfer_id!", t.kind AS "kind!", e.created_at AS "posted_at!",
                  (CASE e.side WHEN 'credit' THEN 1 ELSE -1 END
                   * coalesce(c.amount_pence, e.amount_pence)) AS "amount_pence!",
                  c.id AS "charge_id?", c.activity_type AS "activity_type?",
                  c.delivered_on AS "delivered_on?", c.quantity AS "quantity?",
                  c.unit_pence AS "unit_pence?", s.name AS "service_name?",
                  t.payment_run_id AS "payment_run_id?"
           FROM ledger_entries e
           JOIN ledger_transfers t ON t.id = e.transfer_id
           LEFT JOIN charges c ON c.federation_id = t.federation_id
                AND c.organisation_id = $4
                AND ((t.kind = 'charge_approval' AND c.approval_transfer_id = t.id)
                     OR (t.kind = 'charge_reversal' AND c.reversal_transfer_id = t.id))
           LEFT JOIN services s ON s.id = c.service_id
           WHERE e.account_id = $1 AND e.created_at >= $2 AND e.created_at < $3
           ORDER BY e.created_at, t.id, c.id"#,
        account,
        start,
        end,
        organisation,
    )
    .fetch_all(&mut *conn)
    .await?;
    let closing = opening + lines.iter().map(|l| l.amount_pence).sum::<i64>();
    Ok(Statement {
        opening_pence: opening,
        lines,
        closing_pence: closing,
    })
}
