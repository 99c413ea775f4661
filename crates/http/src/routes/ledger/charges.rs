//! Charges for activities delivered: listed for administrators (and providers, their own),
//! approved or rejected singly or in bulk, and reversed while unpaid.

use super::{administration, view};
use crate::auth::Caller;
use crate::idempotency::{key_reused, replayed, IdempotencyKey, MoneyKey, MoneyRequest};
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
use waymark_domain::directory::contact::long_text;
use waymark_domain::ledger::access::LedgerView;
use waymark_domain::ledger::ChargeStatus;
use waymark_domain::{OrganisationId, ValidationErrors};
use waymark_persistence::ledger::approvals::ApprovalOutcome;
use waymark_persistence::ledger::charges::{self, ChargeFilter, ChargeRecord};
use waymark_persistence::ledger::decisions::{self, Decided, DecisionError};
use waymark_persistence::{commit, end_read, TenantScope};

/// The most charges one decision may cover.
const BATCH_MAX: usize = 1000;

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Charge {
    pub id: Uuid,
    pub activity_id: Uuid,
    pub practice_id: Uuid,
    pub organisation_id: Uuid,
    pub service_id: Uuid,
    pub tariff_id: Uuid,
    pub activity_type: String,
    pub delivered_on: NaiveDate,
    pub quantity: i32,
    pub unit_pence: i64,
    pub amount_pence: i64,
    #[schema(example = "GBP")]
    pub currency: String,
    #[schema(schema_with = crate::schemas::charge_status)]
    pub status: String,
    pub approval_transfer_id: Option<Uuid>,
    pub reversal_transfer_id: Option<Uuid>,
    pub remittance_id: Option<Uuid>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it was rejected or reversed.
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<ChargeRecord> for Charge {
    fn from(r: ChargeRecord) -> Self {
        Self {
            id: r.id,
            activity_id: r.activity_id,
            practice_id: r.practice_id,
            organisation_id: r.organisation_id,
            service_id: r.service_id,
            tariff_id: r.tariff_id,
            activity_type: r.activity_type,
            delivered_on: r.delivered_on,
            quantity: r.quantity,
            unit_pence: r.unit_pence,
            amount_pence: r.amount_pence,
            currency: waymark_domain::ledger::money::CURRENCY.to_owned(),
            status: r.status.code().to_owned(),
            approval_transfer_id: r.approval_transfer_id,
            reversal_transfer_id: r.reversal_transfer_id,
            remittance_id: r.remittance_id,
            decided_by: r.decided_by,
            decided_at: r.decided_at,
            reason: r.reason,
            created_at: r.created_at,
        }
    }
}

#[derive(Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionsBody {
    pub decision: Decision,
    /// One to 1,000 pending charges, decided together: all or none.
    #[schema(min_items = 1, max_items = 1000)]
    pub charge_ids: Vec<Uuid>,
    /// Required when rejecting.
    #[schema(format = "lines-or-blank", max_length = 1000)]
    pub reason: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    pub decision: Decision,
    /// Required when rejecting.
    #[schema(format = "lines-or-blank", max_length = 1000)]
    pub reason: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReversalBody {
    /// Why the approval is taken back.
    #[schema(format = "lines", max_length = 1000)]
    pub reason: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DecisionResult {
    /// The transfer that moved the money, for approvals and reversals; `null` for a rejection,
    /// and for an approval of several providers' charges, which moves each provider's money in
    /// a transfer of its own (each charge's `approval_transfer_id` names it).
    pub transfer_id: Option<Uuid>,
    /// The total moved.
    pub amount_pence: i64,
    pub charges: Vec<Charge>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChargeQuery {
    /// Only charges with this status.
    #[param(schema_with = crate::schemas::charge_status)]
    pub status: Option<String>,
    /// Administrators: one provider organisation's charges.
    pub organisation_id: Option<Uuid>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn reason_for(errors: &mut ValidationErrors, reason: Option<&str>) -> Option<String> {
    match reason.filter(|r| !r.trim().is_empty()) {
        Some(reason) => errors.check("reason", long_text(reason, 1000)),
        None => {
            errors.add("reason", "required", "say why");
            None
        }
    }
}

impl From<DecisionError> for ApiError {
    fn from(error: DecisionError) -> Self {
        match error {
            DecisionError::UnknownCharge(id) => ApiError::Validation(ValidationErrors::single(
                "charge_ids",
                "not_found",
                format!("no charge {id} in this federation"),
            )),
            DecisionError::IllegalTransition { charge, from, to } => ApiError::illegal_transition(
                format!("charge {charge} is {from} and cannot become {to}"),
                from,
            ),
            DecisionError::Overflow => ApiError::Unprocessable {
                code: "batch_too_large",
                detail: "the charges' total overflows".into(),
            },
            DecisionError::Post(e) => e.into(),
        }
    }
}

impl From<Decided> for DecisionResult {
    fn from(d: Decided) -> Self {
        Self {
            transfer_id: d.transfer_id,
            amount_pence: d.amount.0,
            charges: d.charges.into_iter().map(Charge::from).collect(),
        }
    }
}

/// The reason given with a decision: required to reject, optional to approve.
fn decision_reason(
    errors: &mut ValidationErrors,
    decision: Decision,
    reason: Option<&str>,
) -> Option<String> {
    match decision {
        Decision::Reject => reason_for(errors, reason),
        Decision::Approve => reason
            .filter(|r| !r.trim().is_empty())
            .and_then(|r| errors.check("reason", long_text(r, 1000))),
    }
}

/// Renders a decision as the response kept for its `Idempotency-Key`.
pub fn render_decision(decided: &Decided) -> serde_json::Value {
    serde_json::to_value(DecisionResult::from(decided.clone())).unwrap_or(serde_json::Value::Null)
}

/// Approves the distinct charges `ids`, all or none, together with whatever other approvals of
/// the federation are waiting (one transaction, one commit for them all), or rejects them in a
/// transaction of their own; either way the answer is kept for retries. `single` is the charge
/// of `POST …/charges/{id}/decision`, whose unknown id is a 404 rather than a field error.
async fn decide(
    state: &AppState,
    caller: &Caller,
    money: MoneyRequest,
    ids: Vec<Uuid>,
    decision: Decision,
    reason: Option<String>,
    single: bool,
) -> Result<HttpResponse, ApiError> {
    let federation = administration(caller)?;
    match (decision, reason) {
        (Decision::Approve, reason) => {
            let outcome = state
                .approvals
                .approve(
                    TenantScope::of(caller),
                    federation,
                    money.approval_request(ids, reason),
                )
                .await?;
            match outcome {
                ApprovalOutcome::Approved(body) => Ok(HttpResponse::Ok().json(body)),
                ApprovalOutcome::Replayed { status, body } => Ok(replayed(status, body)),
                ApprovalOutcome::KeyReused => Err(key_reused()),
                ApprovalOutcome::Refused(DecisionError::UnknownCharge(_)) if single => {
                    Err(ApiError::NotFound)
                }
                ApprovalOutcome::Refused(refused) => Err(refused.into()),
            }
        }
        (Decision::Reject, Some(reason)) => {
            let mut tx = state.begin(TenantScope::of(caller)).await?;
            if let Some(first) = money.claim(&mut tx).await? {
                commit(tx).await?;
                return Ok(first);
            }
            if single {
                charges::find(&mut tx, federation, ids[0]).await?;
            }
            let result = DecisionResult::from(
                decisions::reject(&mut tx, federation, &ids, &reason, caller.subject).await?,
            );
            let response = money.respond(&mut tx, StatusCode::OK, &result).await?;
            commit(tx).await?;
            Ok(response)
        }
        (Decision::Reject, None) => {
            Err(ValidationErrors::single("reason", "required", "say why").into())
        }
    }
}

/// Approves or rejects pending charges, one or many at once, all or none (federation
/// administrators). Approval posts fund → provider payable; if the fund cannot pay and no
/// overdraft is allowed, nothing is decided and the answer is `409 insufficient_funds` with the
/// shortfall. Needs an `Idempotency-Key`.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(MoneyKey),
    request_body = DecisionsBody,
    responses(
        (status = 200, description = "Decided", body = DecisionResult),
        (status = 409, description = "A charge is not pending (`illegal_transition`), or the fund is short (`insufficient_funds`, with `shortfall_pence`)"),
    )
)]
#[post("/ledger/charges/decisions")]
pub async fn decide_charges(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    key: IdempotencyKey,
    body: JsonBody<DecisionsBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = administration(&caller)?;
    let money = MoneyRequest::new(
        key,
        "charge_decisions",
        req.path(),
        &body.0,
        caller.subject,
        federation,
    )?;
    let b = body.0;
    let mut errors = ValidationErrors::new();
    let mut ids = b.charge_ids;
    ids.sort();
    ids.dedup();
    if ids.is_empty() || ids.len() > BATCH_MAX {
        errors.add(
            "charge_ids",
            "out_of_range",
            format!("decide 1 to {BATCH_MAX} charges at a time"),
        );
    }
    let reason = decision_reason(&mut errors, b.decision, b.reason.as_deref());
    if !errors.is_empty() {
        return Err(errors.into());
    }
    decide(&state, &caller, money, ids, b.decision, reason, false).await
}

/// Approves or rejects one pending charge (federation administrators); as
/// `POST /v1/ledger/charges/decisions` for a single charge. Needs an `Idempotency-Key`.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(
        ("charge_id" = Uuid, Path, description = "The charge"),
        MoneyKey,
    ),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Decided", body = DecisionResult),
        (status = 409, description = "Not pending (`illegal_transition`), or the fund is short (`insufficient_funds`)"),
    )
)]
#[post("/ledger/charges/{charge_id}/decision")]
pub async fn decide_charge(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    key: IdempotencyKey,
    body: JsonBody<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = administration(&caller)?;
    let id = path.into_inner();
    let money = MoneyRequest::new(
        key,
        "charge_decision",
        req.path(),
        &body.0,
        caller.subject,
        federation,
    )?;
    let mut errors = ValidationErrors::new();
    let reason = decision_reason(&mut errors, body.0.decision, body.0.reason.as_deref());
    if !errors.is_empty() {
        return Err(errors.into());
    }
    decide(
        &state,
        &caller,
        money,
        vec![id],
        body.0.decision,
        reason,
        true,
    )
    .await
}

/// Takes back an approved charge that has not been paid (federation administrators): a
/// reversing transfer (provider payable → fund); nothing is ever deleted. Needs an
/// `Idempotency-Key`.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(
        ("charge_id" = Uuid, Path, description = "The charge"),
        MoneyKey,
    ),
    request_body = ReversalBody,
    responses(
        (status = 200, description = "Reversed", body = DecisionResult),
        (status = 409, description = "Not approved, or already paid (`illegal_transition`)"),
    )
)]
#[post("/ledger/charges/{charge_id}/reversal")]
pub async fn reverse_charge(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    key: IdempotencyKey,
    body: JsonBody<ReversalBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = administration(&caller)?;
    let id = path.into_inner();
    let money = MoneyRequest::new(
        key,
        "charge_reversal",
        req.path(),
        &body.0,
        caller.subject,
        federation,
    )?;
    let mut errors = ValidationErrors::new();
    let Some(reason) = reason_for(&mut errors, Some(&body.0.reason)) else {
        return Err(errors.into());
    };
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    if let Some(first) = money.claim(&mut tx).await? {
        commit(tx).await?;
        return Ok(first);
    }
    charges::find(&mut tx, federation, id).await?;
    let result = DecisionResult::from(
        decisions::reverse(&mut tx, federation, id, &reason, caller.subject).await?,
    );
    let response = money.respond(&mut tx, StatusCode::OK, &result).await?;
    commit(tx).await?;
    Ok(response)
}

/// Charges, oldest first: the federation's for administrators, a provider's own for providers.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(ChargeQuery),
    responses((status = 200, description = "A page of charges", body = Page<Charge>))
)]
#[get("/ledger/charges")]
pub async fn list_charges(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ChargeQuery>,
) -> Result<HttpResponse, ApiError> {
    let (federation, view) = view(&caller)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let status = query
        .status
        .as_deref()
        .map(str::parse::<ChargeStatus>)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query_parameter", format!("status: {e}")))?;
    let organisation = match view {
        LedgerView::Provider(own) => Some(own.as_uuid()),
        _ => query.organisation_id,
    };
    let mut tx = state.begin_search(TenantScope::of(&caller)).await?;
    let rows = charges::list(
        &mut tx,
        federation,
        ChargeFilter {
            status,
            organisation,
        },
        page.after,
        page.probe(),
    )
    .await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, Charge::from)))
}

/// One charge.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(("charge_id" = Uuid, Path, description = "The charge")),
    responses((status = 200, description = "The charge", body = Charge))
)]
#[get("/ledger/charges/{charge_id}")]
pub async fn get_charge(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (federation, view) = view(&caller)?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let record = charges::find(&mut tx, federation, path.into_inner()).await?;
    end_read(tx);
    if !view.sees(OrganisationId::from(record.organisation_id)) {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::Ok().json(Charge::from(record)))
}
