//! Referrals to the social prescribing service: made by clinicians, followed by the practice,
//! moved through the state machine in `waymark_domain::pathway::ReferralState`.

use super::{actor, authorise, Partition};
use crate::auth::Caller;
use crate::idempotency::{key_reused, request_hash, IdempotencyKey, RetryKey};
use crate::json_body::JsonBody;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;
use waymark_domain::pathway::access::PracticeAction;
use waymark_domain::pathway::onward::withdrawn_with_referral;
use waymark_domain::pathway::referral::{
    reached_through_clinic, snomed, transition_reason, Closure, NewReferral, Outcome,
    ReferralInput, Urgency,
};
use waymark_domain::pathway::ReferralState;
use waymark_domain::ValidationErrors;
use waymark_persistence::audit::{self, Access, Action};
use waymark_persistence::idempotency::{self, Claim, IdempotentRequest};
use waymark_persistence::pathway::referrals::{
    self, ReferralFilter, ReferralRecord, StateChange, StateChangeRecord,
};
use waymark_persistence::pathway::{clinics, onward};
use waymark_persistence::{commit, Tx};

/// The SNOMED CT concept a GP system codes the referral with.
#[derive(Serialize, ToSchema)]
pub struct SnomedConcept {
    #[schema(example = "871731000000106")]
    pub code: String,
    #[schema(example = "Referral to social prescribing service")]
    pub display: String,
}

#[derive(Serialize, ToSchema)]
pub struct Referral {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    /// The clinician who referred.
    pub referred_by: Uuid,
    #[schema(schema_with = crate::schemas::need_categories)]
    pub need_categories: Vec<NeedCategory>,
    pub note: Option<String>,
    #[schema(schema_with = crate::schemas::urgency)]
    pub urgency: Urgency,
    #[schema(schema_with = crate::schemas::referral_state)]
    pub state: ReferralState,
    /// The states this referral may move to next.
    #[schema(schema_with = crate::schemas::referral_states)]
    pub next_states: Vec<ReferralState>,
    /// Coded as declined once the referral is declined.
    pub snomed_ct: SnomedConcept,
    /// Set when the referral is closed.
    #[schema(schema_with = crate::schemas::optional_outcome)]
    pub outcome: Option<Outcome>,
    pub outcome_note: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ReferralRecord> for Referral {
    fn from(r: ReferralRecord) -> Self {
        Self {
            id: r.id,
            practice_id: r.practice_id,
            patient_id: r.patient_id,
            referred_by: r.referred_by,
            need_categories: r.need_categories,
            note: r.note,
            urgency: r.urgency,
            state: r.state,
            next_states: r.state.next().to_vec(),
            snomed_ct: SnomedConcept {
                display: snomed::display(&r.snomed_concept_id).to_owned(),
                code: r.snomed_concept_id,
            },
            outcome: r.outcome,
            outcome_note: r.outcome_note,
            closed_at: r.closed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReferralBody {
    /// Why the patient is referred: at least one need category.
    #[schema(schema_with = crate::schemas::need_categories)]
    pub need_categories: Vec<NeedCategory>,
    /// For the social prescribing team; at most 4,000 characters.
    #[schema(format = "lines-or-blank", max_length = 4000)]
    pub note: Option<String>,
    /// Defaults to routine.
    #[serde(default)]
    #[schema(schema_with = crate::schemas::urgency)]
    pub urgency: Urgency,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// The state to move to. `booked`, `seen` and `did_not_attend` are reached through the
    /// clinic (booking a slot, recording attendance), not here.
    #[schema(schema_with = crate::schemas::requested_referral_state)]
    pub to: ReferralState,
    /// Required when declining or withdrawing.
    #[schema(format = "lines-or-blank", max_length = 1000)]
    pub reason: Option<String>,
    /// Required when closing, and only then.
    #[schema(schema_with = crate::schemas::optional_outcome)]
    pub outcome: Option<Outcome>,
    /// A few words about the outcome, when closing.
    #[schema(format = "lines-or-blank", max_length = 4000)]
    pub outcome_note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StateChangeEntry {
    #[schema(schema_with = crate::schemas::optional_referral_state)]
    pub from_state: Option<String>,
    #[schema(schema_with = crate::schemas::referral_state)]
    pub to_state: String,
    pub reason: Option<String>,
    pub changed_by: Uuid,
    pub changed_at: DateTime<Utc>,
}

impl From<StateChangeRecord> for StateChangeEntry {
    fn from(r: StateChangeRecord) -> Self {
        Self {
            from_state: r.from_state,
            to_state: r.to_state,
            reason: r.reason,
            changed_by: r.changed_by,
            changed_at: r.changed_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReferralListQuery {
    /// Only this patient's referrals.
    pub patient_id: Option<Uuid>,
    /// Only referrals in this state.
    #[param(schema_with = crate::schemas::referral_state)]
    pub state: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

pub(crate) fn referral_access(p: Partition, record: &ReferralRecord) -> Access {
    Access {
        practice: p.practice,
        patient: record.patient_id,
        resource_type: "referral",
        resource: record.id,
    }
}

/// Reads a referral of the partition and records the read.
pub(crate) async fn read_referral(
    tx: &mut Tx,
    p: Partition,
    actor: &audit::Actor,
    referral: Uuid,
) -> Result<ReferralRecord, ApiError> {
    let record = referrals::find(tx, p.federation, p.practice, referral).await?;
    audit::record(
        tx,
        p.federation,
        actor,
        Action::Read,
        &[referral_access(p, &record)],
    )
    .await?;
    Ok(record)
}

fn location(p: Partition, id: Uuid) -> String {
    format!("/v1/practices/{}/referrals/{id}", p.practice)
}

/// Refers a patient to the social prescribing service (clinicians). With an `Idempotency-Key`,
/// a retry returns the referral the first request made, and creates nothing new.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("patient_id" = Uuid, Path, description = "The patient"),
        RetryKey,
    ),
    request_body = NewReferralBody,
    responses(
        (status = 201, description = "Referred (or, for a retry, the first result)", body = Referral, headers(("Location" = String))),
        (status = 422, description = "Invalid fields, or the Idempotency-Key was used for a different request (`idempotency_key_reused`)"),
    )
)]
#[post("/practices/{practice_id}/patients/{patient_id}/referrals")]
pub async fn create_referral(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    key: IdempotencyKey,
    body: JsonBody<NewReferralBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, patient) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::CreateReferral)?;
    let hash = request_hash(req.path(), &body.0)?;
    let b = body.0;
    let new = NewReferral::parse(ReferralInput {
        need_categories: b.need_categories,
        note: b.note,
        urgency: b.urgency,
    })?;
    let actor = actor(&caller, &req);
    let id = Uuid::now_v7();
    let mut tx = super::begin(&state, &caller, p).await?;
    // An unknown patient is found out by the insert below, which undoes the claim with it.
    if let Some(key) = key.0.as_deref() {
        let request = IdempotentRequest {
            principal: caller.subject,
            key,
            operation: "create_referral",
            request_hash: &hash,
        };
        match idempotency::claim(&mut tx, p.federation, &request, Some(practice), id).await? {
            Claim::Fresh => {}
            Claim::Replay { resource, .. } => {
                let first = read_referral(&mut tx, p, &actor, resource).await?;
                commit(tx).await?;
                return Ok(created(p, first));
            }
            Claim::Mismatch => return Err(key_reused()),
        }
    }
    let record = referrals::create(
        &mut tx,
        p.federation,
        p.practice,
        id,
        patient,
        caller.subject,
        &new,
    )
    .await?;
    audit::record(
        &mut tx,
        p.federation,
        &actor,
        Action::Create,
        &[referral_access(p, &record)],
    )
    .await?;
    commit(tx).await?;
    Ok(created(p, record))
}

fn created(p: Partition, record: ReferralRecord) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location(p, record.id)))
        .json(Referral::from(record))
}

/// The practice's referrals, oldest first, optionally for one patient or in one state.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice"), ReferralListQuery),
    responses((status = 200, description = "A page of referrals", body = Page<Referral>))
)]
#[get("/practices/{practice_id}/referrals")]
pub async fn list_referrals(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    query: web::Query<ReferralListQuery>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(&caller, path.into_inner(), PracticeAction::ReadReferrals)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let filter = ReferralFilter {
        patient: query.patient_id,
        state: query
            .state
            .as_deref()
            .map(str::parse::<ReferralState>)
            .transpose()
            .map_err(|e| ApiError::bad_request("invalid_query_parameter", format!("state: {e}")))?,
    };
    let mut tx = super::begin(&state, &caller, p).await?;
    let rows = referrals::list(
        &mut tx,
        p.federation,
        p.practice,
        &filter,
        page.after,
        page.probe(),
    )
    .await?;
    let page = page.page(rows, |r| r.id, Referral::from);
    let accesses: Vec<Access> = page
        .items
        .iter()
        .map(|r| Access {
            practice: p.practice,
            patient: r.patient_id,
            resource_type: "referral",
            resource: r.id,
        })
        .collect();
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Read,
        &accesses,
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One referral.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    responses((status = 200, description = "The referral", body = Referral))
)]
#[get("/practices/{practice_id}/referrals/{referral_id}")]
pub async fn get_referral(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReadReferrals)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let record = read_referral(&mut tx, p, &actor(&caller, &req), referral).await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(Referral::from(record)))
}

/// Every state the referral has been in, oldest first, with who moved it and why.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    responses((status = 200, description = "The referral's history", body = Vec<StateChangeEntry>))
)]
#[get("/practices/{practice_id}/referrals/{referral_id}/history")]
pub async fn referral_history(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReadReferrals)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    read_referral(&mut tx, p, &actor(&caller, &req), referral).await?;
    let history = referrals::history(&mut tx, p.federation, p.practice, referral).await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(
        history
            .into_iter()
            .map(StateChangeEntry::from)
            .collect::<Vec<_>>(),
    ))
}

/// Moves a referral to another state: `declined` or `withdrawn` (with a reason), `active`, or
/// `closed` (with an outcome). A move the pathway does not allow answers 409
/// `illegal_transition`, naming the current state (also as `current_state`). Declining or
/// withdrawing frees the referral's clinic slot if the patient has not been seen yet; ending
/// a referral withdraws its onward referrals that no provider will now deliver (pending ones
/// when it closes, accepted ones too when it is withdrawn or declined).
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    request_body = TransitionBody,
    responses(
        (status = 200, description = "Moved", body = Referral),
        (status = 409, description = "The referral's current state does not allow this move (`illegal_transition`)"),
        (status = 422, description = "A missing reason or outcome, or a state reached only through the clinic (`reached_through_clinic`)"),
    )
)]
#[post("/practices/{practice_id}/referrals/{referral_id}/transitions")]
pub async fn transition_referral(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<TransitionBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ChangeReferralState)?;
    let b = body.0;
    let mut errors = ValidationErrors::new();
    let reason = errors.check("reason", transition_reason(b.to, b.reason.as_deref()));
    let closure = match (b.to, b.outcome) {
        (ReferralState::Closed, Some(outcome)) => match Closure::parse(outcome, b.outcome_note) {
            Ok(closure) => Some(closure),
            Err(e) => {
                for error in e.0 {
                    errors.add(
                        format!("outcome_{}", error.field),
                        error.code,
                        error.message,
                    );
                }
                None
            }
        },
        (ReferralState::Closed, None) => {
            errors.add("outcome", "required", "say how the referral ended");
            None
        }
        (_, Some(_)) => {
            errors.add(
                "outcome",
                "not_allowed",
                "an outcome is given only when closing",
            );
            None
        }
        (_, None) => None,
    };
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = referrals::lock(&mut tx, p.federation, p.practice, referral).await?;
    let to = current.state.transition(b.to).map_err(|e| {
        ApiError::illegal_transition(format!("{e}: the referral is {}", e.from), e.from)
    })?;
    if reached_through_clinic(to) {
        return Err(ApiError::Unprocessable {
            code: "reached_through_clinic",
            detail: format!(
                "a referral becomes {to} through the clinic: book a slot, or record attendance \
                 on the booked slot"
            ),
        });
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let reason = reason.flatten();
    let record = referrals::change_state(
        &mut tx,
        p.federation,
        p.practice,
        referral,
        &StateChange {
            from: current.state,
            to,
            reason: reason.as_deref(),
            closure: closure.as_ref(),
            by: caller.subject,
        },
    )
    .await?;
    // What the referral's end takes with it: its unattended booking, and the onward referrals
    // its providers can no longer deliver.
    if to.releases_booking() {
        clinics::release_booking(&mut tx, p.federation, p.practice, referral).await?;
    }
    let withdrawn = onward::withdraw_for_referral(
        &mut tx,
        p.federation,
        p.practice,
        referral,
        withdrawn_with_referral(to),
    )
    .await?;
    let mut accesses = vec![referral_access(p, &record)];
    accesses.extend(withdrawn.into_iter().map(|id| Access {
        practice: p.practice,
        patient: record.patient_id,
        resource_type: "onward_referral",
        resource: id,
    }));
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Update,
        &accesses,
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(Referral::from(record)))
}
