//! Clawbacks: correcting a charge found wrong after it was paid (a duplicate delivery, a wrong
//! tariff) with a new transfer, recovered from the provider's next payments.

use super::{administration, view};
use crate::auth::Caller;
use crate::idempotency::{IdempotencyKey, MoneyKey, MoneyRequest};
use crate::json_body::JsonBody;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::directory::contact::long_text;
use waymark_domain::ledger::access::LedgerView;
use waymark_domain::ledger::clawback::ClawbackRefused;
use waymark_domain::ledger::Pence;
use waymark_domain::{OrganisationId, ValidationErrors};
use waymark_persistence::ledger::clawbacks::{self, ClawbackError, ClawbackRecord};
use waymark_persistence::{commit, end_read, TenantScope};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Clawback {
    pub id: Uuid,
    /// The paid charge clawed back.
    pub charge_id: Uuid,
    pub organisation_id: Uuid,
    /// How much of the charge is clawed back.
    pub amount_pence: i64,
    /// How much payment runs have netted off so far.
    pub recovered_pence: i64,
    /// What the provider still owes of it.
    pub outstanding_pence: i64,
    #[schema(example = "GBP")]
    pub currency: String,
    pub reason: String,
    /// The transfer that raised it (provider recoverable → fund).
    pub transfer_id: Uuid,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<ClawbackRecord> for Clawback {
    fn from(r: ClawbackRecord) -> Self {
        Self {
            id: r.id,
            charge_id: r.charge_id,
            organisation_id: r.organisation_id,
            amount_pence: r.amount_pence,
            recovered_pence: r.recovered_pence,
            outstanding_pence: r.amount_pence - r.recovered_pence,
            currency: waymark_domain::ledger::money::CURRENCY.to_owned(),
            reason: r.reason,
            transfer_id: r.transfer_id,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClawbackBody {
    /// How much to claw back; all that is left of the charge when absent.
    #[schema(minimum = 1)]
    pub amount_pence: Option<i64>,
    /// Why, e.g. "duplicate delivery" or "priced at the wrong tariff".
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClawbackQuery {
    /// Administrators: one provider organisation's clawbacks (a provider sees only its own).
    pub organisation_id: Option<Uuid>,
    /// One charge's clawbacks.
    pub charge_id: Option<Uuid>,
    /// Only those the provider still owes something of.
    pub outstanding: Option<bool>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl From<ClawbackError> for ApiError {
    fn from(error: ClawbackError) -> Self {
        match error {
            ClawbackError::NotPaid(status) => {
                ApiError::illegal_transition(error.to_string(), status)
            }
            ClawbackError::Refused(ClawbackRefused::NothingLeft) => ApiError::Conflict {
                code: "already_clawed_back",
                detail: "the charge has been clawed back in full already".into(),
            },
            ClawbackError::Refused(refused) => ApiError::Validation(ValidationErrors::single(
                "amount_pence",
                "out_of_range",
                refused.to_string(),
            )),
            ClawbackError::Post(e) => e.into(),
        }
    }
}

/// Claws back a paid charge, in full or in part, with a reason (federation administrators).
/// Nothing is edited: a clawback transfer makes the provider owe the amount back (provider
/// recoverable → fund), and the provider's next payment runs net it off what they pay. Needs an
/// `Idempotency-Key`.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(
        ("charge_id" = Uuid, Path, description = "The paid charge"),
        MoneyKey,
    ),
    request_body = ClawbackBody,
    responses(
        (status = 201, description = "Clawed back", body = Clawback),
        (status = 409, description = "The charge is not paid (`illegal_transition`: an approved charge is reversed instead), or nothing is left of it to claw back (`already_clawed_back`)"),
        (status = 422, description = "The amount is more than is left of the charge, or not positive (`validation_failed` on `amount_pence`)"),
    )
)]
#[post("/ledger/charges/{charge_id}/clawbacks")]
pub async fn claw_back_charge(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    key: IdempotencyKey,
    body: JsonBody<ClawbackBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = administration(&caller)?;
    let charge = path.into_inner();
    let money = MoneyRequest::new(
        key,
        "charge_clawback",
        req.path(),
        &body.0,
        caller.subject,
        federation,
    )?;
    let mut errors = ValidationErrors::new();
    let reason = if body.0.reason.trim().is_empty() {
        errors.add("reason", "required", "say why the charge is clawed back");
        None
    } else {
        errors.check("reason", long_text(&body.0.reason, 1000))
    };
    if body.0.amount_pence.is_some_and(|p| p < 1) {
        errors.add("amount_pence", "out_of_range", "claw back at least 1p");
    }
    let Some(reason) = reason.filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    if let Some(first) = money.claim(&mut tx).await? {
        commit(tx).await?;
        return Ok(first);
    }
    let raised = clawbacks::raise(
        &mut tx,
        federation,
        charge,
        body.0.amount_pence.map(Pence),
        &reason,
        caller.subject,
    )
    .await?;
    let response = money
        .respond(&mut tx, StatusCode::CREATED, &Clawback::from(raised))
        .await?;
    commit(tx).await?;
    Ok(response)
}

/// Clawbacks, oldest first, with what is still owed of each: the federation's for
/// administrators, a provider's own for providers.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(ClawbackQuery),
    responses((status = 200, description = "A page of clawbacks", body = Page<Clawback>))
)]
#[get("/ledger/clawbacks")]
pub async fn list_clawbacks(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ClawbackQuery>,
) -> Result<HttpResponse, ApiError> {
    let (federation, view) = view(&caller)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let organisation = match view {
        LedgerView::Provider(own) => Some(own.as_uuid()),
        _ => query.organisation_id,
    };
    let mut tx = state.begin_search(TenantScope::of(&caller)).await?;
    let rows = clawbacks::list(
        &mut tx,
        federation,
        organisation,
        query.charge_id,
        query.outstanding.unwrap_or(false),
        page.after,
        page.probe(),
    )
    .await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, Clawback::from)))
}

/// One clawback.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(("clawback_id" = Uuid, Path, description = "The clawback")),
    responses((status = 200, description = "The clawback", body = Clawback))
)]
#[get("/ledger/clawbacks/{clawback_id}")]
pub async fn get_clawback(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (federation, view) = view(&caller)?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let record = clawbacks::find(&mut tx, federation, path.into_inner()).await?;
    end_read(tx);
    if !view.sees(OrganisationId::from(record.organisation_id)) {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::Ok().json(Clawback::from(record)))
}
