//! Ledger accounts and posting.

use crate::error::StoreError;
use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt};
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
           FROM ledger_accounts a
           LEFT JOIN organisations o ON o.federation_id = a.federation_id AND o.id = a.organisation_id
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
/// the new running totals. The database checks again at commit that each
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
    let mut locked = lock_book(conn, federation, &accounts, fund_overdraft_allowed).await?;
    for posting in postings {
        locked.book.post(&posting.transfer)?;
    }
    let postings: Vec<(&Posting<'_>, Uuid)> = postings.iter().map(|p| (p, by)).collect();
    write_postings(conn, federation, &postings, &locked).await?;
    Ok(())
}

/// The accounts a posting may touch, locked, and a [`Book`] to post to them.
pub struct LockedBook {
    pub book: Book,
    /// The provider each payable belongs to (`None` for the federation's own accounts).
    owners: HashMap<Uuid, Option<Uuid>>,
}

/// Locks `accounts` (in id order, so concurrent postings never deadlock) for the rest of the
/// transaction and opens a [`Book`] with their totals, for transfers to be posted to.
pub async fn lock_book(
    conn: &mut PgConnection,
    federation: FederationId,
    accounts: &[Uuid],
    fund_overdraft_allowed: bool,
) -> Result<LockedBook, StoreError> {
    let mut ids = accounts.to_vec();
    ids.sort();
    ids.dedup();
    let locked = sqlx::query!(
        r#"SELECT id, kind, organisation_id, debits_pence, credits_pence FROM ledger_accounts
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
    let mut owners = HashMap::with_capacity(locked.len());
    for account in locked {
        book.open(
            account.id,
            account.kind.parse().map_err(bad_code)?,
            Totals {
                debits: Pence(account.debits_pence),
                credits: Pence(account.credits_pence),
            },
        );
        owners.insert(account.id, account.organisation_id);
    }
    Ok(LockedBook { book, owners })
}

/// Writes `postings` (each with who made it), which `locked.book` has accepted, their entries
/// and the accounts' new running totals. Rows go in as VALUES (see `crate::rows`), transfers
/// before the entries that reference them.
pub async fn write_postings(
    conn: &mut PgConnection,
    federation: FederationId,
    postings: &[(&Posting<'_>, Uuid)],
    locked: &LockedBook,
) -> Result<(), StoreError> {
    let owner = |account: Uuid| -> Result<Option<Uuid>, StoreError> {
        locked.owners.get(&account).copied().ok_or_else(|| {
            StoreError::Database(sqlx::Error::Protocol(format!(
                "account {account} was posted to without being locked"
            )))
        })
    };
    for postings in postings.chunks(crate::rows::PER_STATEMENT) {
        // A transfer's provider is the one whose accounts it touches (the balance check holds
        // every entry to one).
        let mut providers = Vec::with_capacity(postings.len());
        for (posting, _) in postings {
            let mut provider = None;
            for entry in posting.transfer.entries() {
                provider = provider.or(owner(entry.account)?);
            }
            providers.push(provider);
        }
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO ledger_transfers (federation_id, id, kind, amount_pence, charge_id, \
             payment_run_id, organisation_id, description, created_by) ",
        );
        insert.push_values(
            postings.iter().zip(&providers),
            |mut row, ((posting, by), provider)| {
                row.push_bind(federation.as_uuid())
                    .push_bind(posting.id)
                    .push_bind(posting.transfer.kind().code())
                    .push_bind(posting.transfer.amount().0)
                    .push_bind(posting.charge)
                    .push_bind(posting.payment_run)
                    .push_bind(*provider)
                    .push_bind(posting.description)
                    .push_bind(*by);
            },
        );
        insert.build().execute(&mut *conn).await?;
    }
    let mut entries = Vec::new();
    for (posting, _) in postings {
        for entry in posting.transfer.entries() {
            entries.push((posting.id, entry, owner(entry.account)?));
        }
    }
    for entries in entries.chunks(crate::rows::PER_STATEMENT) {
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO ledger_entries (federation_id, transfer_id, account_id, organisation_id, \
             side, amount_pence) ",
        );
        insert.push_values(entries, |mut row, (transfer, entry, provider)| {
            row.push_bind(federation.as_uuid())
                .push_bind(*transfer)
                .push_bind(entry.account)
                .push_bind(*provider)
                .push_bind(entry.side.code())
                .push_bind(entry.amount.0);
        });
        insert.build().execute(&mut *conn).await?;
    }
    let (mut accounts, mut debits, mut credits) = (Vec::new(), Vec::new(), Vec::new());
    for (account, debited, credited) in locked.book.movements() {
        accounts.push(account);
        debits.push(debited.0);
        credits.push(credited.0);
    }
    // An UPDATE … FROM unnest() filtered by the federation is routed to its shard whole.
    sqlx::query!(
        r#"UPDATE ledger_accounts a
           SET debits_pence = a.debits_pence + m.debits, credits_pence = a.credits_pence + m.credits
           FROM unnest($2::uuid[], $3::bigint[], $4::bigint[]) AS m(account, debits, credits)
           WHERE a.federation_id = $1 AND a.id = m.account"#,
        federation.as_uuid(),
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

/// One entry of a transfer, with the transfer it belongs to, as the ledger's export lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferEntryLine {
    pub transfer_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub kind: String,
    pub transfer_amount_pence: i64,
    /// The provider the transfer concerns (none for a top-up).
    pub organisation_id: Option<Uuid>,
    pub charge_id: Option<Uuid>,
    pub payment_run_id: Option<Uuid>,
    pub description: Option<String>,
    pub created_by: Uuid,
    pub side: String,
    pub account_id: Uuid,
    pub account_kind: String,
    pub amount_pence: i64,
}

/// Every entry of the federation's transfers made in `[from, to)` (either bound may be left
/// out), oldest transfer first, debits before credits, as the database sends them.
pub fn transfer_entries(
    conn: &mut PgConnection,
    federation: FederationId,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> BoxStream<'_, Result<TransferEntryLine, StoreError>> {
    sqlx::query_as!(
        TransferEntryLine,
        r#"SELECT t.id AS transfer_id, t.created_at, t.kind, t.amount_pence AS transfer_amount_pence,
                  t.organisation_id, t.charge_id, t.payment_run_id, t.description, t.created_by,
                  e.side, e.account_id, a.kind AS account_kind, e.amount_pence
           FROM ledger_transfers t
           JOIN ledger_entries e ON e.federation_id = t.federation_id AND e.transfer_id = t.id
           JOIN ledger_accounts a ON a.federation_id = e.federation_id AND a.id = e.account_id
           WHERE t.federation_id = $1
             AND ($2::timestamptz IS NULL OR t.created_at >= $2)
             AND ($3::timestamptz IS NULL OR t.created_at < $3)
           ORDER BY t.id, e.side DESC, a.kind, e.account_id"#,
        federation.as_uuid(),
        from,
        to,
    )
    .fetch(conn)
    .map(|row| row.map_err(StoreError::from))
    .boxed()
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
