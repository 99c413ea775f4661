//! A practice's referrals as CSV, streamed from the database: the summary a practice or its
//! GP-system integration (`referrals:read`) keeps, one row per referral. Every row is a read of
//! patient data, recorded in the audit log before it leaves: each batch's reads are committed
//! (on a connection of their own) and only then sent, so nothing reaches the client unaudited.

use super::{actor, authorise};
use crate::auth::Caller;
use crate::csv::text_cell;
use crate::csv_export::{self, CsvWriter, ExportError};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;
use waymark_domain::pathway::access::PracticeAction;
use waymark_domain::pathway::ReferralState;
use waymark_persistence::audit::{self, Access, Action, Actor};
use waymark_persistence::pathway::referrals::{self, ReferralExport, ReferralRecord};
use waymark_persistence::{commit, end_read, TenantScope};

/// Referrals whose reads are recorded together before they are sent.
const AUDIT_BATCH: usize = 1000;

const HEADER: &str = "referral_id,patient_id,state,urgency,need_categories,referred_by,snomed_ct_code,created_at,updated_at,closed_at,outcome";

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReferralExportQuery {
    /// Only referrals in this state.
    #[param(schema_with = crate::schemas::referral_state)]
    pub state: Option<String>,
    /// Only referrals made on or after this day (UTC).
    pub from: Option<NaiveDate>,
    /// Only referrals made on or before this day (UTC).
    pub to: Option<NaiveDate>,
}

/// The practice's referrals as CSV, oldest first, streamed (practice staff, federation
/// administrators, `referrals:read` service accounts). One row per referral, with its patient's
/// id but no note and no patient details; `need_categories` separated by `;`. Every row is a
/// read of the patient's data in the practice's audit log.
#[utoipa::path(
    tag = "referrals",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice"), ReferralExportQuery),
    responses((status = 200, description = "The referrals, one per row after a header row: referral_id, patient_id, state, urgency, need_categories, referred_by, snomed_ct_code, created_at, updated_at, closed_at, outcome", content_type = "text/csv", body = String))
)]
#[get("/practices/{practice_id}/referrals/export")]
pub async fn export_referrals(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    query: web::Query<ReferralExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(&caller, path.into_inner(), PracticeAction::ReadReferrals)?;
    let query = query.into_inner();
    let bad = |detail: String| ApiError::bad_request("invalid_query_parameter", detail);
    let wanted_state = query
        .state
        .as_deref()
        .map(str::parse::<ReferralState>)
        .transpose()
        .map_err(|e| bad(format!("state: {e}")))?;
    if let (Some(from), Some(to)) = (query.from, query.to) {
        if to < from {
            return Err(bad(format!("to ({to}) is before from ({from})")));
        }
    }
    let export = ReferralExport {
        state: wanted_state,
        from: query.from.map(start_of),
        to: query
            .to
            .map(|to| start_of(to.succ_opt().unwrap_or(NaiveDate::MAX))),
    };
    let slot = state.exports.take()?;
    let mut reader = super::begin_snapshot(&state, &caller, p).await?;
    let actor = actor(&caller, &req);
    let scope = TenantScope::of(&caller);
    let filename = format!("referrals-{}.csv", p.practice.as_uuid());
    Ok(csv_export::stream(
        slot,
        &filename,
        HEADER,
        &[],
        move |mut out| async move {
            let mut rows = referrals::export(&mut reader, p.federation, p.practice, export);
            let mut batch = Vec::with_capacity(AUDIT_BATCH);
            loop {
                let row = rows.next().await.transpose()?;
                let ended = row.is_none();
                batch.extend(row);
                if batch.len() == AUDIT_BATCH || (ended && !batch.is_empty()) {
                    send_audited(&state, scope, p.federation, &actor, &mut batch, &mut out).await?;
                }
                if ended {
                    break;
                }
            }
            drop(rows);
            end_read(reader);
            Ok(out)
        },
    ))
}

/// Records the batch's reads in the audit log and commits them, then writes its rows.
async fn send_audited(
    state: &AppState,
    scope: TenantScope,
    federation: waymark_domain::FederationId,
    actor: &Actor,
    batch: &mut Vec<ReferralRecord>,
    out: &mut CsvWriter,
) -> Result<(), ExportError> {
    let accesses: Vec<Access> = batch
        .iter()
        .map(|r| Access {
            practice: waymark_domain::PracticeId::from(r.practice_id),
            patient: r.patient_id,
            resource_type: "referral",
            resource: r.id,
        })
        .collect();
    let mut tx = state.begin(scope).await?;
    audit::record(&mut tx, federation, actor, Action::Read, &accesses).await?;
    commit(tx).await?;
    for referral in batch.drain(..) {
        out.line(&row(&referral)).await?;
    }
    Ok(())
}

fn start_of(day: NaiveDate) -> chrono::DateTime<chrono::Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

fn row(r: &ReferralRecord) -> String {
    let needs: Vec<&str> = r.need_categories.iter().map(|n| n.code()).collect();
    format!(
        "{},{},{},{},{},{},{},{},{},{},{}",
        r.id,
        r.patient_id,
        r.state.code(),
        r.urgency.code(),
        text_cell(&needs.join(";")),
        r.referred_by,
        r.snomed_concept_id,
        r.created_at.to_rfc3339(),
        r.updated_at.to_rfc3339(),
        r.closed_at.map(|at| at.to_rfc3339()).unwrap_or_default(),
        r.outcome.map(|o| o.code()).unwrap_or_default(),
    )
}
