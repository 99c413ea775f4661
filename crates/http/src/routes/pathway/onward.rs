//! Onward referrals from a referral to a directory service, made at the clinic. Only a service
//! that is active and accepting referrals can be referred to; any active service can be
//! signposted.

use super::{actor, authorise, Partition};
use crate::auth::Caller;
use crate::json_body::JsonBody;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::directory::contact::long_text;
use waymark_domain::pathway::access::PracticeAction;
use waymark_domain::pathway::onward::{OnwardKind, OnwardReferralState};
use waymark_domain::pathway::ReferralState;
use waymark_domain::{ServiceId, ValidationErrors};
use waymark_persistence::audit::{self, Access, Action};
use waymark_persistence::directory::services;
use waymark_persistence::pathway::onward::{self, NewOnward, OnwardRecord};
use waymark_persistence::pathway::referrals::{self, StateChange};
use waymark_persistence::{commit, StoreError};

#[derive(Serialize, ToSchema)]
pub struct OnwardReferral {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub referral_id: Uuid,
    pub service_id: Uuid,
    pub service_name: String,
    pub organisation_id: Uuid,
    #[schema(schema_with = crate::schemas::onward_kind)]
    pub kind: OnwardKind,
    #[schema(schema_with = crate::schemas::onward_state)]
    pub state: OnwardReferralState,
    /// For the provider: what the patient hopes for from the service.
    pub note: Option<String>,
    /// The provider's reason, when it declined.
    pub decline_reason: Option<String>,
    pub created_by: Uuid,
    pub responded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<OnwardRecord> for OnwardReferral {
    fn from(r: OnwardRecord) -> Self {
        Self {
            id: r.id,
            practice_id: r.practice_id,
            referral_id: r.referral_id,
            service_id: r.service_id,
            service_name: r.service_name,
            organisation_id: r.organisation_id,
            kind: r.kind,
            state: r.state,
            note: r.note,
            decline_reason: r.decline_reason,
            created_by: r.created_by,
            responded_at: r.responded_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOnwardBody {
    /// A service of the federation's directory.
    pub service_id: Uuid,
    /// Defaults to `referral`.
    #[serde(default = "referral_kind")]
    #[schema(schema_with = crate::schemas::onward_kind)]
    pub kind: OnwardKind,
    /// Shown to the provider; at most 2,000 characters.
    #[schema(format = "lines-or-blank", max_length = 2000)]
    pub note: Option<String>,
}

fn referral_kind() -> OnwardKind {
    OnwardKind::Referral
}

fn access(p: Partition, record: &OnwardRecord) -> Access {
    Access {
        practice: p.practice,
        patient: record.patient_id,
        resource_type: "onward_referral",
        resource: record.id,
    }
}

/// Refers the patient onward to a directory service, or signposts them to it (volunteers and
/// clinicians). The first onward referral makes a seen referral active.
#[utoipa::path(
    tag = "onward-referrals",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    request_body = NewOnwardBody,
    responses(
        (status = 201, description = "Referred onward", body = OnwardReferral, headers(("Location" = String))),
        (status = 409, description = "The referral is not seen or active (`referral_not_seen`)"),
        (status = 422, description = "Unknown service, or one that is inactive (`service_inactive`) or not accepting referrals (`service_not_accepting_referrals`)"),
    )
)]
#[post("/practices/{practice_id}/referrals/{referral_id}/onward-referrals")]
pub async fn create_onward_referral(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<NewOnwardBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReferOnward)?;
    let b = body.0;
    let mut errors = ValidationErrors::new();
    let note = b
        .note
        .filter(|n| !n.trim().is_empty())
        .and_then(|n| errors.check("note", long_text(&n, 2000)));
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = referrals::lock(&mut tx, p.federation, p.practice, referral).await?;
    if !matches!(current.state, ReferralState::Seen | ReferralState::Active) {
        return Err(ApiError::Conflict {
            code: "referral_not_seen",
            detail: format!(
                "patients are referred onward after the clinic, while the referral is seen or \
                 active; this one is {}",
                current.state
            ),
        });
    }
    let service = services::find(&mut tx, p.federation, ServiceId::from(b.service_id))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::Validation(ValidationErrors::single(
                "service_id",
                "not_found",
                "no such service in this federation's directory",
            )),
            other => other.into(),
        })?;
    if !service.active {
        return Err(ApiError::Unprocessable {
            code: "service_inactive",
            detail: format!("{} is no longer offered", service.name),
        });
    }
    let initial = match b.kind {
        OnwardKind::Referral if !service.accepting_referrals => {
            return Err(ApiError::Unprocessable {
                code: "service_not_accepting_referrals",
                detail: format!(
                    "{} is not accepting referrals at the moment; signpost the patient to it \
                     instead, or choose another service",
                    service.name
                ),
            })
        }
        OnwardKind::Referral => OnwardReferralState::Pending,
        // Nothing is sent for signposting: it is complete once the patient has been told.
        OnwardKind::Signposting => OnwardReferralState::Completed,
    };
    let record = onward::create(
        &mut tx,
        p.federation,
        p.practice,
        &NewOnward {
            referral,
            patient: current.patient_id,
            service: service.id,
            organisation: service.organisation_id,
            kind: b.kind,
            state: initial,
            note: note.as_deref(),
            by: caller.subject,
        },
    )
    .await?;
    if current.state == ReferralState::Seen {
        referrals::change_state(
            &mut tx,
            p.federation,
            p.practice,
            referral,
            &StateChange {
                from: ReferralState::Seen,
                to: ReferralState::Active,
                reason: Some("referred onward"),
                closure: None,
                by: caller.subject,
            },
        )
        .await?;
    }
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Create,
        &[access(p, &record)],
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!(
                "/v1/practices/{}/referrals/{referral}/onward-referrals",
                p.practice
            ),
        ))
        .json(OnwardReferral::from(record)))
}

/// The referral's onward referrals and signposting, oldest first.
#[utoipa::path(
    tag = "onward-referrals",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    responses((status = 200, description = "The onward referrals", body = Vec<OnwardReferral>))
)]
#[get("/practices/{practice_id}/referrals/{referral_id}/onward-referrals")]
pub async fn list_onward_referrals(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReadReferralDetails)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    referrals::find(&mut tx, p.federation, p.practice, referral).await?;
    let records = onward::list_for_referral(&mut tx, p.federation, p.practice, referral).await?;
    let accesses: Vec<Access> = records.iter().map(|r| access(p, r)).collect();
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Read,
        &accesses,
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(
        records
            .into_iter()
            .map(OnwardReferral::from)
            .collect::<Vec<_>>(),
    ))
}

/// Withdraws an onward referral the provider has not completed (volunteers and clinicians),
/// e.g. when the patient no longer wants the service; the provider then records nothing more
/// under it. A referral that is withdrawn, declined or closed withdraws its own.
#[utoipa::path(
    tag = "onward-referrals",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
        ("onward_referral_id" = Uuid, Path, description = "The onward referral"),
    ),
    responses(
        (status = 200, description = "Withdrawn", body = OnwardReferral),
        (status = 409, description = "Declined, completed or withdrawn already (`illegal_transition`, with `current_state`)"),
    )
)]
#[post("/practices/{practice_id}/referrals/{referral_id}/onward-referrals/{onward_referral_id}/withdrawal")]
pub async fn withdraw_onward_referral(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral, id) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReferOnward)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = onward::lock(&mut tx, p.federation, p.practice, referral, id).await?;
    current
        .transition(OnwardReferralState::Withdrawn)
        .map_err(|e| {
            ApiError::illegal_transition(format!("{e}: the onward referral is {}", e.from), e.from)
        })?;
    let record = onward::withdraw(&mut tx, p.federation, p.practice, id, current).await?;
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Update,
        &[access(p, &record)],
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(OnwardReferral::from(record)))
}
