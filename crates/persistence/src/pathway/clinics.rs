//! Clinic sessions, the volunteers who run them and the slots referrals are booked into.

use crate::error::{on_constraint, StoreError};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;
use waymark_domain::pathway::clinic::{Attendance, NewClinicSession};
use waymark_domain::{FederationId, PracticeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub location: String,
    pub slot_minutes: i32,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// A session as a list shows it, with how many of its slots are left to book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummaryRecord {
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignedVolunteer {
    pub id: Uuid,
    pub display_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRecord {
    pub id: Uuid,
    pub session_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub referral_id: Option<Uuid>,
    pub booked_by: Option<Uuid>,
    pub booked_at: Option<DateTime<Utc>>,
    pub attendance: Option<Attendance>,
    pub attendance_recorded_at: Option<DateTime<Utc>>,
}

struct SlotRow {
    id: Uuid,
    session_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    referral_id: Option<Uuid>,
    booked_by: Option<Uuid>,
    booked_at: Option<DateTime<Utc>>,
    attendance: Option<String>,
    attendance_recorded_at: Option<DateTime<Utc>>,
}

impl TryFrom<SlotRow> for SlotRecord {
    type Error = StoreError;

    fn try_from(r: SlotRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            session_id: r.session_id,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            referral_id: r.referral_id,
            booked_by: r.booked_by,
            booked_at: r.booked_at,
            attendance: r
                .attendance
                .map(|a| a.parse::<Attendance>())
                .transpose()
                .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?,
            attendance_recorded_at: r.attendance_recorded_at,
        })
    }
}

/// Records the session and every slot it holds, in the caller's transaction.
pub async fn create_session(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
    created_by: Uuid,
    session: &NewClinicSession,
) -> Result<SessionRecord, StoreError> {
    let slot_minutes =
        i32::try_from(session.slot_minutes).expect("slot lengths are at most a few hours");
    let record = sqlx::query_as!(
        SessionRecord,
        r#"INSERT INTO clinic_sessions (federation_id, practice_id, id, starts_at, ends_at,
               location, slot_minutes, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id, practice_id, starts_at, ends_at, location, slot_minutes, created_by,
                     created_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        session.starts_at,
        session.ends_at,
        session.location,
        slot_minutes,
        created_by,
    )
    .fetch_one(&mut *conn)
    .await?;
    // Rows as VALUES, not unnest(): see `crate::rows`.
    for slots in session.slots().chunks(crate::rows::PER_STATEMENT) {
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO clinic_slots (federation_id, practice_id, id, session_id, starts_at, \
             ends_at) ",
        );
        insert.push_values(slots, |mut row, (starts_at, ends_at)| {
            row.push_bind(federation.as_uuid())
                .push_bind(practice.as_uuid())
                .push_bind(Uuid::now_v7())
                .push_bind(id)
                .push_bind(*starts_at)
                .push_bind(*ends_at);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(record)
}

pub async fn find_session(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
) -> Result<SessionRecord, StoreError> {
    sqlx::query_as!(
        SessionRecord,
        r#"SELECT id, practice_id, starts_at, ends_at, location, slot_minutes, created_by,
                  created_at
           FROM clinic_sessions WHERE federation_id = $1 AND practice_id = $2 AND id = $3"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// The practice's sessions starting in `[from, to)`, by start time. The cursor is the last
/// session's id, whose start time is looked up to resume from, so clients page in the order
/// they plan in while the cursor stays an id like everywhere else.
pub async fn list_sessions(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<SessionSummaryRecord>, StoreError> {
    Ok(sqlx::query_as!(
        SessionSummaryRecord,
        r#"SELECT s.id, s.practice_id, s.starts_at, s.ends_at, s.location, s.slot_minutes,
                  s.created_by, s.created_at,
                  (SELECT count(*) FROM clinic_slots t
                   WHERE t.federation_id = $1 AND t.practice_id = $2
                     AND t.session_id = s.id) AS "slot_count!",
                  (SELECT count(*) FROM clinic_slots t
                   WHERE t.federation_id = $1 AND t.practice_id = $2
                     AND t.session_id = s.id AND t.referral_id IS NULL AND t.starts_at > now()) AS "free_slots!"
           FROM clinic_sessions s
           WHERE s.federation_id = $1 AND s.practice_id = $2
             AND ($3::timestamptz IS NULL OR s.starts_at >= $3)
             AND ($4::timestamptz IS NULL OR s.starts_at < $4)
             AND ($5::uuid IS NULL OR (s.starts_at, s.id) > (
                 SELECT c.starts_at, c.id FROM clinic_sessions c
                 WHERE c.federation_id = $1 AND c.practice_id = $2 AND c.id = $5))
           ORDER BY s.starts_at, s.id LIMIT $6"#,
        federation.as_uuid(),
        practice.as_uuid(),
        from,
        to,
        after,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// Who runs the session, by name.
pub async fn session_volunteers(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    session: Uuid,
) -> Result<Vec<AssignedVolunteer>, StoreError> {
    Ok(sqlx::query_as!(
        AssignedVolunteer,
        r#"SELECT v.id, v.display_name
           FROM clinic_session_volunteers a
           JOIN volunteers v ON v.practice_id = a.practice_id AND v.id = a.volunteer_id
           WHERE a.federation_id = $1 AND a.practice_id = $2 AND a.session_id = $3
             AND v.federation_id = $1
           ORDER BY v.display_name, v.id"#,
        federation.as_uuid(),
        practice.as_uuid(),
        session,
    )
    .fetch_all(conn)
    .await?)
}

const ALREADY_ASSIGNED: (&str, StoreError) = (
    "clinic_session_volunteers_pkey",
    StoreError::Duplicate {
        field: "volunteer_id",
    },
);

const UNKNOWN_VOLUNTEER: (&str, StoreError) = (
    "clinic_session_volunteers_volunteer_fkey",
    StoreError::MissingReference {
        field: "volunteer_id",
    },
);

/// Assigns each of `volunteers` to the session.
pub async fn assign(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    session: Uuid,
    volunteers: &[Uuid],
    by: Uuid,
) -> Result<(), StoreError> {
    // Rows as VALUES, not unnest(): see `crate::rows`.
    for volunteers in volunteers.chunks(crate::rows::PER_STATEMENT) {
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO clinic_session_volunteers (federation_id, practice_id, session_id, \
             volunteer_id, assigned_by) ",
        );
        insert.push_values(volunteers, |mut row, volunteer| {
            row.push_bind(federation.as_uuid())
                .push_bind(practice.as_uuid())
                .push_bind(session)
                .push_bind(*volunteer)
                .push_bind(by);
        });
        insert
            .build()
            .execute(&mut *conn)
            .await
            .map_err(|e| on_constraint(e, &[ALREADY_ASSIGNED, UNKNOWN_VOLUNTEER]))?;
    }
    Ok(())
}

/// Takes the volunteer off the session; false when they were not on it.
pub async fn unassign(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    session: Uuid,
    volunteer: Uuid,
) -> Result<bool, StoreError> {
    let removed = sqlx::query!(
        r#"DELETE FROM clinic_session_volunteers
           WHERE federation_id = $1 AND practice_id = $2 AND session_id = $3
             AND volunteer_id = $4"#,
        federation.as_uuid(),
        practice.as_uuid(),
        session,
        volunteer,
    )
    .execute(conn)
    .await?;
    Ok(removed.rows_affected() > 0)
}

/// The session's slots, in time order.
pub async fn slots(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    session: Uuid,
) -> Result<Vec<SlotRecord>, StoreError> {
    sqlx::query_as!(
        SlotRow,
        r#"SELECT id, session_id, starts_at, ends_at, referral_id, booked_by, booked_at,
                  attendance, attendance_recorded_at
           FROM clinic_slots
           WHERE federation_id = $1 AND practice_id = $2 AND session_id = $3
           ORDER BY starts_at, id"#,
        federation.as_uuid(),
        practice.as_uuid(),
        session,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(SlotRecord::try_from)
    .collect()
}

pub async fn find_slot(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
) -> Result<SlotRecord, StoreError> {
    sqlx::query_as!(
        SlotRow,
        r#"SELECT id, session_id, starts_at, ends_at, referral_id, booked_by, booked_at,
                  attendance, attendance_recorded_at
           FROM clinic_slots WHERE federation_id = $1 AND practice_id = $2 AND id = $3"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

const REFERRAL_ALREADY_BOOKED: (&str, StoreError) = (
    "clinic_slots_practice_id_referral_id_key",
    StoreError::Duplicate {
        field: "referral_id",
    },
);

/// Books the slot for `referral` if nobody holds it yet: `None` when it is taken (or does not
/// exist). The condition is re-checked after waiting for any concurrent booking of the same
/// slot to end, so of several at once exactly one succeeds.
pub async fn book(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    slot: Uuid,
    referral: Uuid,
    by: Uuid,
) -> Result<Option<SlotRecord>, StoreError> {
    sqlx::query_as!(
        SlotRow,
        r#"UPDATE clinic_slots
           SET referral_id = $4, booked_by = $5, booked_at = now()
           WHERE federation_id = $1 AND practice_id = $2 AND id = $3 AND referral_id IS NULL
           RETURNING id, session_id, starts_at, ends_at, referral_id, booked_by, booked_at,
                     attendance, attendance_recorded_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        slot,
        referral,
        by,
    )
    .fetch_optional(conn)
    .await
    .map_err(|e| on_constraint(e, &[REFERRAL_ALREADY_BOOKED]))?
    .map(SlotRecord::try_from)
    .transpose()
}

/// Gives up the referral's booking, if it has one whose attendance is not yet recorded, so the
/// slot can be booked again; answers the slot freed.
pub async fn release_booking(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"UPDATE clinic_slots SET referral_id = NULL, booked_by = NULL, booked_at = NULL
           WHERE federation_id = $1 AND practice_id = $2 AND referral_id = $3
             AND attendance IS NULL
           RETURNING id"#,
        federation.as_uuid(),
        practice.as_uuid(),
        referral,
    )
    .fetch_optional(conn)
    .await?)
}

/// Records whether the patient booked into the slot for `referral` came, if that is not yet
/// recorded: `None` when it already is.
pub async fn record_attendance(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    slot: Uuid,
    referral: Uuid,
    attendance: Attendance,
) -> Result<Option<SlotRecord>, StoreError> {
    sqlx::query_as!(
        SlotRow,
        r#"UPDATE clinic_slots
           SET attendance = $5, attendance_recorded_at = now()
           WHERE federation_id = $1 AND practice_id = $2 AND id = $3 AND referral_id = $4
             AND attendance IS NULL
           RETURNING id, session_id, starts_at, ends_at, referral_id, booked_by, booked_at,
                     attendance, attendance_recorded_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        slot,
        referral,
        attendance.code(),
    )
    .fetch_optional(conn)
    .await?
    .map(SlotRecord::try_from)
    .transpose()
}
