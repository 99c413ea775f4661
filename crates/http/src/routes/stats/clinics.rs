//! Volunteers' time at clinics.

use super::{bucket_index, reader, Covering, Csv, Filters, Question, Reading, StatsQuery, WHOLE};
use crate::auth::Caller;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_persistence::stats::read;

/// Clinic sessions and the volunteer hours given at them. These count sessions and volunteers'
/// time, not patients, so no disclosure control applies.
#[derive(Clone, Copy, Default, Serialize, ToSchema)]
pub struct ClinicTime {
    pub sessions: i64,
    /// Each volunteer assigned to a session gives its length; to one decimal place.
    #[schema(example = 31.5)]
    pub volunteer_hours: f64,
}

fn time(sessions: i64, minutes: i64) -> ClinicTime {
    ClinicTime {
        sessions,
        volunteer_hours: (minutes as f64 / 6.0).round() / 10.0,
    }
}

#[derive(Serialize, ToSchema)]
pub struct BucketClinicTime {
    pub bucket_start: NaiveDate,
    #[serde(flatten)]
    pub time: ClinicTime,
}

#[derive(Serialize, ToSchema)]
pub struct PracticeClinicTime {
    pub practice_id: Uuid,
    pub ods_code: String,
    pub name: String,
    #[serde(flatten)]
    pub time: ClinicTime,
}

#[derive(Serialize, ToSchema)]
pub struct VolunteerHoursStats {
    #[serde(flatten)]
    pub covering: Covering,
    #[serde(flatten)]
    pub total: ClinicTime,
    pub by_bucket: Vec<BucketClinicTime>,
    pub by_practice: Vec<PracticeClinicTime>,
}

/// Clinic sessions held in the period (by the day they start) and the hours volunteers gave at
/// them, by bucket and by practice. Filters by practice and period only.
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    params(StatsQuery),
    responses((status = 200, description = "Volunteer clinic hours, as JSON, or as CSV (one row per figure) with `format=csv` or `Accept: text/csv`", content(
        (VolunteerHoursStats = "application/json"),
        (String = "text/csv"),
    )))
)]
#[get("/stats/volunteer-hours")]
pub async fn volunteer_hours_stats(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = reader(&caller)?;
    let question = Question::parse(federation, &query, &req, Filters::PracticesAndPeriod)?;
    let mut reading = Reading::start(&state, &caller, &question).await?;
    let rows = read::clinic_time(&mut reading.tx, &question.slice).await?;
    let covering = Covering::of(&reading, &question);
    let practices = std::mem::take(&mut reading.practices);
    reading.finish();

    let index = bucket_index(covering.buckets.clone());
    let mut total = (0, 0);
    let mut per_bucket = vec![(0, 0); covering.buckets.len()];
    let mut per_practice = vec![(0, 0); practices.len()];
    for r in &rows {
        total.0 += r.sessions;
        total.1 += r.volunteer_minutes;
        if let Some(i) = index(r.bucket_start) {
            per_bucket[i].0 += r.sessions;
            per_bucket[i].1 += r.volunteer_minutes;
        }
        if let Some(i) = practices.iter().position(|(id, _, _)| *id == r.practice_id) {
            per_practice[i].0 += r.sessions;
            per_practice[i].1 += r.volunteer_minutes;
        }
    }
    let stats = VolunteerHoursStats {
        total: time(total.0, total.1),
        by_bucket: covering
            .buckets
            .iter()
            .zip(per_bucket)
            .map(|(bucket, (s, m))| BucketClinicTime {
                bucket_start: *bucket,
                time: time(s, m),
            })
            .collect(),
        by_practice: practices
            .into_iter()
            .zip(per_practice)
            .map(
                |((practice_id, ods_code, name), (s, m))| PracticeClinicTime {
                    practice_id,
                    ods_code,
                    name,
                    time: time(s, m),
                },
            )
            .collect(),
        covering,
    };
    if !question.csv {
        return Ok(HttpResponse::Ok().json(stats));
    }
    let mut csv = Csv::new(stats.covering.as_of);
    let row = |csv: &mut Csv, bucket: Option<NaiveDate>, group: (&str, &str), t: &ClinicTime| {
        csv.number("sessions", bucket, group, t.sessions as f64);
        csv.number("volunteer_hours", bucket, group, t.volunteer_hours);
    };
    row(&mut csv, None, WHOLE, &stats.total);
    for b in &stats.by_bucket {
        row(&mut csv, Some(b.bucket_start), WHOLE, &b.time);
    }
    for p in &stats.by_practice {
        row(
            &mut csv,
            None,
            ("practice", &p.practice_id.to_string()),
            &p.time,
        );
    }
    Ok(csv.respond("volunteer-hours", &question))
}
