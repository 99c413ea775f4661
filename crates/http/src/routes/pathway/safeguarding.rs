//! Safeguarding concerns: raised by the practice's staff here (providers raise theirs on an
//! onward referral), listed at once for the practice's clinicians and administrators, and
//! tracked to resolution.

use super::{actor, authorise, Partition};
use crate::auth::Caller;
use crate::json_body::JsonBody;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::pathway::access::PracticeAction;
use waymark_domain::pathway::safeguarding::{ConcernStatus, NewConcern, Resolution};
use waymark_domain::Role;
use waymark_persistence::audit::{self, Access, Action};
use waymark_persistence::commit;
use waymark_persistence::pathway::referrals;
use waymark_persistence::pathway::safeguarding::{self, ConcernRecord, Raiser};

#[derive(Serialize, ToSchema)]
pub struct SafeguardingConcern {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub referral_id: Uuid,
    pub patient_id: Uuid,
    pub raised_by: Uuid,
    /// The raiser's role: `volunteer`, `clinician`, `practice_admin` or `provider`.
    pub raised_by_role: String,
    /// For concerns raised by a provider: its organisation.
    pub raised_by_organisation_id: Option<Uuid>,
    pub summary: String,
    pub details: String,
    #[schema(schema_with = crate::schemas::concern_status)]
    pub status: ConcernStatus,
    pub resolution: Option<String>,
    pub resolved_by: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub raised_at: DateTime<Utc>,
}

impl From<ConcernRecord> for SafeguardingConcern {
    fn from(r: ConcernRecord) -> Self {
        Self {
            id: r.id,
            practice_id: r.practice_id,
            referral_id: r.referral_id,
            patient_id: r.patient_id,
            raised_by: r.raised_by,
            raised_by_role: r.raised_by_role,
            raised_by_organisation_id: r.raised_by_organisation_id,
            summary: r.summary,
            details: r.details,
            status: r.status,
            resolution: r.resolution,
            resolved_by: r.resolved_by,
            resolved_at: r.resolved_at,
            raised_at: r.raised_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConcernBody {
    /// One line, at most 200 characters.
    #[schema(format = "line", max_length = 200)]
    pub summary: String,
    /// What happened and what was done; at most 4,000 characters.
    #[schema(format = "lines", max_length = 4000)]
    pub details: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolutionBody {
    /// How the concern was resolved; at most 4,000 characters.
    #[schema(format = "lines", max_length = 4000)]
    pub note: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConcernListQuery {
    /// `open` (the default) or `resolved`; `all` for both.
    #[param(schema_with = crate::schemas::concern_status_filter)]
    pub status: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

fn access(p: Partition, record: &ConcernRecord) -> Access {
    Access {
        practice: p.practice,
        patient: record.patient_id,
        resource_type: "safeguarding_concern",
        resource: record.id,
    }
}

/// Raises a safeguarding concern about the patient of a referral (clinicians, volunteers and
/// practice administrators).
#[utoipa::path(
    tag = "safeguarding",
    operation_id = "raise_practice_concern",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    request_body = NewConcernBody,
    responses((status = 201, description = "Raised", body = SafeguardingConcern))
)]
#[post("/practices/{practice_id}/referrals/{referral_id}/safeguarding-concerns")]
pub async fn raise_concern(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<NewConcernBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::RaiseConcern)?;
    let concern = NewConcern::parse(&body.0.summary, &body.0.details)?;
    let role = [Role::Clinician, Role::PracticeAdmin, Role::Volunteer]
        .into_iter()
        .find(|r| caller.has_role(*r))
        .unwrap_or(Role::Volunteer);
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = referrals::find(&mut tx, p.federation, p.practice, referral).await?;
    let record = safeguarding::raise(
        &mut tx,
        p.federation,
        p.practice,
        referral,
        current.patient_id,
        &Raiser {
            id: caller.subject,
            role: role.as_str(),
            organisation: None,
            onward_referral: None,
        },
        &concern,
    )
    .await?;
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Create,
        &[access(p, &record)],
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Created().json(SafeguardingConcern::from(record)))
}

/// The practice's safeguarding concerns, oldest first: open ones unless asked otherwise
/// (clinicians and practice administrators).
#[utoipa::path(
    tag = "safeguarding",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice"), ConcernListQuery),
    responses((status = 200, description = "A page of concerns", body = Page<SafeguardingConcern>))
)]
#[get("/practices/{practice_id}/safeguarding-concerns")]
pub async fn list_concerns(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    query: web::Query<ConcernListQuery>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(&caller, path.into_inner(), PracticeAction::ManageConcerns)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let status = match query.status.as_deref() {
        None => Some(ConcernStatus::Open),
        Some(crate::schemas::CONCERN_STATUS_ALL) => None,
        Some(raw) => Some(raw.parse::<ConcernStatus>().map_err(|e| {
            ApiError::bad_request("invalid_query_parameter", format!("status: {e}, or all"))
        })?),
    };
    let mut tx = super::begin(&state, &caller, p).await?;
    let rows = safeguarding::list(
        &mut tx,
        p.federation,
        p.practice,
        status,
        page.after,
        page.probe(),
    )
    .await?;
    let accesses: Vec<Access> = rows
        .iter()
        .take(page.limit.get() as usize)
        .map(|r| access(p, r))
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
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, SafeguardingConcern::from)))
}

/// One safeguarding concern (clinicians and practice administrators).
#[utoipa::path(
    tag = "safeguarding",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("concern_id" = Uuid, Path, description = "The concern"),
    ),
    responses((status = 200, description = "The concern", body = SafeguardingConcern))
)]
#[get("/practices/{practice_id}/safeguarding-concerns/{concern_id}")]
pub async fn get_concern(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, concern) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ManageConcerns)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let record = safeguarding::find(&mut tx, p.federation, p.practice, concern).await?;
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Read,
        &[access(p, &record)],
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(SafeguardingConcern::from(record)))
}

/// Resolves an open concern, saying how (clinicians and practice administrators).
#[utoipa::path(
    tag = "safeguarding",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("concern_id" = Uuid, Path, description = "The concern"),
    ),
    request_body = ResolutionBody,
    responses(
        (status = 200, description = "Resolved", body = SafeguardingConcern),
        (status = 409, description = "Resolved already (`concern_already_resolved`)"),
    )
)]
#[post("/practices/{practice_id}/safeguarding-concerns/{concern_id}/resolution")]
pub async fn resolve_concern(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<ResolutionBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, concern) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ManageConcerns)?;
    let resolution = Resolution::parse(&body.0.note)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let existing = safeguarding::find(&mut tx, p.federation, p.practice, concern).await?;
    let record = safeguarding::resolve(
        &mut tx,
        p.federation,
        p.practice,
        concern,
        &resolution.note,
        caller.subject,
    )
    .await?
    .ok_or_else(|| ApiError::Conflict {
        code: "concern_already_resolved",
        detail: format!(
            "this concern was resolved already{}",
            existing
                .resolved_at
                .map(|at| format!(" at {}", at.to_rfc3339()))
                .unwrap_or_default()
        ),
    })?;
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Update,
        &[access(p, &record)],
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(SafeguardingConcern::from(record)))
}
