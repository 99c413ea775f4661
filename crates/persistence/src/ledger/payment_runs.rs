//! Payment runs: every provider's approved charges up to a cut-off date, settled in one
//! transaction (provider payable → paid out) with a remittance per provider.

use super::accounts::{self, PostError, Posting};
use super::clawbacks;
use crate::error::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;
use waymark_domain::ledger::payment::{self, DueCharge};
use waymark_domain::ledger::{AccountKind, Entry, Pence, Transfer, TransferKind};
use waymark_domain::{FederationId, OrganisationId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRunRecord {
    pub id: Uuid,
    pub cut_off: NaiveDate,
    /// What was paid out, after netting.
    pub total_pence: i64,
    /// What was recovered for clawbacks.
    pub recovered_pence: i64,
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
    /// What was paid: `gross_pence` less `recovered_pence`.
    pub amount_pence: i64,
    pub gross_pence: i64,
    pub recovered_pence: i64,
    pub charge_count: i32,
    pub created_at: DateTime<Utc>,
}

/// Settles every approved charge delivered on or before `cut_off`, all in the caller's
/// transaction. Runs of one federation take turns (the paid-out account is locked first); the
/// due charges are locked as they are read and only those are paid, so two runs can never pay
/// the same charge, and a charge reversed meanwhile is not due. The domain's payment plan makes
/// one remittance per provider; the payments are posted together, then the run, its remittances
/// and the paid charges are written.
pub async fn run(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
    cut_off: NaiveDate,
    by: Uuid,
) -> Result<PaymentRunRecord, PostError> {
    let bug = |e: String| StoreError::Database(sqlx::Error::Protocol(e));
    let paid_out = accounts::account_id(conn, federation, AccountKind::PaidOut, None).await?;
    sqlx::query!(
        "SELECT id FROM ledger_accounts WHERE federation_id = $1 AND id = $2 FOR UPDATE",
        federation.as_uuid(),
        paid_out
    )
    .fetch_one(&mut *conn)
    .await?;
    let due = sqlx::query!(
        r#"SELECT id, organisation_id, amount_pence FROM charges
           WHERE federation_id = $1 AND status = 'approved' AND delivered_on <= $2
           ORDER BY id FOR UPDATE"#,
        federation.as_uuid(),
        cut_off,
    )
    .fetch_all(&mut *conn)
    .await?;
    // What providers owe back is read after the paid-out lock, so runs take turns on it too;
    // a clawback raised meanwhile waits for the next run.
    let owed = clawbacks::owed(conn, federation).await?;
    let plan = payment::plan(
        due.into_iter().map(|c| DueCharge {
            charge: c.id,
            organisation: c.organisation_id,
            amount: Pence(c.amount_pence),
        }),
        owed,
    )
    .map_err(|e| bug(e.to_string()))?;

    let organisations: Vec<Uuid> = plan.remittances.iter().map(|r| r.organisation).collect();
    let payables = accounts::payable_ids(conn, federation, &organisations).await?;
    let mut postings = Vec::with_capacity(plan.remittances.len());
    let mut remittances = RemittanceColumns::default();
    for remittance in &plan.remittances {
        let payable = *payables
            .get(&remittance.organisation)
            .ok_or(StoreError::NotFound)?;
        // The payable is settled in full: what is paid goes out, what is netted off goes to
        // the provider's recoverable account, reducing what it owes.
        let mut entries = vec![Entry::debit(payable, remittance.gross)];
        if remittance.amount > Pence::ZERO {
            entries.push(Entry::credit(paid_out, remittance.amount));
        }
        let recovered = remittance.recovered_total();
        if recovered > Pence::ZERO {
            let recoverable = accounts::account_id(
                conn,
                federation,
                AccountKind::Recoverable,
                Some(OrganisationId::from(remittance.organisation)),
            )
            .await?;
            entries.push(Entry::credit(recoverable, recovered));
        }
        let transfer =
            Transfer::new(TransferKind::Payment, entries).map_err(|e| bug(e.to_string()))?;
        let posting = Posting {
            payment_run: Some(id),
            description: Some("payment run"),
            ..Posting::new(transfer)
        };
        let remittance_id = Uuid::now_v7();
        remittances.id.push(remittance_id);
        remittances.organisation.push(remittance.organisation);
        remittances.transfer.push(posting.id);
        remittances.amount.push(remittance.amount.0);
        remittances.gross.push(remittance.gross.0);
        remittances.recovered.push(recovered.0);
        for (clawback, amount) in &remittance.recovered {
            remittances.recovery_remittance.push(remittance_id);
            remittances.recovery_clawback.push(*clawback);
            remittances
                .recovery_organisation
                .push(remittance.organisation);
            remittances.recovery_amount.push(amount.0);
        }
        remittances
            .charge_count
            .push(i32::try_from(remittance.charges.len()).map_err(|e| bug(e.to_string()))?);
        for charge in &remittance.charges {
            remittances.charges.push(*charge);
            remittances.charge_remittance.push(remittance_id);
        }
        postings.push(posting);
    }
    // Paying debits payables only, which the fund's overdraft rule does not concern; the book
    // refuses to recover more from a provider than it owes.
    accounts::post_all(conn, federation, &postings, by, false).await?;

    let count = |n: usize| i32::try_from(n).map_err(|e| bug(e.to_string()));
    sqlx::query!(
        r#"INSERT INTO payment_runs (federation_id, id, cut_off, total_pence, recovered_pence,
                                     charge_count, provider_count, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        federation.as_uuid(),
        id,
        cut_off,
        plan.total.0,
        plan.recovered.0,
        count(plan.charge_count)?,
        count(plan.remittances.len())?,
        by,
    )
    .execute(&mut *conn)
    .await?;
    let written = remittances.write(conn, federation, id).await?;
    // The charges were locked as approved, so every one is paid; anything else is a bug, and
    // the transaction must not commit a payment for a charge left unpaid.
    if written.paid != plan.charge_count as u64
        || written.remittances != plan.remittances.len() as u64
        || written.recoveries != remittances.recovery_clawback.len() as u64
    {
        return Err(bug(format!(
            "payment run {id} paid {} of {} charges in {} of {} remittances",
            written.paid,
            plan.charge_count,
            written.remittances,
            plan.remittances.len()
        ))
        .into());
    }
    Ok(find(conn, federation, id).await?)
}

#[derive(Default)]
struct RemittanceColumns {
    id: Vec<Uuid>,
    organisation: Vec<Uuid>,
    transfer: Vec<Uuid>,
    amount: Vec<i64>,
    gross: Vec<i64>,
    recovered: Vec<i64>,
    charge_count: Vec<i32>,
    /// Every charge paid, beside the remittance that pays it.
    charges: Vec<Uuid>,
    charge_remittance: Vec<Uuid>,
    /// Every clawback recovered from, beside the remittance that recovers it.
    recovery_remittance: Vec<Uuid>,
    recovery_clawback: Vec<Uuid>,
    recovery_organisation: Vec<Uuid>,
    recovery_amount: Vec<i64>,
}

/// How many rows [`RemittanceColumns::write`] wrote.
struct Written {
    remittances: u64,
    recoveries: u64,
    paid: u64,
}

impl RemittanceColumns {
    /// Writes the remittances of run `run` and what each recovered, and marks the charges paid.
    /// Rows go in as VALUES (see `crate::rows`).
    async fn write(
        &self,
        conn: &mut PgConnection,
        federation: FederationId,
        run: Uuid,
    ) -> Result<Written, StoreError> {
        let mut written = Written {
            remittances: 0,
            recoveries: 0,
            paid: 0,
        };
        let rows: Vec<usize> = (0..self.id.len()).collect();
        for rows in rows.chunks(crate::rows::PER_STATEMENT) {
            let mut insert = QueryBuilder::<Postgres>::new(
                "INSERT INTO remittances (federation_id, id, payment_run_id, organisation_id, \
                 transfer_id, amount_pence, gross_pence, recovered_pence, charge_count) ",
            );
            insert.push_values(rows, |mut row, &n| {
                row.push_bind(federation.as_uuid())
                    .push_bind(self.id[n])
                    .push_bind(run)
                    .push_bind(self.organisation[n])
                    .push_bind(self.transfer[n])
                    .push_bind(self.amount[n])
                    .push_bind(self.gross[n])
                    .push_bind(self.recovered[n])
                    .push_bind(self.charge_count[n]);
            });
            written.remittances += insert.build().execute(&mut *conn).await?.rows_affected();
        }
        let rows: Vec<usize> = (0..self.recovery_clawback.len()).collect();
        for rows in rows.chunks(crate::rows::PER_STATEMENT) {
            let mut insert = QueryBuilder::<Postgres>::new(
                "INSERT INTO clawback_recoveries (federation_id, remittance_id, clawback_id, \
                 organisation_id, amount_pence) ",
            );
            insert.push_values(rows, |mut row, &n| {
                row.push_bind(federation.as_uuid())
                    .push_bind(self.recovery_remittance[n])
                    .push_bind(self.recovery_clawback[n])
                    .push_bind(self.recovery_organisation[n])
                    .push_bind(self.recovery_amount[n]);
            });
            written.recoveries += insert.build().execute(&mut *conn).await?.rows_affected();
        }
        // An UPDATE … FROM unnest() filtered by the federation is routed to its shard whole.
        written.paid = sqlx::query!(
            r#"UPDATE charges c SET status = 'paid', remittance_id = p.remittance,
                                    version = c.version + 1, updated_at = now()
               FROM unnest($2::uuid[], $3::uuid[]) AS p(charge, remittance)
               WHERE c.federation_id = $1 AND c.id = p.charge AND c.status = 'approved'"#,
            federation.as_uuid(),
            &self.charges,
            &self.charge_remittance,
        )
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok(written)
    }
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
) -> Result<PaymentRunRecord, StoreError> {
    sqlx::query_as!(
        PaymentRunRecord,
        r#"SELECT id, cut_off, total_pence, recovered_pence, charge_count, provider_count, created_by,
                  created_at
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
        r#"SELECT id, cut_off, total_pence, recovered_pence, charge_count, provider_count, created_by,
                  created_at
           FROM payment_runs WHERE federation_id = $1 AND ($2::uuid IS NULL OR id < $2)
           ORDER BY id DESC LIMIT $3"#,
        federation.as_uuid(),
        before,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// A page of remittances across runs (one organisation's, when given), newest first: those
/// before the id `before`, at most `probe`.
pub async fn list_remittances(
    conn: &mut PgConnection,
    federation: FederationId,
    organisation: Option<Uuid>,
    before: Option<Uuid>,
    probe: i64,
) -> Result<Vec<RemittanceRecord>, StoreError> {
    Ok(sqlx::query_as!(
        RemittanceRecord,
        r#"SELECT r.id, r.payment_run_id, r.organisation_id, o.name AS organisation_name,
                  r.transfer_id, r.amount_pence, r.gross_pence, r.recovered_pence, r.charge_count,
                  r.created_at
           FROM remittances r JOIN organisations o ON o.id = r.organisation_id
           WHERE r.federation_id = $1
             AND ($2::uuid IS NULL OR r.organisation_id = $2)
             AND ($3::uuid IS NULL OR r.id < $3)
           ORDER BY r.id DESC LIMIT $4"#,
        federation.as_uuid(),
        organisation,
        before,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// Every remittance of a run (or, with `organisation`, that organisation's in it).
pub async fn remittances(
    conn: &mut PgConnection,
    federation: FederationId,
    run: Option<Uuid>,
    organisation: Option<Uuid>,
) -> Result<Vec<RemittanceRecord>, StoreError> {
    Ok(sqlx::query_as!(
        RemittanceRecord,
        r#"SELECT r.id, r.payment_run_id, r.organisation_id, o.name AS organisation_name,
                  r.transfer_id, r.amount_pence, r.gross_pence, r.recovered_pence, r.charge_count,
                  r.created_at
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
                  r.transfer_id, r.amount_pence, r.gross_pence, r.recovered_pence, r.charge_count,
                  r.created_at
           FROM remittances r JOIN organisations o ON o.id = r.organisation_id
           WHERE r.federation_id = $1 AND r.id = $2"#,
        federation.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}
