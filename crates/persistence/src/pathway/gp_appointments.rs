//! GP appointment counts for a window before and after a referral, one per window: entering a
//! window again replaces it.

use crate::error::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::pathway::gp_appointments::NewAppointmentCount;
use waymark_domain::{FederationId, PracticeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppointmentCountRecord {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub appointment_window: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub appointments: i32,
    pub source: String,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

/// How a count reached the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Entered,
    Imported,
}

impl Source {
    fn code(self) -> &'static str {
        match self {
            Source::Entered => "entered",
            Source::Imported => "imported",
        }
    }
}

/// Enters the count for its window, replacing any there was; answers it and whether it is new.
pub async fn upsert(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
    count: &NewAppointmentCount,
    source: Source,
    by: Uuid,
) -> Result<(AppointmentCountRecord, bool), StoreError> {
    // A replaced count takes the time of its replacement from the column's default, in
    // EXCLUDED: Citus refuses now() in DO UPDATE SET.
    let row = sqlx::query!(
        r#"INSERT INTO gp_appointment_counts (federation_id, practice_id, id, referral_id,
               appointment_window, period_start, period_end, appointments, source, recorded_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (federation_id, practice_id, referral_id, appointment_window) DO UPDATE
           SET period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end,
               appointments = EXCLUDED.appointments, source = EXCLUDED.source,
               recorded_by = EXCLUDED.recorded_by, recorded_at = EXCLUDED.recorded_at
           RETURNING id, referral_id, appointment_window, period_start, period_end,
                     appointments, source, recorded_by, recorded_at,
                     (xmax = 0) AS "created!""#,
        federation.as_uuid(),
        practice.as_uuid(),
        Uuid::now_v7(),
        referral,
        count.window.code(),
        count.period_start,
        count.period_end,
        i32::try_from(count.appointments).unwrap_or(i32::MAX),
        source.code(),
        by,
    )
    .fetch_one(conn)
    .await?;
    Ok((
        AppointmentCountRecord {
            id: row.id,
            referral_id: row.referral_id,
            appointment_window: row.appointment_window,
            period_start: row.period_start,
            period_end: row.period_end,
            appointments: row.appointments,
            source: row.source,
            recorded_by: row.recorded_by,
            recorded_at: row.recorded_at,
        },
        row.created,
    ))
}

pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
) -> Result<Vec<AppointmentCountRecord>, StoreError> {
    Ok(sqlx::query_as!(
        AppointmentCountRecord,
        r#"SELECT id, referral_id, appointment_window, period_start, period_end, appointments,
                  source, recorded_by, recorded_at
           FROM gp_appointment_counts
           WHERE federation_id = $1 AND practice_id = $2 AND referral_id = $3
           ORDER BY appointment_window DESC"#,
        federation.as_uuid(),
        practice.as_uuid(),
        referral,
    )
    .fetch_all(conn)
    .await?)
}
