//! Ledger accounts and posting.

use crate::error::StoreError;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::collections::HashMap;
use uuid::Uuid;
use waymark_domain::ledger::account::InsufficientFunds;
use waymark_domain::ledger::{AccountKind, Book, Pence, PostingRefused, Totals, Transfer};
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
/// the first time it is needed. It is looked up before anything is inserted: an insert that
/// meets the existing row would wait for whichever transaction is posting to that account.
pub async fn account_id(
    conn: &mut PgConnection,
    federation: FederationId,
    kind: AccountKind,
    organisation: Option<OrganisationId>,
) -> Result<Uuid, StoreError> {
    let organisation = organisation.map(|o| o.as_uuid());
    if let Some(id) = find_account(conn, federation, kind, organisation).await? {
        return Ok(id);
    }
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
    find_account(conn, federation, kind, organisation)
        .await?
        .ok_or(StoreError::NotFound)
}

async fn find_account(
    conn: &mut PgConnection,
    federation: FederationId,
    kind: AccountKind,
    organisation: Option<Uuid>,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT id FROM ledger_accounts
           WHERE federation_id = $1 AND kind = $2 AND organisation_id IS NOT DISTINCT FROM $3"#,
        federation.as_uuid(),
        kind.code(),
        organisation,
    )
    .fetch_optional(conn)
    .await?)
}

/// Every account of the federation with its balance: the commissioner, fund and paid out, then
/// the providers' payables and recoverables by organisation name.
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
           ORDER BY a.kind IN ('payable', 'recoverable'), o.name, a.kind"#,
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

impl From<PostingRefused> for PostError {
    fn from(refused: PostingRefused) -> Self {
        match refused {
            PostingRefused::InsufficientFunds(e) => PostError::InsufficientFunds(e),
            // The accounts were locked from the transfer's own entries and amounts are bounded
            // on the way in, so either of these is a bug, not something a client did.
            other => PostError::Store(StoreError::Database(sqlx::Error::Protocol(
                other.to_string(),
            ))),
        }
    }
}

/// One transfer to post, under the id the caller chose for it, and why it is made.
#[derive(Clone, Debug)]
pub struct Posting<'a> {
    pub id: Uuid,
    pub transfer: Transfer,
    pub charge: Option<Uuid>,
    pub payment_run: Option<Uuid>,
    pub description: Option<&'a str>,
}

impl<'a> Posting<'a> {
    pub fn new(transfer: Transfer) -> Self {
        Self {
            id: Uuid::now_v7(),
            transfer,
            charge: None,
            payment_run: None,
            description: None,
        }
    }
}

/// The ids of the payable accounts of `organisations`, opening those not yet open (looked up
/// first, for the reason [`account_id`] gives).
pub async fn payable_ids(
    conn: &mut PgConnection,
    federation: FederationId,
    organisations: &[Uuid],
) -> Result<HashMap<Uuid, Uuid>, StoreError> {
    async fn open_ones(
        conn: &mut PgConnection,
        federation: FederationId,
        organisations: &[Uuid],
    ) -> Result<HashMap<Uuid, Uuid>, StoreError> {
        let rows = sqlx::query!(
            r#"SELECT organisation_id AS "organisation_id!", id FROM ledger_accounts
               WHERE federation_id = $1 AND kind = 'payable' AND organisation_id = ANY($2)"#,
            federation.as_uuid(),
            organisations,
        )
        .fetch_all(conn)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.organisation_id, r.id))
            .collect())
    }
    let open = open_ones(conn, federation, organisations).await?;
    let missing: Vec<Uuid> = organisations
        .iter()
        .filter(|o| !open.contains_key(o))
        .copied()
        .collect();
    if missing.is_empty() {
        return Ok(open);
    }
    // Rows as VALUES, not unnest(): see `crate::rows`.
    for missing in missing.chunks(crate::rows::PER_STATEMENT) {
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO ledger_accounts (federation_id, id, kind, organisation_id) ",
        );
        insert.push_values(missing, |mut row, organisation| {
            row.push_bind(federation.as_uuid())
                .push_bind(Uuid::now_v7())
                .push_bind("payable")
                .push_bind(*organisation);
        });
        insert.push(" ON CONFLICT ON CONSTRAINT ledger_accounts_one_per_kind DO NOTHING");
        insert.build().execute(&mut *conn).await?;
    }
    open_ones(conn, federation, organisations).await
}

/// Posts the transfers, all or none. Locks every account they touch (in id order, so
/// concurrent postings never deadlock), has the domain's [`Book`] accept each transfer in turn
/// (refusing any debit an account may not take), then writes the transfers, their entries and
/// the new running totals in one statement. The database checks again at commit that each
/// transfer balances.
pub async fn post_all(
    conn: &mut PgConnection,
    federation: FederationId,
    postings: &[Posting<'_>],
    by: Uuid,
    fund_overdraft_allowed: bool,
) -> Result<(), PostError> {
    let accounts: Vec<Uuid> = postings
        .iter()
        .flat_map(|p| p.transfer.entries().iter().map(|e| e.account))
        .collect();
    let mut book = lock_book(conn, federation, &accounts, fund_overdraft_allowed).await?;
    for posting in postings {
        book.post(&posting.transfer)?;
    }
    let postings: Vec<(&Posting<'_>, Uuid)> = postings.iter().map(|p| (p, by)).collect();
    write_postings(conn, federation, &postings, &book).await?;
    Ok(())
}

/// Locks `accounts` (in id order, so concurrent postings never deadlock) for the rest of the
/// transaction and opens a [`Book`] with their totals, for transfers to be posted to.
pub async fn lock_book(
    conn: &mut PgConnection,
    federation: FederationId,
    accounts: &[Uuid],
    fund_overdraft_allowed: bool,
) -> Result<Book, StoreError> {
    let mut ids = accounts.to_vec();
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
        return Err(StoreError::NotFound);
    }
    let mut book = Book::new(fund_overdraft_allowed);
    for account in locked {
        book.open(
            account.id,
            account.kind.parse().map_err(bad_code)?,
            Totals {
                debits: Pence(account.debits_pence),
                credits: Pence(account.credits_pence),
            },
        );
    }
    Ok(book)
}

/// Writes `postings` (each with who made it), which `book` has accepted, their entries and the
/// accounts' new running totals, in one statement.
pub async fn write_postings(
    conn: &mut PgConnection,
    federation: FederationId,
    postings: &[(&Posting<'_>, Uuid)],
    book: &Book,
) -> Result<(), StoreError> {
    let mut transfers = TransferColumns::default();
    let mut entries = EntryColumns::default();
    for (posting, by) in postings {
        transfers.id.push(posting.id);
        transfers
            .kind
            .push(posting.transfer.kind().code().to_owned());
        transfers.amount.push(posting.transfer.amount().0);
        transfers.charge.push(posting.charge);
        transfers.payment_run.push(posting.payment_run);
        transfers
            .description
            .push(posting.description.map(str::to_owned));
        transfers.created_by.push(*by);
        for entry in posting.transfer.entries() {
            entries.transfer.push(posting.id);
            entries.account.push(entry.account);
            entries.side.push(entry.side.code().to_owned());
            entries.amount.push(entry.amount.0);
        }
    }
    let (mut accounts, mut debits, mut credits) = (Vec::new(), Vec::new(), Vec::new());
    for (account, debited, credited) in book.movements() {
        accounts.push(account);
        debits.push(debited.0);
        credits.push(credited.0);
    }
    sqlx::query!(
        r#"WITH transfers AS (
               INSERT INTO ledger_transfers (federation_id, id, kind, amount_pence, charge_id,
                                             payment_run_id, organisation_id, description, created_by)
               SELECT $1, t.id, t.kind, t.amount, t.charge, t.run,
                      -- the provider whose accounts it touches (the balance check holds every
                      -- entry to this one)
                      (SELECT (array_agg(a.organisation_id) FILTER (WHERE a.organisation_id IS NOT NULL))[1]
                       FROM unnest($9::uuid[], $10::uuid[]) AS e(transfer, account)
                       JOIN ledger_accounts a ON a.federation_id = $1 AND a.id = e.account
                       WHERE e.transfer = t.id),
                      t.description, t.created_by
               FROM unnest($2::uuid[], $3::text[], $4::bigint[], $5::uuid[], $6::uuid[], $7::text[],
                           $8::uuid[])
                    AS t(id, kind, amount, charge, run, description, created_by)
               RETURNING 1
           ), entries AS (
               INSERT INTO ledger_entries (federation_id, transfer_id, account_id, organisation_id,
                                           side, amount_pence)
               SELECT $1, e.transfer, e.account, a.organisation_id, e.side, e.amount
               FROM unnest($9::uuid[], $10::uuid[], $11::text[], $12::bigint[])
                    AS e(transfer, account, side, amount)
               JOIN ledger_accounts a ON a.federation_id = $1 AND a.id = e.account
               RETURNING 1
           )
           UPDATE ledger_accounts a
           SET debits_pence = a.debits_pence + m.debits, credits_pence = a.credits_pence + m.credits
           FROM unnest($13::uuid[], $14::bigint[], $15::bigint[]) AS m(account, debits, credits)
           WHERE a.federation_id = $1 AND a.id = m.account"#,
        federation.as_uuid(),
        &transfers.id,
        &transfers.kind,
        &transfers.amount,
        &transfers.charge as &[Option<Uuid>],
        &transfers.payment_run as &[Option<Uuid>],
        &transfers.description as &[Option<String>],
        &transfers.created_by,
        &entries.transfer,
        &entries.account,
        &entries.side,
        &entries.amount,
        &accounts,
        &debits,
        &credits,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Posts one transfer; see [`post_all`].
pub async fn post(
    conn: &mut PgConnection,
    federation: FederationId,
    posting: &Posting<'_>,
    by: Uuid,
    fund_overdraft_allowed: bool,
) -> Result<(), PostError> {
    post_all(
        conn,
        federation,
        std::slice::from_ref(posting),
        by,
        fund_overdraft_allowed,
    )
    .await
}

#[derive(Default)]
struct TransferColumns {
    id: Vec<Uuid>,
    kind: Vec<String>,
    amount: Vec<i64>,
    charge: Vec<Option<Uuid>>,
    payment_run: Vec<Option<Uuid>>,
    description: Vec<Option<String>>,
    created_by: Vec<Uuid>,
}

#[derive(Default)]
struct EntryColumns {
    transfer: Vec<Uuid>,
    account: Vec<Uuid>,
    side: Vec<String>,
    amount: Vec<i64>,
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

/// One transfer of the federation.
pub async fn transfer(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
) -> Result<TransferRecord, StoreError> {
    sqlx::query_as!(
        TransferRecord,
        r#"SELECT id, kind, amount_pence, charge_id, payment_run_id, description, created_by,
                  created_at
           FROM ledger_transfers WHERE federation_id = $1 AND id = $2"#,
        federation.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Per account, the running totals and the totals recomputed from the entries; they must agree.
pub async fn reconcile(
    conn: &mut PgConnection,
    federation: FederationId,
) -> Result<Vec<(Uuid, Pence, Pence)>, StoreError> {
    Ok(sqlx::query!(
        r#"SELECT a.id, a.credits_pence - a.debits_pence AS "running!",
                  coalesce(sum(CASE e.side WHEN 'credit' THEN e.amount_pence ELSE -e.amount_pence END), 0)::bigint AS "recomputed!"
           FROM ledger_accounts a
           LEFT JOIN ledger_entries e ON e.federation_id = a.federation_id AND e.account_id = a.id
           WHERE a.federation_id = $1
           GROUP BY a.federation_id, a.id"#,
        federation.as_uuid(),
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| (r.id, Pence(r.running), Pence(r.recomputed)))
    .collect())
}
