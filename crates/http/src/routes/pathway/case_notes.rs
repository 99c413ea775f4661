//! Case notes on a referral: for the practice's clinicians and volunteers only, never for
//! providers, commissioners or administrators. Notes are never edited; a correction is a
//! further note.

use super::{actor, authorise};
use crate::auth::Caller;
use crate::json_body::JsonBody;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::routes::federations::ListQuery;
use crate::state::AppState;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::pathway::access::PracticeAction;
use waymark_domain::pathway::notes::case_note_text;
use waymark_domain::{Role, ValidationErrors};
use waymark_persistence::audit::{self, Access, Action};
use waymark_persistence::commit;
use waymark_persistence::pathway::case_notes::{self, CaseNoteRecord};
use waymark_persistence::pathway::referrals;

#[derive(Serialize, ToSchema)]
pub struct CaseNote {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub author_id: Uuid,
    /// The author's role when writing.
    #[schema(example = "volunteer")]
    pub author_role: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl From<CaseNoteRecord> for CaseNote {
    fn from(r: CaseNoteRecord) -> Self {
        Self {
            id: r.id,
            referral_id: r.referral_id,
            author_id: r.author_id,
            author_role: r.author_role,
            body: r.body,
            created_at: r.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCaseNoteBody {
    /// At most 4,000 characters; line breaks are kept.
    #[schema(format = "lines", max_length = 4000)]
    pub body: String,
}

/// Adds a case note to a referral (clinicians and volunteers).
#[utoipa::path(
    tag = "case-notes",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    request_body = NewCaseNoteBody,
    responses((status = 201, description = "Written", body = CaseNote))
)]
#[post("/practices/{practice_id}/referrals/{referral_id}/case-notes")]
pub async fn create_case_note(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<NewCaseNoteBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::CaseNotes)?;
    let text = case_note_text(&body.0.body).map_err(|mut e| {
        e.field = "body".into();
        ApiError::Validation(ValidationErrors(vec![e]))
    })?;
    let role = if caller.has_role(Role::Clinician) {
        Role::Clinician
    } else {
        Role::Volunteer
    };
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = referrals::find(&mut tx, p.federation, p.practice, referral).await?;
    let note = case_notes::create(
        &mut tx,
        p.federation,
        p.practice,
        referral,
        caller.subject,
        role.as_str(),
        &text,
    )
    .await?;
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Create,
        &[Access {
            practice: p.practice,
            patient: current.patient_id,
            resource_type: "case_note",
            resource: note.id,
        }],
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Created().json(CaseNote::from(note)))
}

/// The referral's case notes, oldest first (clinicians and volunteers).
#[utoipa::path(
    tag = "case-notes",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
        ListQuery,
    ),
    responses((status = 200, description = "A page of case notes", body = Page<CaseNote>))
)]
#[get("/practices/{practice_id}/referrals/{referral_id}/case-notes")]
pub async fn list_case_notes(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::CaseNotes)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = referrals::find(&mut tx, p.federation, p.practice, referral).await?;
    let rows = case_notes::list(
        &mut tx,
        p.federation,
        p.practice,
        referral,
        page.after,
        page.probe(),
    )
    .await?;
    let page = page.page(rows, |r| r.id, CaseNote::from);
    let accesses: Vec<Access> = page
        .items
        .iter()
        .map(|n| Access {
            practice: p.practice,
            patient: current.patient_id,
            resource_type: "case_note",
            resource: n.id,
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
