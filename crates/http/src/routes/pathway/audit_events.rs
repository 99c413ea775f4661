//! The practice's audit log of access to patient data, for practice administrators.

use super::authorise;
use crate::auth::Caller;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::pathway::access::PracticeAction;
use waymark_persistence::audit::{self, AuditEventRecord, AuditFilter};
use waymark_persistence::end_read;

#[derive(Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// The user or service account that acted.
    pub actor_id: Uuid,
    #[schema(example = "user")]
    pub actor_kind: String,
    #[schema(schema_with = crate::schemas::roles)]
    pub actor_roles: Vec<String>,
    /// For providers: the organisation they acted for.
    pub actor_organisation_id: Option<Uuid>,
    /// `read`, `create` or `update`.
    #[schema(example = "read")]
    pub action: String,
    /// What was touched, e.g. `patient`, `referral`, `case_note`.
    #[schema(example = "referral")]
    pub resource_type: String,
    pub resource_id: Uuid,
    /// Whose data it was.
    pub patient_id: Uuid,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
}

impl From<AuditEventRecord> for AuditEvent {
    fn from(r: AuditEventRecord) -> Self {
        Self {
            id: r.id,
            occurred_at: r.occurred_at,
            actor_id: r.actor_id,
            actor_kind: r.actor_kind,
            actor_roles: r.actor_roles,
            actor_organisation_id: r.actor_organisation_id,
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            patient_id: r.patient_id,
            request_id: r.request_id,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only access to this patient's data.
    pub patient_id: Option<Uuid>,
    /// Only what this user or service account did.
    pub actor_id: Option<Uuid>,
    /// Only events at or after this instant (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only events before this instant (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// Who read or changed the practice's patient data, newest first (practice administrators).
/// The log is append-only: nothing in the API or the service's database role can change it.
#[utoipa::path(
    tag = "audit",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice"), AuditQuery),
    responses((status = 200, description = "A page of audit events", body = Page<AuditEvent>))
)]
#[get("/practices/{practice_id}/audit-events")]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(&caller, path.into_inner(), PracticeAction::ReadAuditLog)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let filter = AuditFilter {
        patient: query.patient_id,
        actor: query.actor_id,
        since: query.since,
        until: query.until,
    };
    let mut tx = super::begin_search(&state, &caller, p).await?;
    let rows = audit::list(
        &mut tx,
        p.federation,
        p.practice,
        &filter,
        page.after,
        page.probe(),
    )
    .await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, AuditEvent::from)))
}
