//! Payment runs and the remittances they produce.

use super::charges::Charge;
use super::{administration, view, whole_ledger, Money};
use crate::auth::Caller;
use crate::idempotency::{IdempotencyKey, MoneyKey, MoneyRequest};
use crate::json_body::JsonBody;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::ledger::access::LedgerView;
use waymark_domain::{OrganisationId, ValidationErrors};
use waymark_persistence::ledger::payment_runs::{self, PaymentRunRecord, RemittanceRecord};
use waymark_persistence::ledger::{charges, clawbacks};
use waymark_persistence::{commit, end_read, TenantScope};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Remittance {
    pub id: Uuid,
    pub payment_run_id: Uuid,
    pub organisation_id: Uuid,
    pub organisation_name: String,
    /// The transfer that paid it (provider payable → paid out, and → the provider's
    /// recoverable account for what was netted off).
    pub transfer_id: Uuid,
    /// What was paid: `gross_pence` less `recovered_pence`; never below zero.
    pub amount_pence: i64,
    /// What the charges came to.
    pub gross_pence: i64,
    /// What was netted off for clawbacks the provider owed.
    pub recovered_pence: i64,
    pub charge_count: i32,
    pub created_at: DateTime<Utc>,
}

impl From<RemittanceRecord> for Remittance {
    fn from(r: RemittanceRecord) -> Self {
        Self {
            id: r.id,
            payment_run_id: r.payment_run_id,
            organisation_id: r.organisation_id,
            organisation_name: r.organisation_name,
            transfer_id: r.transfer_id,
            amount_pence: r.amount_pence,
            gross_pence: r.gross_pence,
            recovered_pence: r.recovered_pence,
            charge_count: r.charge_count,
            created_at: r.created_at,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PaymentRun {
    pub id: Uuid,
    /// Approved charges for activities delivered on or before this day were paid.
    pub cut_off: NaiveDate,
    /// What was paid out, after netting off clawbacks.
    pub total_pence: i64,
    /// What was recovered for clawbacks.
    pub recovered_pence: i64,
    pub charge_count: i32,
    pub provider_count: i32,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    /// One per provider paid.
    pub remittances: Vec<Remittance>,
}

impl PaymentRun {
    fn new(r: PaymentRunRecord, remittances: Vec<RemittanceRecord>) -> Self {
        Self {
            id: r.id,
            cut_off: r.cut_off,
            total_pence: r.total_pence,
            recovered_pence: r.recovered_pence,
            charge_count: r.charge_count,
            provider_count: r.provider_count,
            created_by: r.created_by,
            created_at: r.created_at,
            remittances: remittances.into_iter().map(Remittance::from).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RemittanceDetail {
    #[serde(flatten)]
    pub remittance: Remittance,
    /// What was paid.
    pub total: Money,
    /// The charges paid: one per activity.
    pub charges: Vec<Charge>,
    /// The clawbacks netted off, and how much of each.
    pub recoveries: Vec<RemittanceRecovery>,
}

#[derive(Serialize, ToSchema)]
pub struct RemittanceRecovery {
    pub clawback_id: Uuid,
    /// The charge clawed back.
    pub charge_id: Uuid,
    pub amount_pence: i64,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRunBody {
    /// Pay approved charges for activities delivered on or before this day (not after today).
    pub cut_off: NaiveDate,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Pays every provider its approved charges up to the cut-off, in one transaction, with a
/// remittance per provider (federation administrators), netting off what a provider owes back
/// for clawbacks, oldest first: a remittance never pays less than nothing, and what is not
/// recovered waits for the provider's next run. Needs an `Idempotency-Key`: a retry
/// answers with the first run; a charge is paid by one run only, even when runs overlap.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(MoneyKey),
    request_body = PaymentRunBody,
    responses((status = 201, description = "Paid", body = PaymentRun))
)]
#[post("/ledger/payment-runs")]
pub async fn create_payment_run(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: IdempotencyKey,
    body: JsonBody<PaymentRunBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = administration(&caller)?;
    let money = MoneyRequest::new(
        key,
        "payment_run",
        req.path(),
        &body.0,
        caller.subject,
        federation,
    )?;
    if body.0.cut_off > Utc::now().date_naive() {
        return Err(ApiError::Validation(ValidationErrors::single(
            "cut_off",
            "in_future",
            "a payment run pays what has been delivered: the cut-off is today at the latest",
        )));
    }
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    if let Some(first) = money.claim(&mut tx).await? {
        commit(tx).await?;
        return Ok(first);
    }
    let run = payment_runs::run(
        &mut tx,
        federation,
        uuid::Uuid::now_v7(),
        body.0.cut_off,
        caller.subject,
    )
    .await?;
    let remittances = payment_runs::remittances(&mut tx, federation, Some(run.id), None).await?;
    let response = money
        .respond(
            &mut tx,
            StatusCode::CREATED,
            &PaymentRun::new(run, remittances),
        )
        .await?;
    commit(tx).await?;
    Ok(response)
}

/// The federation's payment runs, newest first (federation administrators).
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(RunQuery),
    responses((status = 200, description = "A page of payment runs, without their remittances", body = Page<PaymentRun>))
)]
#[get("/ledger/payment-runs")]
pub async fn list_payment_runs(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<RunQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = whole_ledger(&caller)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = state.begin_search(TenantScope::of(&caller)).await?;
    let rows = payment_runs::list(&mut tx, federation, page.after, page.probe()).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, |r| PaymentRun::new(r, Vec::new()))))
}

/// One payment run with its remittances (federation administrators).
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(("payment_run_id" = Uuid, Path, description = "The payment run")),
    responses((status = 200, description = "The payment run", body = PaymentRun))
)]
#[get("/ledger/payment-runs/{payment_run_id}")]
pub async fn get_payment_run(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let federation = whole_ledger(&caller)?;
    let id = path.into_inner();
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let run = payment_runs::find(&mut tx, federation, id).await?;
    let remittances = payment_runs::remittances(&mut tx, federation, Some(id), None).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(PaymentRun::new(run, remittances)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemittanceQuery {
    /// Only this provider's (administrators; a provider always sees only its own).
    pub organisation_id: Option<Uuid>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Remittances across payment runs, newest first: all for administrators, a provider's own for
/// providers.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(RemittanceQuery),
    responses((status = 200, description = "A page of remittances", body = Page<Remittance>))
)]
#[get("/ledger/remittances")]
pub async fn list_remittances(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<RemittanceQuery>,
) -> Result<HttpResponse, ApiError> {
    let (federation, view) = view(&caller)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let organisation = match view {
        LedgerView::Provider(own) => Some(own.as_uuid()),
        _ => query.organisation_id,
    };
    let mut tx = state.begin_search(TenantScope::of(&caller)).await?;
    let rows =
        payment_runs::list_remittances(&mut tx, federation, organisation, page.after, page.probe())
            .await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, Remittance::from)))
}

/// One remittance with every charge (activity) it paid.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(("remittance_id" = Uuid, Path, description = "The remittance")),
    responses((status = 200, description = "The remittance", body = RemittanceDetail))
)]
#[get("/ledger/remittances/{remittance_id}")]
pub async fn get_remittance(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (federation, view) = view(&caller)?;
    let id = path.into_inner();
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let remittance = payment_runs::remittance(&mut tx, federation, id).await?;
    if !view.sees(OrganisationId::from(remittance.organisation_id)) {
        return Err(ApiError::NotFound);
    }
    let paid = charges::of_remittance(&mut tx, federation, id).await?;
    let recovered = clawbacks::recovered_by(&mut tx, federation, id).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(RemittanceDetail {
        total: Money::pence(remittance.amount_pence),
        remittance: Remittance::from(remittance),
        charges: paid.into_iter().map(Charge::from).collect(),
        recoveries: recovered
            .into_iter()
            .map(|r| RemittanceRecovery {
                clawback_id: r.clawback_id,
                charge_id: r.charge_id,
                amount_pence: r.amount_pence,
            })
            .collect(),
    }))
}
