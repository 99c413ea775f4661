//! The provider's side of onward referrals: a provider organisation sees only the onward
//! referrals made to its own services, and of the patient only what the patient consented to
//! share; it accepts or declines them, records the activities it delivers (what the payment
//! ledger pays for) and raises safeguarding concerns with the practice.

use crate::auth::Caller;
use crate::idempotency::{key_reused, request_hash, IdempotencyKey, MoneyKey};
use crate::json_body::JsonBody;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::routes::pathway::actor;
use crate::state::AppState;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::ledger::Pence;
use waymark_domain::pathway::access::may_act_as_provider;
use waymark_domain::pathway::onward::{
    decline_reason, ActivityRefused, NewActivity, OnwardReferralState,
};
use waymark_domain::pathway::safeguarding::{ConcernStatus, NewConcern};
use waymark_domain::{FederationId, OrganisationId, PracticeId, ValidationErrors};
use waymark_persistence::audit::{self, Access, Action};
use waymark_persistence::idempotency::{self, Claim, IdempotentRequest};
use waymark_persistence::ledger::charges::{self, NewCharge};
use waymark_persistence::ledger::tariffs;
use waymark_persistence::pathway::onward::{self, ActivityRecord, ProviderOnwardRecord};
use waymark_persistence::pathway::safeguarding::{self, Raiser};
use waymark_persistence::{commit, TenantScope, Tx};

/// What the patient agreed to share; absent fields were not shared.
#[derive(Serialize, ToSchema)]
pub struct SharedPatient {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProviderOnwardReferral {
    pub id: Uuid,
    /// The referring practice.
    pub practice_id: Uuid,
    pub service_id: Uuid,
    pub service_name: String,
    #[schema(schema_with = crate::schemas::onward_state)]
    pub state: OnwardReferralState,
    /// From the volunteer or clinician who referred.
    pub note: Option<String>,
    pub decline_reason: Option<String>,
    pub patient: SharedPatient,
    pub responded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<ProviderOnwardRecord> for ProviderOnwardReferral {
    fn from(r: ProviderOnwardRecord) -> Self {
        let o = r.onward;
        Self {
            id: o.id,
            practice_id: o.practice_id,
            service_id: o.service_id,
            service_name: o.service_name,
            state: o.state,
            note: o.note,
            decline_reason: o.decline_reason,
            patient: SharedPatient {
                given_name: r.given_name,
                family_name: r.family_name,
                phone: r.phone,
                email: r.email,
            },
            responded_at: o.responded_at,
            created_at: o.created_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProviderListQuery {
    /// Only onward referrals in this state, e.g. `pending` for the ones awaiting an answer.
    #[param(schema_with = crate::schemas::onward_state)]
    pub state: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderTransitionBody {
    /// `accepted`, `declined` (with a reason) or `completed`.
    #[schema(schema_with = crate::schemas::onward_state)]
    pub to: OnwardReferralState,
    /// Required when declining; shown to the practice.
    #[schema(format = "lines", max_length = 1000)]
    pub reason: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewActivityBody {
    /// What was delivered, as a code the federation's tariffs price, e.g. `session_attended`.
    #[schema(example = "session_attended", pattern = "^[a-z][a-z0-9_]{0,49}$")]
    pub activity_type: String,
    /// Not in the future, nor more than a year ago.
    pub delivered_on: NaiveDate,
    /// How many (sessions, hours…), 1 to 100; defaults to 1.
    #[schema(minimum = 1, maximum = 100)]
    pub quantity: Option<i64>,
    #[schema(format = "lines-or-blank", max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Activity {
    pub id: Uuid,
    pub onward_referral_id: Uuid,
    pub service_id: Uuid,
    pub activity_type: String,
    pub delivered_on: NaiveDate,
    pub quantity: i32,
    pub note: Option<String>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

impl From<ActivityRecord> for Activity {
    fn from(r: ActivityRecord) -> Self {
        Self {
            id: r.id,
            onward_referral_id: r.onward_referral_id,
            service_id: r.service_id,
            activity_type: r.activity_type,
            delivered_on: r.delivered_on,
            quantity: r.quantity,
            note: r.note,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConcernBody {
    /// One line, at most 200 characters.
    #[schema(format = "line", max_length = 200)]
    pub summary: String,
    /// What happened and what was done; at most 4,000 characters.
    #[schema(format = "lines", max_length = 4000)]
    pub details: String,
}

/// A concern as the provider that raised it sees it.
#[derive(Serialize, ToSchema)]
pub struct RaisedConcern {
    pub id: Uuid,
    pub onward_referral_id: Uuid,
    pub summary: String,
    #[schema(schema_with = crate::schemas::concern_status)]
    pub status: ConcernStatus,
    pub raised_at: DateTime<Utc>,
}

struct ProviderCaller {
    federation: FederationId,
    organisation: OrganisationId,
}

fn provider(caller: &Caller) -> Result<ProviderCaller, ApiError> {
    match (caller.federation_id, caller.organisation_id) {
        (Some(federation), Some(organisation)) if may_act_as_provider(caller) => {
            Ok(ProviderCaller {
                federation,
                organisation,
            })
        }
        _ => Err(ApiError::Forbidden(
            "these routes are for provider users, who act for their organisation",
        )),
    }
}

fn access(record: &ProviderOnwardRecord) -> Access {
    Access {
        practice: PracticeId::from(record.onward.practice_id),
        patient: record.onward.patient_id,
        resource_type: "onward_referral",
        resource: record.onward.id,
    }
}

async fn read(
    tx: &mut Tx,
    who: &ProviderCaller,
    actor: &audit::Actor,
    id: Uuid,
) -> Result<ProviderOnwardRecord, ApiError> {
    let record = onward::provider_find(tx, who.federation, who.organisation, id).await?;
    audit::record(tx, who.federation, actor, Action::Read, &[access(&record)]).await?;
    Ok(record)
}

/// The onward referrals made to the caller's organisation, oldest first (providers).
#[utoipa::path(
    tag = "provider",
    security(("bearer" = [])),
    params(ProviderListQuery),
    responses((status = 200, description = "A page of onward referrals", body = Page<ProviderOnwardReferral>))
)]
#[get("/provider/onward-referrals")]
pub async fn provider_list(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<ProviderListQuery>,
) -> Result<HttpResponse, ApiError> {
    let who = provider(&caller)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let wanted = query
        .state
        .as_deref()
        .map(str::parse::<OnwardReferralState>)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_query_parameter", format!("state: {e}")))?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let rows = onward::provider_list(
        &mut tx,
        who.federation,
        who.organisation,
        wanted,
        page.after,
        page.probe(),
    )
    .await?;
    let accesses: Vec<Access> = rows
        .iter()
        .take(page.limit.get() as usize)
        .map(access)
        .collect();
    audit::record(
        &mut tx,
        who.federation,
        &actor(&caller, &req),
        Action::Read,
        &accesses,
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.onward.id, ProviderOnwardReferral::from)))
}

/// One onward referral to the caller's organisation (providers).
#[utoipa::path(
    tag = "provider",
    security(("bearer" = [])),
    params(("onward_referral_id" = Uuid, Path, description = "The onward referral")),
    responses((status = 200, description = "The onward referral", body = ProviderOnwardReferral))
)]
#[get("/provider/onward-referrals/{onward_referral_id}")]
pub async fn provider_get(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let who = provider(&caller)?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let record = read(&mut tx, &who, &actor(&caller, &req), path.into_inner()).await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(ProviderOnwardReferral::from(record)))
}

/// Accepts, declines (with a reason) or completes an onward referral (providers). A move the
/// onward referral's state does not allow answers 409 `illegal_transition`.
#[utoipa::path(
    tag = "provider",
    security(("bearer" = [])),
    params(("onward_referral_id" = Uuid, Path, description = "The onward referral")),
    request_body = ProviderTransitionBody,
    responses(
        (status = 200, description = "Moved", body = ProviderOnwardReferral),
        (status = 409, description = "The current state does not allow this move (`illegal_transition`)"),
    )
)]
#[post("/provider/onward-referrals/{onward_referral_id}/transitions")]
pub async fn provider_transition(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    body: JsonBody<ProviderTransitionBody>,
) -> Result<HttpResponse, ApiError> {
    let who = provider(&caller)?;
    let id = path.into_inner();
    let b = body.0;
    if b.to == OnwardReferralState::Withdrawn || b.to == OnwardReferralState::Pending {
        return Err(ApiError::Validation(ValidationErrors::single(
            "to",
            "not_allowed",
            "a provider accepts, declines or completes an onward referral",
        )));
    }
    let reason = match (b.to, b.reason.as_deref()) {
        (OnwardReferralState::Declined, reason) => {
            Some(decline_reason(reason.unwrap_or_default()).map_err(|mut e| {
                e.field = "reason".into();
                ApiError::Validation(ValidationErrors(vec![e]))
            })?)
        }
        (_, Some(_)) => {
            return Err(ApiError::Validation(ValidationErrors::single(
                "reason",
                "not_allowed",
                "a reason is given only when declining",
            )))
        }
        (_, None) => None,
    };
    let actor = actor(&caller, &req);
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let (practice, current) =
        onward::provider_lock(&mut tx, who.federation, who.organisation, id).await?;
    let to = current.transition(b.to).map_err(|e| {
        ApiError::illegal_transition(format!("{e}: the onward referral is {}", e.from), e.from)
    })?;
    onward::change_state(
        &mut tx,
        who.federation,
        practice,
        id,
        current,
        to,
        reason.as_deref(),
        caller.subject,
    )
    .await?;
    let record = onward::provider_find(&mut tx, who.federation, who.organisation, id).await?;
    audit::record(
        &mut tx,
        who.federation,
        &actor,
        Action::Update,
        &[access(&record)],
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(ProviderOnwardReferral::from(record)))
}

/// Records an activity delivered under an accepted onward referral (providers). It is priced
/// by the service's tariff in force on the day it was delivered, and a pending charge for it
/// goes to the federation's ledger. The `Idempotency-Key` is required: a retry returns the
/// activity the first request recorded and records (and charges) nothing more.
#[utoipa::path(
    tag = "provider",
    security(("bearer" = [])),
    params(
        ("onward_referral_id" = Uuid, Path, description = "The onward referral"),
        MoneyKey,
    ),
    request_body = NewActivityBody,
    responses(
        (status = 201, description = "Recorded and charged", body = Activity),
        (status = 409, description = "The onward referral has not been accepted (`onward_referral_not_accepted`)"),
        (status = 400, description = "No `Idempotency-Key` (`idempotency_key_required`)"),
        (status = 422, description = "Invalid fields (`delivered_on` before the onward referral was made is `before_onward_referral`), no tariff in force for the activity on that day (`no_tariff`), or the key was used for another request (`idempotency_key_reused`)"),
    )
)]
#[post("/provider/onward-referrals/{onward_referral_id}/activities")]
pub async fn record_activity(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    key: IdempotencyKey,
    body: JsonBody<NewActivityBody>,
) -> Result<HttpResponse, ApiError> {
    let who = provider(&caller)?;
    let id = path.into_inner();
    let key = key.required("it charges the ledger, and a retry must not charge twice")?;
    let hash = request_hash(req.path(), &body.0)?;
    let b = body.0;
    let activity = NewActivity::parse(
        &b.activity_type,
        b.delivered_on,
        b.quantity,
        b.note.as_deref(),
        Utc::now().date_naive(),
    )?;
    let actor = actor(&caller, &req);
    let activity_id = Uuid::now_v7();
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let (practice, _) =
        onward::provider_lock(&mut tx, who.federation, who.organisation, id).await?;
    let onward = onward::provider_find(&mut tx, who.federation, who.organisation, id).await?;
    let request = IdempotentRequest {
        principal: caller.subject,
        key: &key,
        operation: "record_activity",
        request_hash: &hash,
    };
    match idempotency::claim(
        &mut tx,
        who.federation,
        &request,
        Some(practice.as_uuid()),
        activity_id,
    )
    .await?
    {
        Claim::Fresh => {}
        Claim::Replay { resource, .. } => {
            let first = onward::find_activity(&mut tx, who.federation, practice, resource).await?;
            audit::record(
                &mut tx,
                who.federation,
                &actor,
                Action::Read,
                &[Access {
                    practice,
                    patient: onward.onward.patient_id,
                    resource_type: "activity",
                    resource: first.id,
                }],
            )
            .await?;
            commit(tx).await?;
            return Ok(HttpResponse::Created().json(Activity::from(first)));
        }
        Claim::Mismatch => return Err(key_reused()),
    }
    activity
        .check_against(onward.onward.state, onward.onward.created_at.date_naive())
        .map_err(|refused| match refused {
            ActivityRefused::NotAccepted(_) => ApiError::Conflict {
                code: "onward_referral_not_accepted",
                detail: refused.to_string(),
            },
            ActivityRefused::BeforeReferral(_) => ApiError::Validation(ValidationErrors::single(
                "delivered_on",
                "before_onward_referral",
                refused.to_string(),
            )),
        })?;
    let tariff = tariffs::in_force(
        &mut tx,
        who.federation,
        onward.onward.service_id,
        activity.activity_type.as_str(),
        activity.delivered_on,
    )
    .await?
    .ok_or_else(|| ApiError::Unprocessable {
        code: "no_tariff",
        detail: format!(
            "{} has no tariff for `{}` in force on {}; ask the federation to set one",
            onward.onward.service_name,
            activity.activity_type.as_str(),
            activity.delivered_on
        ),
    })?;
    let record = onward::record_activity(
        &mut tx,
        who.federation,
        practice,
        activity_id,
        &onward.onward,
        &activity,
        caller.subject,
    )
    .await?;
    charges::create(
        &mut tx,
        who.federation,
        &NewCharge {
            practice,
            activity: record.id,
            organisation: onward.onward.organisation_id,
            service: onward.onward.service_id,
            tariff: tariff.id,
            activity_type: record.activity_type.clone(),
            delivered_on: record.delivered_on,
            quantity: activity.quantity,
            unit: Pence(tariff.unit_pence),
        },
    )
    .await?;
    audit::record(
        &mut tx,
        who.federation,
        &actor,
        Action::Create,
        &[Access {
            practice,
            patient: onward.onward.patient_id,
            resource_type: "activity",
            resource: record.id,
        }],
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Created().json(Activity::from(record)))
}

/// The activities recorded under an onward referral, oldest first (providers).
#[utoipa::path(
    tag = "provider",
    security(("bearer" = [])),
    params(("onward_referral_id" = Uuid, Path, description = "The onward referral")),
    responses((status = 200, description = "The activities", body = Vec<Activity>))
)]
#[get("/provider/onward-referrals/{onward_referral_id}/activities")]
pub async fn list_activities(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let who = provider(&caller)?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let onward = read(&mut tx, &who, &actor(&caller, &req), path.into_inner()).await?;
    let practice = PracticeId::from(onward.onward.practice_id);
    let records = onward::activities(&mut tx, who.federation, practice, onward.onward.id).await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(records.into_iter().map(Activity::from).collect::<Vec<_>>()))
}

/// Raises a safeguarding concern about the patient of an onward referral (providers). The
/// practice's clinicians and administrators see it at once in their open-concerns list.
#[utoipa::path(
    tag = "provider",
    operation_id = "raise_provider_concern",
    security(("bearer" = [])),
    params(("onward_referral_id" = Uuid, Path, description = "The onward referral")),
    request_body = ProviderConcernBody,
    responses((status = 201, description = "Raised", body = RaisedConcern))
)]
#[post("/provider/onward-referrals/{onward_referral_id}/safeguarding-concerns")]
pub async fn raise_concern(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    body: JsonBody<ProviderConcernBody>,
) -> Result<HttpResponse, ApiError> {
    let who = provider(&caller)?;
    let concern = NewConcern::parse(&body.0.summary, &body.0.details)?;
    let actor = actor(&caller, &req);
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let onward = read(&mut tx, &who, &actor, path.into_inner()).await?;
    let practice = PracticeId::from(onward.onward.practice_id);
    let record = safeguarding::raise(
        &mut tx,
        who.federation,
        practice,
        onward.onward.referral_id,
        onward.onward.patient_id,
        &Raiser {
            id: caller.subject,
            role: "provider",
            organisation: Some(who.organisation.as_uuid()),
            onward_referral: Some(onward.onward.id),
        },
        &concern,
    )
    .await?;
    audit::record(
        &mut tx,
        who.federation,
        &actor,
        Action::Create,
        &[Access {
            practice,
            patient: record.patient_id,
            resource_type: "safeguarding_concern",
            resource: record.id,
        }],
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Created().json(RaisedConcern {
        id: record.id,
        onward_referral_id: onward.onward.id,
        summary: record.summary,
        status: record.status,
        raised_at: record.raised_at,
    }))
}
