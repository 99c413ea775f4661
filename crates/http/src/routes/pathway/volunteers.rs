//! Volunteers of a practice and their training, kept by practice and federation administrators
//! and read by the practice's staff. Whether a volunteer may run a clinic is derived from the
//! record each time it is shown, never stored, so it cannot go stale.

use super::{authorise, Partition};
use crate::auth::Caller;
use crate::concurrency::{with_etag, IfMatch, IfMatchHeader};
use crate::json_body::{apply_change, JsonBody};
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::pathway::access::PracticeAction;
use waymark_domain::pathway::volunteer::{
    may_run_clinic, NewTrainingRecord, NewVolunteer, NotCleared,
};
use waymark_domain::ValidationErrors;
use waymark_persistence::pathway::volunteers::{self, TrainingEntryRecord, VolunteerRecord};
use waymark_persistence::{commit, end_read, Tx};

#[derive(Serialize, ToSchema)]
pub struct Volunteer {
    pub id: Uuid,
    pub practice_id: Uuid,
    /// The volunteer's user account, if they sign in.
    pub user_id: Option<Uuid>,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// When the current background check was made; it lapses three years later.
    pub background_check_on: Option<NaiveDate>,
    /// Inactive volunteers are kept for the record but not assigned to clinics.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<VolunteerRecord> for Volunteer {
    fn from(r: VolunteerRecord) -> Self {
        Self {
            id: r.id,
            practice_id: r.practice_id,
            user_id: r.user_id,
            display_name: r.display_name,
            email: r.email,
            phone: r.phone,
            background_check_on: r.background_check_on,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Training {
    pub id: Uuid,
    pub volunteer_id: Uuid,
    pub course: String,
    pub completed_on: NaiveDate,
    /// The last day the training counts; absent for training that never expires.
    pub expires_on: Option<NaiveDate>,
    pub recorded_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<TrainingEntryRecord> for Training {
    fn from(r: TrainingEntryRecord) -> Self {
        Self {
            id: r.id,
            volunteer_id: r.volunteer_id,
            course: r.course,
            completed_on: r.completed_on,
            expires_on: r.expires_on,
            recorded_by: r.recorded_by,
            created_at: r.created_at,
        }
    }
}

/// Whether the volunteer may run a clinic on `on`: active, with a current background check and
/// current training.
#[derive(Serialize, ToSchema)]
pub struct Clearance {
    pub on: NaiveDate,
    pub cleared: bool,
    /// Why not, when not cleared.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schemas::clearance_code)]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "the volunteer's training expired on 2025-05-19")]
    pub reason: Option<String>,
}

/// A volunteer with their training, today's clearance and the clinic time they have given.
#[derive(Serialize, ToSchema)]
pub struct VolunteerDetail {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub user_id: Option<Uuid>,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub background_check_on: Option<NaiveDate>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Earliest completed first.
    pub training: Vec<Training>,
    pub clearance: Clearance,
    /// Hours of the clinic sessions the volunteer was assigned to that have ended.
    #[schema(example = 7.5)]
    pub clinic_hours: f64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVolunteerBody {
    #[schema(format = "line", max_length = 200)]
    pub display_name: String,
    #[schema(format = Email)]
    pub email: Option<String>,
    #[schema(format = "phone", max_length = 30)]
    pub phone: Option<String>,
    /// When the volunteer's current background check was made.
    pub background_check_on: Option<NaiveDate>,
    /// A user account of the practice with the volunteer role, if the volunteer signs in.
    pub user_id: Option<Uuid>,
}

/// Fields to change; absent fields stay as they are, `null` clears an optional one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VolunteerChangesBody {
    #[schema(format = "line", max_length = 200)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "crate::json_body::absent_or_nullable")]
    #[schema(value_type = Option<String>, format = Email)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::json_body::absent_or_nullable")]
    #[schema(format = "phone", value_type = Option<String>, max_length = 30)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::json_body::absent_or_nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub background_check_on: Option<Option<NaiveDate>>,
    pub active: Option<bool>,
}

/// What a change to a volunteer applies to.
struct VolunteerFields {
    display_name: String,
    email: Option<String>,
    phone: Option<String>,
    background_check_on: Option<NaiveDate>,
    active: bool,
}

impl VolunteerChangesBody {
    /// The volunteer as `current`, with these changes.
    fn apply(self, current: VolunteerRecord) -> VolunteerFields {
        let mut fields = VolunteerFields {
            display_name: current.display_name,
            email: current.email,
            phone: current.phone,
            background_check_on: current.background_check_on,
            active: current.active,
        };
        apply_change(&mut fields.display_name, self.display_name);
        apply_change(&mut fields.email, self.email);
        apply_change(&mut fields.phone, self.phone);
        apply_change(&mut fields.background_check_on, self.background_check_on);
        apply_change(&mut fields.active, self.active);
        fields
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrainingBody {
    #[schema(
        format = "line",
        max_length = 200,
        example = "Safeguarding adults level 2"
    )]
    pub course: String,
    pub completed_on: NaiveDate,
    /// The last day the training counts; leave out for training that never expires.
    pub expires_on: Option<NaiveDate>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VolunteerListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// Why the volunteer may not run a clinic on `on`, if they may not.
pub(crate) fn refusal(
    volunteer: &VolunteerRecord,
    training: &[TrainingEntryRecord],
    on: NaiveDate,
) -> Option<NotCleared> {
    let training: Vec<_> = training.iter().map(TrainingEntryRecord::training).collect();
    may_run_clinic(
        volunteer.active,
        volunteer.background_check_on,
        &training,
        on,
    )
    .err()
}

/// Reads everything the detail shows about `record` as of now.
async fn detail(
    tx: &mut Tx,
    p: Partition,
    record: VolunteerRecord,
) -> Result<VolunteerDetail, ApiError> {
    let now = Utc::now();
    let today = now.date_naive();
    let training = volunteers::training(tx, p.federation, p.practice, record.id).await?;
    let seconds = volunteers::clinic_seconds(tx, p.federation, p.practice, record.id, now).await?;
    let refused = refusal(&record, &training, today);
    Ok(VolunteerDetail {
        id: record.id,
        practice_id: record.practice_id,
        user_id: record.user_id,
        display_name: record.display_name,
        email: record.email,
        phone: record.phone,
        background_check_on: record.background_check_on,
        active: record.active,
        created_at: record.created_at,
        updated_at: record.updated_at,
        training: training.into_iter().map(Training::from).collect(),
        clearance: Clearance {
            on: today,
            cleared: refused.is_none(),
            code: refused.as_ref().map(NotCleared::code),
            reason: refused.map(|r| r.to_string()),
        },
        clinic_hours: hours(seconds),
    })
}

/// Hours to two decimal places.
fn hours(seconds: i64) -> f64 {
    (seconds as f64 / 36.0).round() / 100.0
}

fn respond(
    builder: actix_web::HttpResponseBuilder,
    version: i32,
    detail: VolunteerDetail,
) -> HttpResponse {
    with_etag(builder, version).json(detail)
}

/// Adds a volunteer to the practice (practice and federation administrators).
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice")),
    request_body = NewVolunteerBody,
    responses(
        (status = 201, description = "Added", body = VolunteerDetail, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "The user account is already a volunteer here (`already_exists`)"),
        (status = 422, description = "Invalid fields, or `user_id` is not a volunteer account of the practice"),
    )
)]
#[post("/practices/{practice_id}/volunteers")]
pub async fn create_volunteer(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    body: JsonBody<NewVolunteerBody>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(&caller, path.into_inner(), PracticeAction::ManageVolunteers)?;
    let b = body.0;
    let new = NewVolunteer::parse(
        &b.display_name,
        b.email.as_deref(),
        b.phone.as_deref(),
        b.background_check_on,
    )?;
    let mut tx = super::begin(&state, &caller, p).await?;
    if let Some(user) = b.user_id {
        match volunteers::user_account(&mut tx, p.federation, p.practice, user).await? {
            Some(true) => {}
            Some(false) => {
                return Err(ValidationErrors::single(
                    "user_id",
                    "not_a_volunteer",
                    "the user account does not have the volunteer role",
                )
                .into())
            }
            None => {
                return Err(ValidationErrors::single(
                    "user_id",
                    "not_found",
                    "no user account of this practice has this id",
                )
                .into())
            }
        }
    }
    let record = volunteers::create(
        &mut tx,
        p.federation,
        p.practice,
        Uuid::now_v7(),
        b.user_id,
        &new,
    )
    .await?;
    let version = record.version;
    let location = format!("/v1/practices/{}/volunteers/{}", p.practice, record.id);
    let detail = detail(&mut tx, p, record).await?;
    commit(tx).await?;
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, location));
    Ok(respond(created, version, detail))
}

/// The practice's volunteers, oldest first.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice"), VolunteerListQuery),
    responses((status = 200, description = "A page of volunteers", body = Page<Volunteer>))
)]
#[get("/practices/{practice_id}/volunteers")]
pub async fn list_volunteers(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<VolunteerListQuery>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(&caller, path.into_inner(), PracticeAction::ReadVolunteers)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = super::begin_search(&state, &caller, p).await?;
    let rows =
        volunteers::list(&mut tx, p.federation, p.practice, page.after, page.probe()).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, Volunteer::from)))
}

/// One volunteer with their training, whether they may run a clinic today, and their clinic
/// hours; with its `ETag`.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("volunteer_id" = Uuid, Path, description = "The volunteer"),
    ),
    responses((status = 200, description = "The volunteer", body = VolunteerDetail, headers(("ETag" = String))))
)]
#[get("/practices/{practice_id}/volunteers/{volunteer_id}")]
pub async fn get_volunteer(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, volunteer) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReadVolunteers)?;
    let mut tx = super::begin_search(&state, &caller, p).await?;
    let record = volunteers::find(&mut tx, p.federation, p.practice, volunteer).await?;
    let version = record.version;
    let detail = detail(&mut tx, p, record).await?;
    end_read(tx);
    Ok(respond(HttpResponse::Ok(), version, detail))
}

/// Updates a volunteer's details, background check or whether they are active (practice and
/// federation administrators). Needs `If-Match`.
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("volunteer_id" = Uuid, Path, description = "The volunteer"),
        IfMatchHeader,
    ),
    request_body = VolunteerChangesBody,
    responses((status = 200, description = "Updated", body = VolunteerDetail, headers(("ETag" = String))))
)]
#[patch("/practices/{practice_id}/volunteers/{volunteer_id}")]
pub async fn update_volunteer(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
    if_match: IfMatch,
    body: JsonBody<VolunteerChangesBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, volunteer) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ManageVolunteers)?;
    let expected = if_match.version()?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = volunteers::find(&mut tx, p.federation, p.practice, volunteer).await?;
    let changed = body.0.apply(current);
    let details = NewVolunteer::parse(
        &changed.display_name,
        changed.email.as_deref(),
        changed.phone.as_deref(),
        changed.background_check_on,
    )?;
    let record = volunteers::update(
        &mut tx,
        p.federation,
        p.practice,
        volunteer,
        expected,
        &details,
        changed.active,
    )
    .await?;
    let version = record.version;
    let detail = detail(&mut tx, p, record).await?;
    commit(tx).await?;
    Ok(respond(HttpResponse::Ok(), version, detail))
}

/// Records a training course the volunteer completed (practice and federation administrators).
#[utoipa::path(
    tag = "volunteers",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("volunteer_id" = Uuid, Path, description = "The volunteer"),
    ),
    request_body = NewTrainingBody,
    responses((status = 201, description = "Recorded", body = Training))
)]
#[post("/practices/{practice_id}/volunteers/{volunteer_id}/training")]
pub async fn add_training(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<NewTrainingBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, volunteer) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ManageVolunteers)?;
    let b = body.0;
    let record = NewTrainingRecord::parse(&b.course, b.completed_on, b.expires_on)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    volunteers::find(&mut tx, p.federation, p.practice, volunteer).await?;
    let entry = volunteers::add_training(
        &mut tx,
        p.federation,
        p.practice,
        Uuid::now_v7(),
        volunteer,
        caller.subject,
        &record,
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Created().json(Training::from(entry)))
}
