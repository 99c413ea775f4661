//! Ledger accounts and posting.

use crate::error::StoreError;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::ledger::account::{debit, InsufficientFunds};
use waymark_domain::ledger::{AccountKind, Pence, Side, Transfer};
use waymark_domain::{FederationId, OrganisationId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    pub id: Uuid,
    pub kind: AccountKind,
    pub organisation_id: Option<Uuid>,
    pub organisation_name: Option<String>,
    pub debits: Pence,
    pub credits: Pence,
}

impl AccountRecord {
    /// Credits less debits.
    pub fn balance(&self) -> Pence {
        Pence(self.credits.0 - self.debits.0)
    }
}

struct AccountRow {
    id: Uuid,
    kind: String,
    organisation_id: Option<Uuid>,
    organisation_name: Option<String>,
    debits_pence: i64,
    credits_pence: i64,
}

fn bad_code(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(Box::new(e)))
}

impl TryFrom<AccountRow> for AccountRecord {
    type Error = StoreError;

    fn try_from(r: AccountRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            kind: r.kind.parse().map_err(bad_code)?,
            organisation_id: r.organisation_id,
            organisation_name: r.organisation_name,
            debits: Pence(r.debits_pence),
            credits: Pence(r.credits_pence),
        })
    }
}

/// The id of the federation's account of `kind` (for `organisation`, for payables), opening it
/// the first time it is needed.
pub async fn account_id(
    conn: &mut PgConnection,
    federation: FederationId,
    kind: AccountKind,
    organisation: Option<OrganisationId>,
) -> Result<Uuid, StoreError> {
    let organisation = organisation.map(|o| o.as_uuid());
    sqlx::query!(
        r#"INSERT INTO ledger_accounts (federation_id, id, kind, organisation_id)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT ON CONSTRAINT ledger_accounts_one_per_kind DO NOTHING"#,
        federation.as_uuid(),
        Uuid::now_v7(),
        kind.code(),
        organisation,
    )
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_scalar!(
        r#"SELECT id FROM ledger_accounts
           WHERE federation_id = $1 AND kind = $2 AND organisation_id IS NOT DISTINCT FROM $3"#,
        federation.as_uuid(),
        kind.code(),
        organisation,
    )
    .fetch_one(conn)
    .await?)
}

/// Every account of the federation with its balance: the commissioner, fund and paid out, then
/// the providers' payables by organisation name.
pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
) -> Result<Vec<AccountRecord>, StoreError> {
    sqlx::query_as!(
        AccountRow,
        r#"SELECT a.id, a.kind, a.organisation_id, o.name AS "organisation_name?",
                  a.debits_pence, a.credits_pence
           FROM ledger_accounts a LEFT JOIN organisations o ON o.id = a.organisation_id
           WHERE a.federation_id = $1
           ORDER BY a.kind = 'payable', o.name, a.kind"#,
        federation.as_uuid(),
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(AccountRecord::try_from)
    .collect()
}

/// What stopped a posting.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error(transparent)]
    InsufficientFunds(#[from] InsufficientFunds),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for PostError {
    fn from(e: sqlx::Error) -> Self {
        PostError::Store(e.into())
    }
}

/// Why a transfer was made, as recorded with it.
#[derive(Clone, Copy, Debug, Default)]
pub struct TransferContext<'a> {
    pub charge: Option<Uuid>,
    pub payment_run: Option<Uuid>,
    pub description: Option<&'a str>,
    pub by: Uuid,
}

/// Posts `transfer`: locks its accounts (in id order, so concurrent postings never deadlock),
/// refuses any debit the account may not take, then records the transfer and its entries and
/// moves the running totals. Answers the transfer's id.
pub async fn post(
    conn: &mut PgConnection,
    federation: FederationId,
    transfer: &Transfer,
    context: TransferContext<'_>,
    fund_overdraft_allowed: bool,
) -> Result<Uuid, PostError> {
    let mut ids: Vec<Uuid> = transfer.entries().iter().map(|e| e.account).collect();
    ids.sort();
    ids.dedup();
    let locked = sqlx::query!(
        r#"SELECT id, kind, debits_pence, credits_pence FROM ledger_accounts
           WHERE federation_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE"#,
        federation.as_uuid(),
        &ids,
    )
    .fetch_all(&mut *conn)
    .await?;
    if locked.len() != ids.len() {
        return Err(StoreError::NotFound.into());
    }
    let mut balances: std::collections::HashMap<Uuid, (AccountKind, Pence)> = locked
        .into_iter()
        .map(|a| {
            let kind: AccountKind = a.kind.parse().map_err(bad_code)?;
            Ok((a.id, (kind, Pence(a.credits_pence - a.debits_pence))))
        })
        .collect::<Result<_, StoreError>>()?;
    for entry in transfer.entries() {
        let (kind, balance) = balances[&entry.account];
        let after = match entry.side {
            Side::Debit => debit(kind, balance, entry.amount, fund_overdraft_allowed)?,
            Side::Credit => balance
                .checked_add(entry.amount)
                .ok_or(StoreError::Database(sqlx::Error::Protocol(
                    "ledger balance overflow".into(),
                )))?,
        };
        balances.insert(entry.account, (kind, after));
    }

    let id = Uuid::now_v7();
    sqlx::query!(
        r#"INSERT INTO ledger_transfers (federation_id, id, kind, amount_pence, charge_id,
               payment_run_id, description, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        federation.as_uuid(),
        id,
        transfer.kind().code(),
        transfer.amount().0,
        context.charge,
        context.payment_run,
        context.description,
        context.by,
    )
    .execute(&mut *conn)
    .await?;
    let accounts: Vec<Uuid> = transfer.entries().iter().map(|e| e.account).collect();
    let sides: Vec<String> = transfer
        .entries()
        .iter()
        .map(|e| e.side.code().to_owned())
        .collect();
    let amounts: Vec<i64> = transfer.entries().iter().map(|e| e.amount.0).collect();
    sqlx::query!(
        r#"INSERT INTO ledger_entries (federation_id, transfer_id, account_id, side, amount_pence)
           SELECT $1, $2, account, side, amount
           FROM unnest($3::uuid[], $4::text[], $5::bigint[]) AS e(account, side, amount)"#,
        federation.as_uuid(),
        id,
        &accounts,
        &sides,
        &amounts,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        r#"UPDATE ledger_accounts a
           SET debits_pence = a.debits_pence + e.debits, credits_pence = a.credits_pence + e.credits
           FROM (SELECT account,
                        coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0) AS debits,
                        coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0) AS credits
                 FROM (SELECT account, side, coalesce(amount, 0) AS amount
                       FROM unnest($2::uuid[], $3::text[], $4::bigint[]) AS x(account, side, amount)) y
                 GROUP BY account) AS e(account, debits, credits)
           WHERE a.federation_id = $1 AND a.id = e.account"#,
        federation.as_uuid(),
        &accounts,
        &sides,
        &amounts,
    )
    .execute(conn)
    .await?;
    Ok(id)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRecord {
    pub id: Uuid,
    pub kind: String,
    pub amount_pence: i64,
    pub charge_id: Option<Uuid>,
    pub payment_run_id: Option<Uuid>,
    pub description: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// The federation's transfers, newest first.
pub async fn transfers(
    conn: &mut PgConnection,
    federation: FederationId,
    before: Option<Uuid>,
    probe: i64,
) -> Result<Vec<TransferRecord>, StoreError> {
    Ok(sqlx::query_as!(
        TransferRecord,
        r#"SELECT id, kind, amount_pence, charge_id, payment_run_id, description, created_by,
                  created_at
           FROM ledger_transfers
           WHERE federation_id = $1 AND ($2::uuid IS NULL OR id < $2)
           ORDER BY id DESC LIMIT $3"#,
        federation.as_uuid(),
        before,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// Per account, the running totals and the totals recomputed from the entries; they must agree.
pub async fn reconcile(
    conn: &mut PgConnection,
    federation: FederationId,
) -> Result<Vec<(Uuid, Pence, Pence)>, StoreError> {
    Ok(sqlx::query!(
        r#"SELECT a.id, a.credits_pence - a.debits_pence AS "running!",
                  coalesce(sum(CASE e.side WHEN 'credit' THEN e.amount_pence ELSE -e.amount_pence END), 0)::bigint AS "recomputed!"
           FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id
           WHERE a.federation_id = $1
           GROUP BY a.id"#,
        federation.as_uuid(),
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| (r.id, Pence(r.running), Pence(r.recomputed)))
    .collect())
}
