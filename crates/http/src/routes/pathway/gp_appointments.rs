//! GP appointment counts in a window before and after a referral: the commissioner's evidence
//! of appointments avoided. Entered one window at a time, or imported for many referrals at
//! once from a GP-system extract.

use super::{actor, authorise, Partition};
use crate::auth::Caller;
use crate::json_body::JsonBody;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::directory::import::ImportRowError;
use waymark_domain::pathway::access::PracticeAction;
use waymark_domain::pathway::gp_appointments::{AppointmentWindow, NewAppointmentCount};
use waymark_persistence::audit::{self, Access, Action};
use waymark_persistence::pathway::gp_appointments::{self, AppointmentCountRecord, Source};
use waymark_persistence::pathway::referrals;
use waymark_persistence::{commit, StoreError, Tx};

#[derive(Serialize, ToSchema)]
pub struct AppointmentCount {
    pub id: Uuid,
    pub referral_id: Uuid,
    #[schema(schema_with = crate::schemas::appointment_window)]
    pub window: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub appointments: i32,
    /// `entered` by hand or `imported` from the GP system.
    pub source: String,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

impl From<AppointmentCountRecord> for AppointmentCount {
    fn from(r: AppointmentCountRecord) -> Self {
        Self {
            id: r.id,
            referral_id: r.referral_id,
            window: r.appointment_window,
            period_start: r.period_start,
            period_end: r.period_end,
            appointments: r.appointments,
            source: r.source,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentCountBody {
    /// A `before` window ends on or before the referral date; an `after` window starts on or
    /// after it. At most 366 days.
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    #[schema(minimum = 0, maximum = 1000)]
    pub appointments: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportedCount {
    pub referral_id: Uuid,
    #[schema(schema_with = crate::schemas::appointment_window)]
    pub window: AppointmentWindow,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    #[schema(minimum = 0, maximum = 1000)]
    pub appointments: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// At most 5,000 counts; each replaces the referral's count for its window.
    #[schema(max_items = 5000)]
    pub counts: Vec<ImportedCount>,
}

#[derive(Serialize, ToSchema)]
pub struct AppointmentCountImportResult {
    pub imported: usize,
}

const IMPORT_MAX: usize = 5000;

/// Validates one count against its referral, reading the referral's date.
async fn check(
    tx: &mut Tx,
    p: Partition,
    referral: Uuid,
    window: AppointmentWindow,
    body: &AppointmentCountBody,
) -> Result<(Uuid, NewAppointmentCount), Result<waymark_domain::ValidationErrors, ApiError>> {
    let current = match referrals::find(tx, p.federation, p.practice, referral).await {
        Ok(current) => current,
        Err(StoreError::NotFound) => {
            return Err(Ok(waymark_domain::ValidationErrors::single(
                "referral_id",
                "not_found",
                "no such referral in this practice",
            )))
        }
        Err(other) => return Err(Err(other.into())),
    };
    NewAppointmentCount::parse(
        window,
        body.period_start,
        body.period_end,
        body.appointments,
        current.created_at.date_naive(),
        chrono::Utc::now().date_naive(),
    )
    .map(|count| (current.patient_id, count))
    .map_err(Ok)
}

fn access(p: Partition, patient: Uuid, record: &AppointmentCountRecord) -> Access {
    Access {
        practice: p.practice,
        patient,
        resource_type: "gp_appointment_count",
        resource: record.id,
    }
}

/// The `{window}` of a count's path, as the document declares it (the handler reads it with the
/// other path parameters, and parses it into an `AppointmentWindow`).
struct WindowName;

impl utoipa::PartialSchema for WindowName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::schemas::appointment_window().into()
    }
}

impl ToSchema for WindowName {}

/// Enters the count of GP appointments in the window before or after a referral, replacing any
/// count entered before (clinicians and practice administrators).
#[utoipa::path(
    tag = "gp-appointments",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
        ("window" = inline(WindowName), Path, description = "`before` or `after`"),
    ),
    request_body = AppointmentCountBody,
    responses((status = 200, description = "Recorded", body = AppointmentCount))
)]
#[put("/practices/{practice_id}/referrals/{referral_id}/gp-appointment-counts/{window}")]
pub async fn put_count(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid, String)>,
    body: JsonBody<AppointmentCountBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral, window) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::RecordAppointmentCounts)?;
    let window: AppointmentWindow = window
        .parse()
        .map_err(|e| ApiError::bad_request("invalid_path_parameter", format!("window: {e}")))?;
    let mut tx = super::begin(&state, &caller, p).await?;
    // An unknown referral in the path is a missing resource, not a bad field.
    referrals::find(&mut tx, p.federation, p.practice, referral).await?;
    let (patient, count) = match check(&mut tx, p, referral, window, &body.0).await {
        Ok(checked) => checked,
        Err(Ok(errors)) => return Err(errors.into()),
        Err(Err(error)) => return Err(error),
    };
    let (record, created) = gp_appointments::upsert(
        &mut tx,
        p.federation,
        p.practice,
        referral,
        &count,
        Source::Entered,
        caller.subject,
    )
    .await?;
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        if created {
            Action::Create
        } else {
            Action::Update
        },
        &[access(p, patient, &record)],
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(AppointmentCount::from(record)))
}

/// The referral's GP appointment counts: before, then after.
#[utoipa::path(
    tag = "gp-appointments",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    responses((status = 200, description = "The counts", body = Vec<AppointmentCount>))
)]
#[get("/practices/{practice_id}/referrals/{referral_id}/gp-appointment-counts")]
pub async fn list_counts(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReadReferralDetails)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = referrals::find(&mut tx, p.federation, p.practice, referral).await?;
    let records = gp_appointments::list(&mut tx, p.federation, p.practice, referral).await?;
    let accesses: Vec<Access> = records
        .iter()
        .map(|r| access(p, current.patient_id, r))
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
    Ok(HttpResponse::Ok().json(
        records
            .into_iter()
            .map(AppointmentCount::from)
            .collect::<Vec<_>>(),
    ))
}

/// Imports GP appointment counts for many referrals from a GP-system extract, all or nothing:
/// any bad count rejects the whole import with `422 import_rejected`, each error giving its
/// row (from 1) and field (clinicians and practice administrators).
#[utoipa::path(
    tag = "gp-appointments",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice")),
    request_body = ImportBody,
    responses(
        (status = 200, description = "Imported", body = AppointmentCountImportResult),
        (status = 422, description = "Nothing was imported (`import_rejected`); `errors` lists each bad row"),
    )
)]
#[post("/practices/{practice_id}/gp-appointment-counts/import")]
pub async fn import_counts(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    body: JsonBody<ImportBody>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(
        &caller,
        path.into_inner(),
        PracticeAction::RecordAppointmentCounts,
    )?;
    let counts = body.0.counts;
    if counts.len() > IMPORT_MAX {
        return Err(ApiError::Unprocessable {
            code: "import_too_large",
            detail: format!("import at most {IMPORT_MAX} counts at a time"),
        });
    }
    let actor = actor(&caller, &req);
    let mut tx = super::begin(&state, &caller, p).await?;
    let mut checked = Vec::with_capacity(counts.len());
    let mut rejected = Vec::new();
    for (i, row) in counts.iter().enumerate() {
        let body = AppointmentCountBody {
            period_start: row.period_start,
            period_end: row.period_end,
            appointments: row.appointments,
        };
        match check(&mut tx, p, row.referral_id, row.window, &body).await {
            Ok((patient, count)) => checked.push((row.referral_id, patient, count)),
            Err(Ok(errors)) => rejected.extend(errors.0.into_iter().map(|e| ImportRowError {
                row: i + 1,
                field: e.field,
                code: e.code,
                message: e.message,
            })),
            Err(Err(error)) => return Err(error),
        }
    }
    if !rejected.is_empty() {
        return Err(ApiError::ImportRejected(rejected));
    }
    let (mut created, mut replaced) = (Vec::new(), Vec::new());
    for (referral, patient, count) in &checked {
        let (record, new) = gp_appointments::upsert(
            &mut tx,
            p.federation,
            p.practice,
            *referral,
            count,
            Source::Imported,
            caller.subject,
        )
        .await?;
        if new { &mut created } else { &mut replaced }.push(access(p, *patient, &record));
    }
    audit::record(&mut tx, p.federation, &actor, Action::Create, &created).await?;
    audit::record(&mut tx, p.federation, &actor, Action::Update, &replaced).await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(AppointmentCountImportResult {
        imported: checked.len(),
    }))
}
