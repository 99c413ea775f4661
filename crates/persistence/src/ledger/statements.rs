//! A provider's statement for a period: what it was owed (its payable account: opening balance,
//! approvals, reversals, payments and what payments netted off, closing balance), and what it
//! owed back (its recoverable account: clawbacks raised and recovered).

use crate::error::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;
use waymark_domain::FederationId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementLine {
    pub transfer_id: Uuid,
    pub kind: String,
    pub posted_at: DateTime<Utc>,
    /// Positive when owed more (approvals; in what is owed back, clawbacks), negative when owed
    /// less (reversals, payments, clawbacks netted off a payment).
    pub amount_pence: i64,
    pub charge_id: Option<Uuid>,
    pub activity_type: Option<String>,
    pub delivered_on: Option<NaiveDate>,
    pub quantity: Option<i32>,
    pub unit_pence: Option<i64>,
    pub service_name: Option<String>,
    pub payment_run_id: Option<Uuid>,
    /// Why a charge was clawed back.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Statement {
    pub opening_pence: i64,
    pub lines: Vec<StatementLine>,
    pub closing_pence: i64,
    /// What the provider owed back for clawbacks at the start (a positive amount).
    pub owed_back_opening_pence: i64,
    /// Clawbacks raised (positive) and recovered from payments (negative).
    pub owed_back_lines: Vec<StatementLine>,
    pub owed_back_closing_pence: i64,
}

/// A statement's two sections: what the provider was owed (its payable account) and what it
/// owed back (its recoverable account).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Balance,
    OwedBack,
}

/// What a statement needs before its lines: the period, the provider's accounts, each
/// section's opening, and the payments that netted clawbacks off.
#[derive(Clone, Debug)]
pub struct StatementHead {
    pub organisation: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    payable: Option<Uuid>,
    recoverable: Option<Uuid>,
    pub opening_pence: i64,
    pub owed_back_opening_pence: i64,
    /// Per payment transfer that netted clawbacks off: what was paid and what was netted.
    netted: HashMap<Uuid, (i64, i64)>,
}

/// Everything but the lines of the statement of the organisation for the days `from` to `to`
/// (UTC, both included). An organisation never charged has an empty statement; one not in the
/// federation is not found.
pub async fn head(
    conn: &mut PgConnection,
    federation: FederationId,
    organisation: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<StatementHead, StoreError> {
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
    let payable = account_of(conn, federation, "payable", organisation).await?;
    let recoverable = account_of(conn, federation, "recoverable", organisation).await?;
    let opening_pence = match payable {
        Some(account) => balance_before(conn, federation, account, start).await?,
        None => 0,
    };
    // The account's balance is minus what is owed; the statement shows what is owed.
    let owed_back_opening_pence = match recoverable {
        Some(account) => -balance_before(conn, federation, account, start).await?,
        None => 0,
    };
    // One remittance per provider and payment run: few, whatever the statement's length.
    let netted = sqlx::query!(
        r#"SELECT transfer_id, amount_pence, recovered_pence FROM remittances
           WHERE federation_id = $1 AND organisation_id = $2 AND recovered_pence > 0"#,
        federation.as_uuid(),
        organisation,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.transfer_id, (r.amount_pence, r.recovered_pence)))
    .collect();
    Ok(StatementHead {
        organisation,
        start,
        end,
        payable,
        recoverable,
        opening_pence,
        owed_back_opening_pence,
        netted,
    })
}

impl StatementHead {
    /// The section's lines in the period, in the order they were posted, as the database sends
    /// them. A payment that netted clawbacks off debits the payable by the whole gross: it is
    /// shown as what was paid and, beside it, what was netted off; in what is owed back, a
    /// payment's recovery is `clawback_netted`.
    pub fn lines<'c>(
        &'c self,
        conn: &'c mut PgConnection,
        federation: FederationId,
        section: Section,
    ) -> BoxStream<'c, Result<StatementLine, StoreError>> {
        let account = match section {
            Section::Balance => self.payable,
            Section::OwedBack => self.recoverable,
        };
        let Some(account) = account else {
            return futures_util::stream::empty().boxed();
        };
        account_lines(
            conn,
            federation,
            account,
            self.organisation,
            self.start,
            self.end,
        )
        .map_ok(move |line| match section {
            Section::Balance => self.split_netted(line),
            Section::OwedBack => vec![owed_back(line)],
        })
        .map_ok(|lines| futures_util::stream::iter(lines.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    fn split_netted(&self, line: StatementLine) -> Vec<StatementLine> {
        match self.netted.get(&line.transfer_id) {
            Some(&(paid, recovered)) if line.kind == "payment" => {
                let mut split = Vec::with_capacity(2);
                if paid > 0 {
                    split.push(StatementLine {
                        amount_pence: -paid,
                        ..line.clone()
                    });
                }
                split.push(StatementLine {
                    kind: "clawback_netted".into(),
                    amount_pence: -recovered,
                    ..line
                });
                split
            }
            _ => vec![line],
        }
    }
}

fn owed_back(mut line: StatementLine) -> StatementLine {
    line.amount_pence = -line.amount_pence;
    if line.kind == "payment" {
        line.kind = "clawback_netted".into();
    }
    line
}

/// The statement of the organisation for the days `from` to `to` (UTC, both included), whole.
pub async fn statement(
    conn: &mut PgConnection,
    federation: FederationId,
    organisation: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Statement, StoreError> {
    let head = head(conn, federation, organisation, from, to).await?;
    let lines: Vec<StatementLine> = head
        .lines(conn, federation, Section::Balance)
        .try_collect()
        .await?;
    let owed_back_lines: Vec<StatementLine> = head
        .lines(conn, federation, Section::OwedBack)
        .try_collect()
        .await?;
    Ok(Statement {
        opening_pence: head.opening_pence,
        closing_pence: head.opening_pence + lines.iter().map(|l| l.amount_pence).sum::<i64>(),
        lines,
        owed_back_opening_pence: head.owed_back_opening_pence,
        owed_back_closing_pence: head.owed_back_opening_pence
            + owed_back_lines.iter().map(|l| l.amount_pence).sum::<i64>(),
        owed_back_lines,
    })
}

async fn account_of(
    conn: &mut PgConnection,
    federation: FederationId,
    kind: &str,
    organisation: Uuid,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT id FROM ledger_accounts
           WHERE federation_id = $1 AND kind = $2 AND organisation_id = $3"#,
        federation.as_uuid(),
        kind,
        organisation,
    )
    .fetch_optional(conn)
    .await?)
}

async fn balance_before(
    conn: &mut PgConnection,
    federation: FederationId,
    account: Uuid,
    start: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce(sum(CASE side WHEN 'credit' THEN amount_pence ELSE -amount_pence END), 0)::bigint AS "opening!"
           FROM ledger_entries WHERE federation_id = $1 AND account_id = $2 AND created_at < $3"#,
        federation.as_uuid(),
        account,
        start,
    )
    .fetch_one(conn)
    .await?)
}

/// The account's entries in the period, as credits less debits. Approvals and reversals show
/// one line per charge (a batch approval credits the payable once for all of the provider's
/// charges in it), clawbacks one per clawback with its charge and reason, payments one line per
/// remittance.
fn account_lines(
    conn: &mut PgConnection,
    federation: FederationId,
    account: Uuid,
    organisation: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> BoxStream<'_, Result<StatementLine, StoreError>> {
    sqlx::query_as!(
        StatementLine,
        r#"SELECT t.id AS "transfer_id!", t.kind AS "kind!", e.created_at AS "posted_at!",
                  (CASE e.side WHEN 'credit' THEN 1 ELSE -1 END
                   * coalesce(cb.amount_pence, c.amount_pence, e.amount_pence)) AS "amount_pence!",
                  c.id AS "charge_id?", c.activity_type AS "activity_type?",
                  c.delivered_on AS "delivered_on?", c.quantity AS "quantity?",
                  c.unit_pence AS "unit_pence?", s.name AS "service_name?",
                  t.payment_run_id AS "payment_run_id?", cb.reason AS "reason?"
           FROM ledger_entries e
           JOIN ledger_transfers t ON t.federation_id = e.federation_id AND t.id = e.transfer_id
           LEFT JOIN clawbacks cb ON cb.federation_id = t.federation_id
                AND t.kind = 'clawback' AND cb.transfer_id = t.id
           LEFT JOIN charges c ON c.federation_id = t.federation_id
                AND c.organisation_id = $4
                AND ((t.kind = 'charge_approval' AND c.approval_transfer_id = t.id)
                     OR (t.kind = 'charge_reversal' AND c.reversal_transfer_id = t.id)
                     OR (t.kind = 'clawback' AND c.id = cb.charge_id))
           LEFT JOIN services s ON s.federation_id = c.federation_id AND s.id = c.service_id
           WHERE e.account_id = $1 AND e.federation_id = $5
             AND e.created_at >= $2 AND e.created_at < $3
           ORDER BY e.created_at, t.id, c.id"#,
        account,
        start,
        end,
        organisation,
        federation.as_uuid(),
    )
    .fetch(conn)
    .map(|row| row.map_err(StoreError::from))
    .boxed()
}
