//! What referrals achieved: wellbeing change and GP appointments before and after.

use super::{
    reader, Amount, Count, Covering, Csv, Filters, Measure, Question, Reading, StatsQuery, WHOLE,
};
use crate::auth::Caller;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;
use waymark_domain::stats::figures;
use waymark_domain::stats::ReferralMeasures;
use waymark_persistence::stats::read;

async fn measures(
    state: &AppState,
    caller: &Caller,
    query: &StatsQuery,
    req: &HttpRequest,
) -> Result<
    (
        Question,
        Covering,
        ReferralMeasures,
        waymark_domain::stats::StatsSettings,
    ),
    ApiError,
> {
    let federation = reader(caller)?;
    let question = Question::parse(federation, query, req, Filters::Referrals)?;
    let mut reading = Reading::start(state, caller, &question).await?;
    let cells = read::referral_measures(&mut reading.tx, &question.slice).await?;
    let covering = Covering::of(&reading, &question);
    let settings = reading.settings;
    reading.finish();
    let mut total = ReferralMeasures::default();
    for cell in cells {
        total += cell.measures;
    }
    Ok((question, covering, total, settings))
}

#[derive(Serialize, ToSchema)]
pub struct WellbeingChange {
    /// `swemwbs` (the metric score, 7 to 35), or the ONS4 items `ons4_life_satisfaction`,
    /// `ons4_worthwhile`, `ons4_happiness`, `ons4_anxiety` (0 to 10).
    #[schema(example = "swemwbs")]
    pub measure: &'static str,
    /// Whether a rise is an improvement (false for anxiety).
    pub higher_is_better: bool,
    /// The least change counted as an improvement, in the measure's points.
    #[schema(example = 3.0)]
    pub meaningful_change: f64,
    /// Referrals with both a baseline and a follow-up.
    pub pairs: Count,
    /// Mean of (follow-up − baseline), in the measure's points.
    pub mean_change: Measure,
    /// Pairs that improved by at least the meaningful change.
    pub improved: Count,
    pub percent_improved: Measure,
}

#[derive(Serialize, ToSchema)]
pub struct WellbeingStats {
    #[serde(flatten)]
    pub covering: Covering,
    pub measures: Vec<WellbeingChange>,
}

/// Wellbeing change of the referrals made in the period: for SWEMWBS and each ONS4 item, the
/// number of baseline and follow-up pairs, the mean change, and the share that improved by at
/// least the measure's meaningful change (3 points of SWEMWBS's metric score, the upper end of
/// Warwick Medical School's 1 to 3; 1 point of an ONS4 item, a fall for anxiety).
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    params(StatsQuery),
    responses((status = 200, description = "Wellbeing change, as JSON, or as CSV (one row per figure) with `format=csv` or `Accept: text/csv`", content(
        (WellbeingStats = "application/json"),
        (String = "text/csv"),
    )))
)]
#[get("/stats/wellbeing")]
pub async fn wellbeing_stats(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (question, covering, total, settings) = measures(&state, &caller, &query, &req).await?;
    let stats = WellbeingStats {
        measures: figures::wellbeing(&settings.policy, &total)
            .into_iter()
            .map(|f| WellbeingChange {
                measure: f.measure.code(),
                higher_is_better: f.measure.higher_is_better(),
                meaningful_change: f.measure.meaningful_change(),
                pairs: f.pairs.into(),
                mean_change: f.mean_change.into(),
                improved: f.improved.into(),
                percent_improved: f.percent_improved.into(),
            })
            .collect(),
        covering,
    };
    if !question.csv {
        return Ok(HttpResponse::Ok().json(stats));
    }
    let mut csv = Csv::new(stats.covering.as_of);
    for m in &stats.measures {
        let group = ("measure", m.measure);
        csv.count("pairs", None, group, m.pairs);
        csv.measure("mean_change", None, group, m.mean_change);
        csv.count("improved", None, group, m.improved);
        csv.measure("percent_improved", None, group, m.percent_improved);
    }
    Ok(csv.respond("wellbeing", &question))
}

#[derive(Serialize, ToSchema)]
pub struct GpAppointmentStats {
    #[serde(flatten)]
    pub covering: Covering,
    /// Referrals with GP appointment counts for the windows both before and after.
    pub patients: Count,
    pub mean_before: Measure,
    pub mean_after: Measure,
    /// Mean of (after − before) per patient: below zero when appointments fell.
    pub mean_change: Measure,
    /// Appointments before less appointments after, over those patients: below zero when
    /// they rose.
    pub appointments_avoided: Amount,
}

/// GP appointments in the windows before and after the referrals made in the period, over the
/// patients with counts for both.
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    params(StatsQuery),
    responses((status = 200, description = "GP appointments before and after, as JSON, or as CSV (one row per figure) with `format=csv` or `Accept: text/csv`", content(
        (GpAppointmentStats = "application/json"),
        (String = "text/csv"),
    )))
)]
#[get("/stats/gp-appointments")]
pub async fn gp_appointment_stats(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (question, covering, total, settings) = measures(&state, &caller, &query, &req).await?;
    let gp = figures::gp_appointments(&settings.policy, &total);
    let stats = GpAppointmentStats {
        covering,
        patients: gp.patients.into(),
        mean_before: gp.mean_before.into(),
        mean_after: gp.mean_after.into(),
        mean_change: gp.mean_change.into(),
        appointments_avoided: gp.appointments_avoided.into(),
    };
    if !question.csv {
        return Ok(HttpResponse::Ok().json(stats));
    }
    let mut csv = Csv::new(stats.covering.as_of);
    csv.count("patients", None, WHOLE, stats.patients);
    csv.measure("mean_before", None, WHOLE, stats.mean_before);
    csv.measure("mean_after", None, WHOLE, stats.mean_after);
    csv.measure("mean_change", None, WHOLE, stats.mean_change);
    csv.amount(
        "appointments_avoided",
        None,
        WHOLE,
        stats.appointments_avoided,
    );
    Ok(csv.respond("gp-appointments", &question))
}
