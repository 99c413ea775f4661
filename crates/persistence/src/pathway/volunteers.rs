//! Volunteers of a practice, the training they have completed, and the clinic time they have
//! given.

use crate::error::{on_constraint, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::pathway::volunteer::{NewTrainingRecord, NewVolunteer, TrainingRecord};
use waymark_domain::{FederationId, PracticeId, Role};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolunteerRecord {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub user_id: Option<Uuid>,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub background_check_on: Option<NaiveDate>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainingEntryRecord {
    pub id: Uuid,
    pub volunteer_id: Uuid,
    pub course: String,
    pub completed_on: NaiveDate,
    pub expires_on: Option<NaiveDate>,
    pub recorded_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl TrainingEntryRecord {
    /// The record as the clearance rule reads it.
    pub fn training(&self) -> TrainingRecord {
        TrainingRecord {
            course: self.course.clone(),
            completed_on: self.completed_on,
            expires_on: self.expires_on,
        }
    }
}

/// The users foreign key does not see row-level security, so it would accept another tenant's
/// user; [`user_account`] is the real check, and this only names the field if a user vanishes
/// in between.
const UNKNOWN_USER: (&str, StoreError) = (
    "volunteers_user_id_fkey",
    StoreError::MissingReference { field: "user_id" },
);

const USER_ALREADY_VOLUNTEERS: (&str, StoreError) = (
    "volunteers_practice_id_user_id_key",
    StoreError::Duplicate { field: "user_id" },
);

/// Whether `user` is an account of the practice (`None` when it is not), and if so whether it
/// has the volunteer role.
pub async fn user_account(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    user: Uuid,
) -> Result<Option<bool>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT $4 = ANY(roles) AS "volunteer!"
           FROM users WHERE federation_id = $1 AND practice_id = $2 AND id = $3"#,
        federation.as_uuid(),
        practice.as_uuid(),
        user,
        Role::Volunteer.as_str(),
    )
    .fetch_optional(conn)
    .await?)
}

pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
    user: Option<Uuid>,
    v: &NewVolunteer,
) -> Result<VolunteerRecord, StoreError> {
    sqlx::query_as!(
        VolunteerRecord,
        r#"INSERT INTO volunteers (federation_id, practice_id, id, user_id, display_name, email,
               phone, background_check_on)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id, practice_id, user_id, display_name, email, phone, background_check_on,
                     active, version, created_at, updated_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        user,
        v.display_name,
        v.email,
        v.phone,
        v.background_check_on,
    )
    .fetch_one(conn)
    .await
    .map_err(|e| on_constraint(e, &[UNKNOWN_USER, USER_ALREADY_VOLUNTEERS]))
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
) -> Result<VolunteerRecord, StoreError> {
    sqlx::query_as!(
        VolunteerRecord,
        r#"SELECT id, practice_id, user_id, display_name, email, phone, background_check_on,
                  active, version, created_at, updated_at
           FROM volunteers WHERE federation_id = $1 AND practice_id = $2 AND id = $3"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// The volunteer, kept from changing until the transaction ends, so that a clearance decided on
/// it still holds when an assignment commits. `None` when there is no such volunteer.
pub async fn hold(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
) -> Result<Option<VolunteerRecord>, StoreError> {
    Ok(sqlx::query_as!(
        VolunteerRecord,
        r#"SELECT id, practice_id, user_id, display_name, email, phone, background_check_on,
                  active, version, created_at, updated_at
           FROM volunteers WHERE federation_id = $1 AND practice_id = $2 AND id = $3
           FOR SHARE"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?)
}

/// The practice's volunteers by id.
pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<VolunteerRecord>, StoreError> {
    Ok(sqlx::query_as!(
        VolunteerRecord,
        r#"SELECT id, practice_id, user_id, display_name, email, phone, background_check_on,
                  active, version, created_at, updated_at
           FROM volunteers
           WHERE federation_id = $1 AND practice_id = $2
             AND ($3::uuid IS NULL OR id > $3)
           ORDER BY id LIMIT $4"#,
        federation.as_uuid(),
        practice.as_uuid(),
        after,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// Replaces the volunteer's details if it is still at `expected_version`.
pub async fn update(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
    expected_version: i32,
    v: &NewVolunteer,
    active: bool,
) -> Result<VolunteerRecord, StoreError> {
    let updated = sqlx::query_as!(
        VolunteerRecord,
        r#"UPDATE volunteers
           SET display_name = $5, email = $6, phone = $7, background_check_on = $8,
               active = $9, version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND practice_id = $2 AND id = $3 AND version = $4
           RETURNING id, practice_id, user_id, display_name, email, phone, background_check_on,
                     active, version, created_at, updated_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        expected_version,
        v.display_name,
        v.email,
        v.phone,
        v.background_check_on,
        active,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match updated {
        Some(record) => Ok(record),
        None => {
            let current = find(conn, federation, practice, id).await?;
            Err(StoreError::VersionMismatch {
                current_version: current.version,
            })
        }
    }
}

const UNKNOWN_VOLUNTEER: (&str, StoreError) = (
    "volunteer_training_volunteer_fkey",
    StoreError::MissingReference {
        field: "volunteer_id",
    },
);

pub async fn add_training(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
    volunteer: Uuid,
    recorded_by: Uuid,
    record: &NewTrainingRecord,
) -> Result<TrainingEntryRecord, StoreError> {
    sqlx::query_as!(
        TrainingEntryRecord,
        r#"INSERT INTO volunteer_training (federation_id, practice_id, id, volunteer_id, course,
               completed_on, expires_on, recorded_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id, volunteer_id, course, completed_on, expires_on, recorded_by,
                     created_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        volunteer,
        record.course,
        record.completed_on,
        record.expires_on,
        recorded_by,
    )
    .fetch_one(conn)
    .await
    .map_err(|e| on_constraint(e, &[UNKNOWN_VOLUNTEER]))
}

/// The volunteer's training, earliest completed first.
pub async fn training(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    volunteer: Uuid,
) -> Result<Vec<TrainingEntryRecord>, StoreError> {
    Ok(sqlx::query_as!(
        TrainingEntryRecord,
        r#"SELECT id, volunteer_id, course, completed_on, expires_on, recorded_by, created_at
           FROM volunteer_training
           WHERE federation_id = $1 AND practice_id = $2 AND volunteer_id = $3
           ORDER BY completed_on, id"#,
        federation.as_uuid(),
        practice.as_uuid(),
        volunteer,
    )
    .fetch_all(conn)
    .await?)
}

/// The length, in seconds, of every clinic session the volunteer was assigned to that ended by
/// `now`, added up.
pub async fn clinic_seconds(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    volunteer: Uuid,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce(sum(extract(epoch FROM s.ends_at - s.starts_at)), 0)::bigint
               AS "seconds!"
           FROM clinic_session_volunteers a
           JOIN clinic_sessions s ON s.practice_id = a.practice_id AND s.id = a.session_id
           WHERE a.federation_id = $1 AND a.practice_id = $2 AND a.volunteer_id = $3
             AND s.federation_id = $1 AND s.ends_at <= $4"#,
        federation.as_uuid(),
        practice.as_uuid(),
        volunteer,
        now,
    )
    .fetch_one(conn)
    .await?)
}
