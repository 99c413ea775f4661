//! Clinic sessions and their slots: scheduled by administrators, run by cleared volunteers,
//! booked for referrals, and where attendance moves a referral on to seen or did_not_attend.

use super::referrals::referral_access;
use super::volunteers::refusal;
use super::{actor, authorise, Partition};
use crate::auth::Caller;
use crate::json_body::JsonBody;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::pathway::access::PracticeAction;
use waymark_domain::pathway::clinic::{Attendance, NewClinicSession};
use waymark_domain::pathway::referral_state::IllegalTransition;
use waymark_domain::pathway::ReferralState;
use waymark_domain::ValidationErrors;
use waymark_persistence::audit::{self, Access, Action, Actor};
use waymark_persistence::pathway::clinics::{
    self, AssignedVolunteer, SessionRecord, SessionSummaryRecord, SlotRecord,
};
use waymark_persistence::pathway::referrals::{self, ReferralRecord, StateChange};
use waymark_persistence::pathway::volunteers::{self, VolunteerRecord};
use waymark_persistence::{commit, end_read, Tx};

#[derive(Serialize, ToSchema)]
pub struct SessionVolunteer {
    pub id: Uuid,
    pub display_name: String,
}

impl From<AssignedVolunteer> for SessionVolunteer {
    fn from(v: AssignedVolunteer) -> Self {
        Self {
            id: v.id,
            display_name: v.display_name,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ClinicSlot {
    pub id: Uuid,
    pub session_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The referral booked into the slot; `null` while it is free.
    pub referral_id: Option<Uuid>,
    pub booked_by: Option<Uuid>,
    pub booked_at: Option<DateTime<Utc>>,
    /// Recorded after the slot; `null` until then.
    #[schema(schema_with = crate::schemas::optional_attendance)]
    pub attendance: Option<Attendance>,
    pub attendance_recorded_at: Option<DateTime<Utc>>,
}

impl From<SlotRecord> for ClinicSlot {
    fn from(r: SlotRecord) -> Self {
        Self {
            id: r.id,
            session_id: r.session_id,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            referral_id: r.referral_id,
            booked_by: r.booked_by,
            booked_at: r.booked_at,
            attendance: r.attendance,
            attendance_recorded_at: r.attendance_recorded_at,
        }
    }
}

/// A session with who runs it and all its slots.
#[derive(Serialize, ToSchema)]
pub struct ClinicSession {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[schema(example = "Rosebery Medical Centre, room 2")]
    pub location: String,
    pub slot_minutes: i32,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub volunteers: Vec<SessionVolunteer>,
    /// In time order.
    pub slots: Vec<ClinicSlot>,
    /// Slots neither booked nor started.
    pub free_slots: usize,
}

/// A session as the list shows it.
#[derive(Serialize, ToSchema)]
pub struct ClinicSessionSummary {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub location: String,
    pub slot_minutes: i32,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub slot_count: i64,
    /// Slots neither booked nor started.
    pub free_slots: i64,
}

impl From<SessionSummaryRecord> for ClinicSessionSummary {
    fn from(r: SessionSummaryRecord) -> Self {
        Self {
            id: r.id,
            practice_id: r.practice_id,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            location: r.location,
            slot_minutes: r.slot_minutes,
            created_by: r.created_by,
            created_at: r.created_at,
            slot_count: r.slot_count,
            free_slots: r.free_slots,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClinicSessionBody {
    /// RFC 3339; stored in UTC.
    pub starts_at: DateTime<Utc>,
    /// After `starts_at`, at most twelve hours later, with room for at least one slot.
    pub ends_at: DateTime<Utc>,
    #[schema(
        format = "line",
        max_length = 200,
        example = "Rosebery Medical Centre, room 2"
    )]
    pub location: String,
    /// Length of each slot; 30 when left out. Time at the end shorter than a slot is not offered.
    #[schema(minimum = 10, maximum = 240)]
    pub slot_minutes: Option<i64>,
    /// The volunteers who run the session; each must be active and cleared on its day.
    pub volunteer_ids: Vec<Uuid>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignVolunteerBody {
    pub volunteer_id: Uuid,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingBody {
    /// A referral of the practice in state received.
    pub referral_id: Uuid,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendanceBody {
    #[schema(schema_with = crate::schemas::attendance)]
    pub attendance: Attendance,
}

/// The slot after attendance was recorded, and where that left the referral.
#[derive(Serialize, ToSchema)]
pub struct AttendanceRecorded {
    pub slot: ClinicSlot,
    #[schema(schema_with = crate::schemas::referral_state)]
    pub referral_state: ReferralState,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionListQuery {
    /// Only sessions starting at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only sessions starting before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

fn session_location(p: Partition, id: Uuid) -> String {
    format!("/v1/practices/{}/clinic-sessions/{id}", p.practice)
}

fn already_recorded(recorded: Option<Attendance>) -> ApiError {
    ApiError::Conflict {
        code: "attendance_already_recorded",
        detail: match recorded {
            Some(recorded) => format!("attendance is already recorded for this slot: {recorded}"),
            None => "attendance is already recorded for this slot".to_owned(),
        },
    }
}

fn illegal(e: IllegalTransition) -> ApiError {
    ApiError::illegal_transition(format!("{e}: the referral is {}", e.from), e.from)
}

/// Moves the referral in a slot as the clinic does (booked, then seen or did not attend), a move
/// its state machine has allowed from `from`, and audits it.
async fn move_booked_referral(
    tx: &mut Tx,
    p: Partition,
    caller: &Caller,
    req: &HttpRequest,
    referral: Uuid,
    from: ReferralState,
    to: ReferralState,
) -> Result<ReferralRecord, ApiError> {
    let record = referrals::change_state(
        tx,
        p.federation,
        p.practice,
        referral,
        &StateChange {
            from,
            to,
            reason: None,
            closure: None,
            by: caller.subject,
        },
    )
    .await?;
    audit::record(
        tx,
        p.federation,
        &actor(caller, req),
        Action::Update,
        &[referral_access(p, &record)],
    )
    .await?;
    Ok(record)
}

/// Refuses a volunteer who may not run a clinic on `on`, saying who and why.
async fn check_cleared(
    tx: &mut Tx,
    p: Partition,
    volunteer: &VolunteerRecord,
    on: NaiveDate,
) -> Result<(), ApiError> {
    let training = volunteers::training(tx, p.federation, p.practice, volunteer.id).await?;
    match refusal(volunteer, &training, on) {
        None => Ok(()),
        Some(refused) => Err(ApiError::Conflict {
            code: "volunteer_not_cleared",
            detail: format!(
                "volunteer {} ({}) cannot run a clinic on {on}: {}",
                volunteer.id, volunteer.display_name, refused
            ),
        }),
    }
}

/// A session with its volunteers and slots; who is booked into a slot is patient data, so each
/// booked slot read is audited.
async fn read_session(
    tx: &mut Tx,
    p: Partition,
    actor: &Actor,
    record: SessionRecord,
) -> Result<ClinicSession, ApiError> {
    let volunteers = clinics::session_volunteers(tx, p.federation, p.practice, record.id).await?;
    let slots = clinics::slots(tx, p.federation, p.practice, record.id).await?;
    let booked: Vec<Uuid> = slots.iter().filter_map(|s| s.referral_id).collect();
    if !booked.is_empty() {
        let patients = referrals::patients_of(tx, p.federation, p.practice, &booked).await?;
        let accesses: Vec<Access> = slots
            .iter()
            .filter_map(|slot| {
                let referral = slot.referral_id?;
                let (_, patient) = patients.iter().find(|(r, _)| *r == referral)?;
                Some(Access {
                    practice: p.practice,
                    patient: *patient,
                    resource_type: "clinic_slot",
                    resource: slot.id,
                })
            })
            .collect();
        audit::record(tx, p.federation, actor, Action::Read, &accesses).await?;
    }
    let now = Utc::now();
    let free_slots = slots
        .iter()
        .filter(|s| s.referral_id.is_none() && s.starts_at > now)
        .count();
    Ok(ClinicSession {
        id: record.id,
        practice_id: record.practice_id,
        starts_at: record.starts_at,
        ends_at: record.ends_at,
        location: record.location,
        slot_minutes: record.slot_minutes,
        created_by: record.created_by,
        created_at: record.created_at,
        volunteers: volunteers.into_iter().map(SessionVolunteer::from).collect(),
        slots: slots.into_iter().map(ClinicSlot::from).collect(),
        free_slots,
    })
}

/// Schedules a clinic session, split into slots, run by the given volunteers (practice and
/// federation administrators). Each volunteer must be active, with a background check and
/// training that are current on the session's day.
#[utoipa::path(
    tag = "clinics",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice")),
    request_body = NewClinicSessionBody,
    responses(
        (status = 201, description = "Scheduled", body = ClinicSession, headers(("Location" = String))),
        (status = 409, description = "A volunteer is inactive, or their background check or training has lapsed on the session's day (`volunteer_not_cleared`)"),
        (status = 422, description = "Invalid times, location or slot length, or an unknown or repeated volunteer"),
    )
)]
#[post("/practices/{practice_id}/clinic-sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    body: JsonBody<NewClinicSessionBody>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(&caller, path.into_inner(), PracticeAction::ScheduleClinics)?;
    let b = body.0;
    let parsed = NewClinicSession::parse(b.starts_at, b.ends_at, &b.location, b.slot_minutes);
    let mut errors = match &parsed {
        Ok(_) => ValidationErrors::new(),
        Err(e) => e.clone(),
    };
    let mut listed = HashSet::new();
    for (i, id) in b.volunteer_ids.iter().enumerate() {
        if !listed.insert(*id) {
            errors.add(
                format!("volunteer_ids[{i}]"),
                "duplicate",
                "this volunteer is already listed",
            );
        }
    }
    let session = match parsed {
        Ok(session) if errors.is_empty() => session,
        _ => return Err(errors.into()),
    };
    let mut tx = super::begin(&state, &caller, p).await?;
    let mut held = Vec::with_capacity(b.volunteer_ids.len());
    for (i, id) in b.volunteer_ids.iter().enumerate() {
        match volunteers::hold(&mut tx, p.federation, p.practice, *id).await? {
            Some(volunteer) => held.push(volunteer),
            None => errors.add(
                format!("volunteer_ids[{i}]"),
                "not_found",
                "no volunteer of this practice has this id",
            ),
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let day = session.starts_at.date_naive();
    for volunteer in &held {
        check_cleared(&mut tx, p, volunteer, day).await?;
    }
    let record = clinics::create_session(
        &mut tx,
        p.federation,
        p.practice,
        Uuid::now_v7(),
        caller.subject,
        &session,
    )
    .await?;
    clinics::assign(
        &mut tx,
        p.federation,
        p.practice,
        record.id,
        &b.volunteer_ids,
        caller.subject,
    )
    .await?;
    let location = session_location(p, record.id);
    let session = read_session(&mut tx, p, &actor(&caller, &req), record).await?;
    commit(tx).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(session))
}

/// The practice's clinic sessions by start time, optionally only those starting in
/// `[from, to)`.
#[utoipa::path(
    tag = "clinics",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice"), SessionListQuery),
    responses((status = 200, description = "A page of clinic sessions", body = Page<ClinicSessionSummary>))
)]
#[get("/practices/{practice_id}/clinic-sessions")]
pub async fn list_sessions(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<SessionListQuery>,
) -> Result<HttpResponse, ApiError> {
    let p = authorise(&caller, path.into_inner(), PracticeAction::ReadClinics)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = super::begin_search(&state, &caller, p).await?;
    let rows = clinics::list_sessions(
        &mut tx,
        p.federation,
        p.practice,
        query.from,
        query.to,
        page.after,
        page.probe(),
    )
    .await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, ClinicSessionSummary::from)))
}

/// One clinic session with its volunteers and slots.
#[utoipa::path(
    tag = "clinics",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("session_id" = Uuid, Path, description = "The clinic session"),
    ),
    responses((status = 200, description = "The session", body = ClinicSession))
)]
#[get("/practices/{practice_id}/clinic-sessions/{session_id}")]
pub async fn get_session(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, session) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReadClinics)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let record = clinics::find_session(&mut tx, p.federation, p.practice, session).await?;
    let session = read_session(&mut tx, p, &actor(&caller, &req), record).await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(session))
}

/// Adds a volunteer to a session (practice and federation administrators); they must be active
/// and cleared on the session's day.
#[utoipa::path(
    tag = "clinics",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("session_id" = Uuid, Path, description = "The clinic session"),
    ),
    request_body = AssignVolunteerBody,
    responses(
        (status = 201, description = "Assigned; the session as it now is", body = ClinicSession, headers(("Location" = String))),
        (status = 409, description = "The volunteer is already on the session (`already_exists`) or not cleared on its day (`volunteer_not_cleared`)"),
        (status = 422, description = "No volunteer of the practice has this id"),
    )
)]
#[post("/practices/{practice_id}/clinic-sessions/{session_id}/volunteers")]
pub async fn assign_volunteer(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<AssignVolunteerBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, session) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ScheduleClinics)?;
    let volunteer_id = body.0.volunteer_id;
    let mut tx = super::begin(&state, &caller, p).await?;
    let record = clinics::find_session(&mut tx, p.federation, p.practice, session).await?;
    let volunteer = volunteers::hold(&mut tx, p.federation, p.practice, volunteer_id)
        .await?
        .ok_or_else(|| {
            ValidationErrors::single(
                "volunteer_id",
                "not_found",
                "no volunteer of this practice has this id",
            )
        })?;
    check_cleared(&mut tx, p, &volunteer, record.starts_at.date_naive()).await?;
    clinics::assign(
        &mut tx,
        p.federation,
        p.practice,
        session,
        &[volunteer_id],
        caller.subject,
    )
    .await?;
    let location = format!("{}/volunteers/{volunteer_id}", session_location(p, session));
    let session = read_session(&mut tx, p, &actor(&caller, &req), record).await?;
    commit(tx).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(session))
}

/// Takes a volunteer off a session (practice and federation administrators).
#[utoipa::path(
    tag = "clinics",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("session_id" = Uuid, Path, description = "The clinic session"),
        ("volunteer_id" = Uuid, Path, description = "The volunteer"),
    ),
    responses((status = 204, description = "Removed"))
)]
#[delete("/practices/{practice_id}/clinic-sessions/{session_id}/volunteers/{volunteer_id}")]
pub async fn unassign_volunteer(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, session, volunteer) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ScheduleClinics)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    if !clinics::unassign(&mut tx, p.federation, p.practice, session, volunteer).await? {
        return Err(ApiError::NotFound);
    }
    commit(tx).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Books a slot for a referral that has been received, moving it to booked. Of several
/// bookings of one slot at once, exactly one succeeds.
#[utoipa::path(
    tag = "clinics",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("slot_id" = Uuid, Path, description = "The clinic slot"),
    ),
    request_body = BookingBody,
    responses(
        (status = 200, description = "Booked", body = ClinicSlot),
        (status = 404, description = "No such slot, or no such referral in the practice"),
        (status = 409, description = "The slot is booked already (`slot_taken`) or has started (`slot_in_past`), its session has no volunteer (`session_unstaffed`), or the referral cannot be booked from its current state (`illegal_transition`)"),
    )
)]
#[post("/practices/{practice_id}/clinic-slots/{slot_id}/booking")]
pub async fn book_slot(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<BookingBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, slot_id) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::BookSlots)?;
    let referral = body.0.referral_id;
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = referrals::lock(&mut tx, p.federation, p.practice, referral).await?;
    let to = current
        .state
        .transition(ReferralState::Booked)
        .map_err(illegal)?;
    let slot = clinics::find_slot(&mut tx, p.federation, p.practice, slot_id).await?;
    if clinics::session_volunteers(&mut tx, p.federation, p.practice, slot.session_id)
        .await?
        .is_empty()
    {
        return Err(ApiError::Conflict {
            code: "session_unstaffed",
            detail: "no volunteer is assigned to this clinic session yet; assign one before \
                     booking patients into it"
                .to_owned(),
        });
    }
    if slot.starts_at <= Utc::now() {
        return Err(ApiError::Conflict {
            code: "slot_in_past",
            detail: format!(
                "the slot started at {}; book one that is still to come",
                slot.starts_at
            ),
        });
    }
    let slot = clinics::book(
        &mut tx,
        p.federation,
        p.practice,
        slot_id,
        referral,
        caller.subject,
    )
    .await?
    .ok_or_else(|| ApiError::Conflict {
        code: "slot_taken",
        detail: "the slot is already booked; choose another".to_owned(),
    })?;
    move_booked_referral(&mut tx, p, &caller, &req, referral, current.state, to).await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(ClinicSlot::from(slot)))
}

/// Records whether the booked patient came (volunteers and practice administrators), moving
/// the referral to seen or did_not_attend.
#[utoipa::path(
    tag = "clinics",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("slot_id" = Uuid, Path, description = "The clinic slot"),
    ),
    request_body = AttendanceBody,
    responses(
        (status = 200, description = "Recorded", body = AttendanceRecorded),
        (status = 409, description = "The slot is not booked (`slot_not_booked`) or has not begun (`slot_not_started`), attendance is already recorded (`attendance_already_recorded`), or the referral has moved on (`illegal_transition`)"),
    )
)]
#[post("/practices/{practice_id}/clinic-slots/{slot_id}/attendance")]
pub async fn record_attendance(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<AttendanceBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, slot_id) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::RecordAttendance)?;
    let attendance = body.0.attendance;
    let mut tx = super::begin(&state, &caller, p).await?;
    let slot = clinics::find_slot(&mut tx, p.federation, p.practice, slot_id).await?;
    let Some(referral) = slot.referral_id else {
        return Err(ApiError::Conflict {
            code: "slot_not_booked",
            detail: "nobody is booked into this slot".to_owned(),
        });
    };
    Attendance::recordable(slot.starts_at, Utc::now()).map_err(|e| ApiError::Conflict {
        code: "slot_not_started",
        detail: e.to_string(),
    })?;
    let current = referrals::lock(&mut tx, p.federation, p.practice, referral).await?;
    // Whoever records attendance holds the referral's lock, so the slot read again now shows
    // any recording that got there first.
    let slot = clinics::find_slot(&mut tx, p.federation, p.practice, slot_id).await?;
    if let Some(recorded) = slot.attendance {
        return Err(already_recorded(Some(recorded)));
    }
    let to = current
        .state
        .transition(match attendance {
            Attendance::Attended => ReferralState::Seen,
            Attendance::DidNotAttend => ReferralState::DidNotAttend,
        })
        .map_err(illegal)?;
    let slot = clinics::record_attendance(
        &mut tx,
        p.federation,
        p.practice,
        slot_id,
        referral,
        attendance,
    )
    .await?
    .ok_or_else(|| already_recorded(None))?;
    let record =
        move_booked_referral(&mut tx, p, &caller, &req, referral, current.state, to).await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(AttendanceRecorded {
        slot: ClinicSlot::from(slot),
        referral_state: record.state,
    }))
}
