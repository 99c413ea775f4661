//! The practice's coding queue: the SNOMED CT codes its referrals are to be filed under in the
//! GP record, each waiting until the GP-system integration acknowledges that it filed it. Read
//! and acknowledged by the practice's clinicians and administrators, and by service accounts
//! granted `gp_coding:write`; every read and acknowledgement is in the audit log.

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
use waymark_domain::{PracticeId, ValidationErrors};
use waymark_persistence::audit::{self, Access, Action};
use waymark_persistence::commit;
use waymark_persistence::pathway::gp_coding::{self, CodingRecord};

/// The most codes acknowledged in one request.
const MAX_ACKNOWLEDGED: usize = 1000;

/// A code to file in the GP record.
#[derive(Serialize, ToSchema)]
pub struct CodingEntry {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub patient_id: Uuid,
    /// What the GP system files the code under.
    #[schema(example = "9434765919")]
    pub nhs_number: String,
    #[schema(example = "http://snomed.info/sct")]
    pub system: &'static str,
    #[schema(example = "871731000000106")]
    pub code: String,
    #[schema(example = "Referral to social prescribing service")]
    pub display: String,
    /// When it happened: the date to file it at.
    pub occurred_at: DateTime<Utc>,
    /// When the integration acknowledged filing it.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

impl From<CodingRecord> for CodingEntry {
    fn from(r: CodingRecord) -> Self {
        Self {
            id: r.id,
            referral_id: r.referral_id,
            patient_id: r.patient_id,
            nhs_number: r.nhs_number,
            system: super::fhir::SNOMED,
            code: r.code,
            display: r.display,
            occurred_at: r.occurred_at,
            acknowledged_at: r.acknowledged_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgementBody {
    /// The queue entries filed in the GP record: 1 to 1,000 ids.
    #[schema(min_items = 1, max_items = 1000)]
    pub ids: Vec<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct AcknowledgementResult {
    /// Acknowledged by this request.
    pub acknowledged: Vec<Uuid>,
    /// Acknowledged before; nothing changed.
    pub already_acknowledged: Vec<Uuid>,
}

/// The reads or changes of the queue entries `(id, patient)` as the audit log records them.
fn accesses(practice: PracticeId, entries: impl Iterator<Item = (Uuid, Uuid)>) -> Vec<Access> {
    entries
        .map(|(id, patient)| Access {
            practice,
            patient,
            resource_type: "gp_coding_event",
            resource: id,
        })
        .collect()
}

/// The codes waiting to be filed in the practice's GP record, oldest first: each with the
/// patient's NHS number, the SNOMED CT concept and when it happened. File each, then
/// acknowledge it, and it leaves the queue.
#[utoipa::path(
    tag = "gp-record",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice"), ListQuery),
    responses((status = 200, description = "A page of the queue", body = Page<CodingEntry>))
)]
#[get("/practices/{practice_id}/gp-coding-queue")]
pub async fn coding_queue(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(&caller, path.into_inner(), PracticeAction::FileGpCodes)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let rows =
        gp_coding::waiting(&mut tx, p.federation, p.practice, page.after, page.probe()).await?;
    let page = page.page(rows, |r| r.id, CodingEntry::from);
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Read,
        &accesses(p.practice, page.items.iter().map(|e| (e.id, e.patient_id))),
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Acknowledges codes as filed in the GP record, so they leave the queue: all or none (an id
/// that is not this practice's refuses the request). Acknowledging one again changes nothing.
#[utoipa::path(
    tag = "gp-record",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice")),
    request_body = AcknowledgementBody,
    responses((status = 200, description = "Acknowledged", body = AcknowledgementResult))
)]
#[post("/practices/{practice_id}/gp-coding-queue/acknowledgements")]
pub async fn acknowledge_codes(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    body: JsonBody<AcknowledgementBody>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(&caller, path.into_inner(), PracticeAction::FileGpCodes)?;
    let mut ids = body.0.ids;
    ids.sort();
    ids.dedup();
    if ids.is_empty() || ids.len() > MAX_ACKNOWLEDGED {
        return Err(ValidationErrors::single(
            "ids",
            "out_of_range",
            "acknowledge 1 to 1000 queue entries at once",
        )
        .into());
    }
    let mut tx = super::begin(&state, &caller, p).await?;
    let done =
        gp_coding::acknowledge(&mut tx, p.federation, p.practice, &ids, caller.subject).await?;
    if !done.unknown.is_empty() {
        // Dropping the transaction rolls back what was acknowledged.
        let mut errors = ValidationErrors::new();
        for unknown in &done.unknown {
            errors.add(
                "ids",
                "not_found",
                format!("{unknown} is not an entry of this practice's coding queue"),
            );
        }
        return Err(errors.into());
    }
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Update,
        &accesses(
            p.practice,
            done.acknowledged.iter().map(|a| (a.id, a.patient_id)),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(AcknowledgementResult {
        acknowledged: done.acknowledged.iter().map(|a| a.id).collect(),
        already_acknowledged: done.already,
    }))
}
