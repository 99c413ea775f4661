//! The ledger's settings, accounts, funding top-ups, transfers and reconciliation.

use super::{administration, whole_ledger, Money};
use crate::auth::Caller;
use crate::concurrency::{with_etag, IfMatch, IfMatchHeader};
use crate::idempotency::{IdempotencyKey, MoneyKey, MoneyRequest};
use crate::json_body::JsonBody;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::directory::contact::long_text;
use waymark_domain::ledger::{AccountKind, Pence};
use waymark_domain::ValidationErrors;
use waymark_persistence::ledger::accounts::{self, AccountRecord, TransferRecord};
use waymark_persistence::ledger::{funding, settings};
use waymark_persistence::{commit, end_read, TenantScope};

#[derive(Serialize, ToSchema)]
pub struct LedgerSettings {
    /// Whether approvals may take the programme fund below zero.
    pub fund_overdraft_allowed: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerSettingsBody {
    pub fund_overdraft_allowed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Account {
    pub id: Uuid,
    /// `commissioner`, `fund`, `payable` (one per provider) or `paid_out`.
    #[schema(example = "fund")]
    pub kind: String,
    pub organisation_id: Option<Uuid>,
    pub organisation_name: Option<String>,
    pub debits: Money,
    pub credits: Money,
    /// Credits less debits.
    pub balance: Money,
}

impl From<AccountRecord> for Account {
    fn from(r: AccountRecord) -> Self {
        Self {
            id: r.id,
            kind: r.kind.code().to_owned(),
            organisation_id: r.organisation_id,
            balance: Money::pence(r.balance().0),
            organisation_name: r.organisation_name,
            debits: Money::pence(r.debits.0),
            credits: Money::pence(r.credits.0),
        }
    }
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpBody {
    /// Pence paid into the programme fund by the commissioner.
    #[schema(example = 5000000, minimum = 1, maximum = 1000000000)]
    pub amount_pence: i64,
    /// E.g. the commissioner's remittance or purchase-order number.
    #[schema(format = "lines", example = "ICB PO 4471", max_length = 200)]
    pub reference: String,
}

#[derive(Serialize, ToSchema)]
pub struct LedgerTransfer {
    pub id: Uuid,
    /// `top_up`, `charge_approval`, `charge_reversal` or `payment`.
    #[schema(example = "top_up")]
    pub kind: String,
    pub amount: Money,
    pub charge_id: Option<Uuid>,
    pub payment_run_id: Option<Uuid>,
    pub description: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<TransferRecord> for LedgerTransfer {
    fn from(r: TransferRecord) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            amount: Money::pence(r.amount_pence),
            charge_id: r.charge_id,
            payment_run_id: r.payment_run_id,
            description: r.description,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AccountReconciliation {
    pub account_id: Uuid,
    /// The running balance kept on the account.
    pub running: Money,
    /// The balance recomputed from every entry.
    pub recomputed: Money,
}

#[derive(Serialize, ToSchema)]
pub struct Reconciliation {
    /// True when every account's running balance equals its entries' sum and all balances sum
    /// to zero.
    pub balanced: bool,
    /// The sum of every account's balance: zero in a double-entry ledger.
    pub sum_of_balances: Money,
    pub accounts: Vec<AccountReconciliation>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TransferQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The federation's ledger settings, with their `ETag` (federation administrators).
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    responses((status = 200, description = "The settings", body = LedgerSettings, headers(("ETag" = String))))
)]
#[get("/ledger/settings")]
pub async fn get_settings(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let federation = whole_ledger(&caller)?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let found = settings::find(&mut tx, federation).await?;
    end_read(tx);
    Ok(
        with_etag(HttpResponse::Ok(), found.version).json(LedgerSettings {
            fund_overdraft_allowed: found.fund_overdraft_allowed,
        }),
    )
}

/// Changes the ledger settings (federation administrators). Needs `If-Match`.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(IfMatchHeader),
    request_body = LedgerSettingsBody,
    responses((status = 200, description = "Changed", body = LedgerSettings, headers(("ETag" = String))))
)]
#[patch("/ledger/settings")]
pub async fn update_settings(
    state: web::Data<AppState>,
    caller: Caller,
    if_match: IfMatch,
    body: JsonBody<LedgerSettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = administration(&caller)?;
    let expected = if_match.version()?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let changed = settings::update(
        &mut tx,
        federation,
        expected,
        body.0.fund_overdraft_allowed,
        caller.subject,
    )
    .await?;
    commit(tx).await?;
    Ok(
        with_etag(HttpResponse::Ok(), changed.version).json(LedgerSettings {
            fund_overdraft_allowed: changed.fund_overdraft_allowed,
        }),
    )
}

/// Every account of the federation's ledger with its balance (federation administrators).
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    responses((status = 200, description = "The accounts", body = Vec<Account>))
)]
#[get("/ledger/accounts")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let federation = whole_ledger(&caller)?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    // The three federation accounts exist from the first look, so they always show.
    for kind in [
        AccountKind::Commissioner,
        AccountKind::Fund,
        AccountKind::PaidOut,
    ] {
        accounts::account_id(&mut tx, federation, kind, None).await?;
    }
    let rows = accounts::list(&mut tx, federation).await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(Account::from).collect::<Vec<_>>()))
}

/// Pays commissioner funding into the programme fund (federation administrators). Needs an
/// `Idempotency-Key`: a retry answers with the first response and moves nothing.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(MoneyKey),
    request_body = TopUpBody,
    responses(
        (status = 201, description = "Posted", body = LedgerTransfer),
        (status = 422, description = "Invalid amount or reference, or the key was used for another request (`idempotency_key_reused`)"),
    )
)]
#[post("/ledger/top-ups")]
pub async fn top_up(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: IdempotencyKey,
    body: JsonBody<TopUpBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = administration(&caller)?;
    let money = MoneyRequest::new(
        key,
        "top_up",
        req.path(),
        &body.0,
        caller.subject,
        federation,
    )?;
    let mut errors = ValidationErrors::new();
    let amount = errors.check("amount_pence", Pence::positive(body.0.amount_pence));
    let reference = errors.check("reference", long_text(&body.0.reference, 200));
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let (amount, reference) = (amount.expect("checked"), reference.expect("checked"));
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    if let Some(first) = money.claim(&mut tx).await? {
        commit(tx).await?;
        return Ok(first);
    }
    let posted = LedgerTransfer::from(
        funding::top_up(&mut tx, federation, amount, &reference, caller.subject).await?,
    );
    let response = money.respond(&mut tx, StatusCode::CREATED, &posted).await?;
    commit(tx).await?;
    Ok(response)
}

/// The federation's transfers, newest first (federation administrators).
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(TransferQuery),
    responses((status = 200, description = "A page of transfers", body = Page<LedgerTransfer>))
)]
#[get("/ledger/transfers")]
pub async fn list_transfers(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<TransferQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = whole_ledger(&caller)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = state.begin_search(TenantScope::of(&caller)).await?;
    let rows = accounts::transfers(&mut tx, federation, page.after, page.probe()).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, LedgerTransfer::from)))
}

/// Recomputes every account's balance from its entries and compares it with the running
/// balance (federation administrators).
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    responses((status = 200, description = "The reconciliation", body = Reconciliation))
)]
#[get("/ledger/reconciliation")]
pub async fn reconciliation(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let federation = whole_ledger(&caller)?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let rows = accounts::reconcile(&mut tx, federation).await?;
    end_read(tx);
    let sum: i64 = rows.iter().map(|(_, running, _)| running.0).sum();
    Ok(HttpResponse::Ok().json(Reconciliation {
        balanced: sum == 0
            && rows
                .iter()
                .all(|(_, running, recomputed)| running == recomputed),
        sum_of_balances: Money::pence(sum),
        accounts: rows
            .into_iter()
            .map(|(account_id, running, recomputed)| AccountReconciliation {
                account_id,
                running: Money::pence(running.0),
                recomputed: Money::pence(recomputed.0),
            })
            .collect(),
    }))
}
