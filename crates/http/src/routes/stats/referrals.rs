//! Referrals over time, by practice and by need, and the pathway funnel.

use super::{
    bucket_index, reader, Count, Covering, Csv, Filters, Measure, Question, Reading, StatsQuery,
    WHOLE,
};
use crate::auth::Caller;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;
use waymark_domain::stats::figures;
use waymark_domain::stats::ReferralMeasures;
use waymark_persistence::stats::read;

#[derive(Serialize, ToSchema)]
pub struct PracticeReferrals {
    pub practice_id: Uuid,
    pub ods_code: String,
    pub name: String,
    /// Referrals made in each bucket.
    pub referrals: Vec<Count>,
    pub total: Count,
}

#[derive(Serialize, ToSchema)]
pub struct NeedReferrals {
    #[schema(example = "loneliness")]
    pub need_category: &'static str,
    pub referrals: Vec<Count>,
    pub total: Count,
}

/// Referrals made, by practice and bucket (a table whose totals are computed from the true
/// counts), and by need.
#[derive(Serialize, ToSchema)]
pub struct ReferralStats {
    #[serde(flatten)]
    pub covering: Covering,
    pub by_practice: Vec<PracticeReferrals>,
    /// Every practice asked for, per bucket.
    pub bucket_totals: Vec<Count>,
    pub total: Count,
    /// A referral for two needs counts under each, so these do not add up to the total.
    pub by_need_category: Vec<NeedReferrals>,
}

/// Referrals made in each bucket, by practice and by need category: how demand is growing, and
/// for what. Counts pass through the federation's disclosure control (NHS Digital's by
/// default: 1 to 7 suppressed, others rounded to the nearest 5); with secondary suppression on,
/// no suppressed practice cell can be worked out from the totals.
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    params(StatsQuery),
    responses((status = 200, description = "Referrals over time, as JSON, or as CSV (one row per figure) with `format=csv` or `Accept: text/csv`", content(
        (ReferralStats = "application/json"),
        (String = "text/csv"),
    )))
)]
#[get("/stats/referrals")]
pub async fn referral_stats(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = reader(&caller)?;
    let question = Question::parse(federation, &query, &req, Filters::Referrals)?;
    let mut reading = Reading::start(&state, &caller, &question).await?;
    let cells = read::referral_measures(&mut reading.tx, &question.slice).await?;
    let by_need = read::referrals_by_need(&mut reading.tx, &question.slice).await?;
    let policy = reading.settings.policy;
    let covering = Covering::of(&reading, &question);
    let practices = std::mem::take(&mut reading.practices);
    reading.finish();

    let buckets = covering.buckets.clone();
    let index = bucket_index(buckets.clone());
    let mut grid = vec![vec![0u64; buckets.len()]; practices.len()];
    for cell in &cells {
        let row = practices
            .iter()
            .position(|(id, _, _)| *id == cell.practice_id);
        if let (Some(row), Some(column)) = (row, index(cell.bucket_start)) {
            grid[row][column] = cell.measures.referrals.max(0) as u64;
        }
    }
    let table = policy.table(&grid).map_err(ApiError::internal)?;
    let by_practice: Vec<PracticeReferrals> = practices
        .into_iter()
        .zip(table.cells.iter().zip(&table.row_totals))
        .map(
            |((practice_id, ods_code, name), (row, total))| PracticeReferrals {
                practice_id,
                ods_code,
                name,
                referrals: row.iter().copied().map(Count::from).collect(),
                total: (*total).into(),
            },
        )
        .collect();
    let categories: Vec<NeedCategory> = if question.slice.need_category == read::ALL {
        NeedCategory::ALL.to_vec()
    } else {
        NeedCategory::ALL
            .into_iter()
            .filter(|c| c.code() == question.slice.need_category)
            .collect()
    };
    let by_need_category = categories
        .into_iter()
        .map(|category| {
            let mut counts = vec![0u64; buckets.len()];
            for (code, bucket, n) in &by_need {
                if code == category.code() {
                    if let Some(i) = index(*bucket) {
                        counts[i] = (*n).max(0) as u64;
                    }
                }
            }
            NeedReferrals {
                need_category: category.code(),
                total: policy.total(&counts).into(),
                referrals: counts.into_iter().map(|n| policy.count(n).into()).collect(),
            }
        })
        .collect();
    let stats = ReferralStats {
        bucket_totals: table
            .column_totals
            .iter()
            .copied()
            .map(Count::from)
            .collect(),
        total: table.total.into(),
        by_practice,
        by_need_category,
        covering,
    };
    if !question.csv {
        return Ok(HttpResponse::Ok().json(stats));
    }
    let mut csv = Csv::new(stats.covering.as_of);
    for practice in &stats.by_practice {
        let group = ("practice", &*practice.practice_id.to_string());
        for (bucket, count) in stats.covering.buckets.iter().zip(&practice.referrals) {
            csv.count("referrals", Some(*bucket), group, *count);
        }
        csv.count("referrals", None, group, practice.total);
    }
    for (bucket, count) in stats.covering.buckets.iter().zip(&stats.bucket_totals) {
        csv.count("referrals", Some(*bucket), WHOLE, *count);
    }
    csv.count("referrals", None, WHOLE, stats.total);
    for need in &stats.by_need_category {
        let group = ("need_category", need.need_category);
        for (bucket, count) in stats.covering.buckets.iter().zip(&need.referrals) {
            csv.count("referrals", Some(*bucket), group, *count);
        }
        csv.count("referrals", None, group, need.total);
    }
    Ok(csv.respond("referrals", &question))
}

#[derive(Serialize, ToSchema)]
pub struct StageCount {
    /// `referred`, `booked`, `seen`, `onward_referred`, `engaged`, `closed`; or the exits
    /// `declined`, `did_not_attend`, `withdrawn`.
    #[schema(example = "booked")]
    pub stage: &'static str,
    /// Referrals made in the period that reached the stage (by now).
    pub referrals: Count,
    /// As a percentage of the referrals made, from the rounded counts.
    pub percent_of_referred: Measure,
}

#[derive(Serialize, ToSchema)]
pub struct BucketFunnel {
    pub bucket_start: NaiveDate,
    pub stages: Vec<StageCount>,
    pub exits: Vec<StageCount>,
}

/// How far the referrals made in the period have got: each stage counts the referrals that
/// reached it, so a referral made in March and booked in April counts as booked in March.
#[derive(Serialize, ToSchema)]
pub struct FunnelStats {
    #[serde(flatten)]
    pub covering: Covering,
    /// referred → booked → seen (first clinic contact) → onward_referred (sent to a provider)
    /// → engaged (taking part in a service) → closed.
    pub stages: Vec<StageCount>,
    /// Ways out: declined, did_not_attend, withdrawn.
    pub exits: Vec<StageCount>,
    /// Referrals seen at a clinic.
    pub first_contacts: Count,
    /// Days from the referral to its first clinic contact, over those seen.
    pub median_days_to_first_contact: Measure,
    pub mean_days_to_first_contact: Measure,
    pub by_bucket: Vec<BucketFunnel>,
}

fn stage_counts(figures: &[figures::StageFigure]) -> Vec<StageCount> {
    figures
        .iter()
        .map(|f| StageCount {
            stage: f.stage.code(),
            referrals: f.referrals.into(),
            percent_of_referred: f.percent_of_referred.into(),
        })
        .collect()
}

/// The pathway funnel of the referrals made in the period, with the median and mean days from
/// referral to first clinic contact, overall and per bucket.
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    params(StatsQuery),
    responses((status = 200, description = "The funnel, as JSON, or as CSV (one row per figure) with `format=csv` or `Accept: text/csv`", content(
        (FunnelStats = "application/json"),
        (String = "text/csv"),
    )))
)]
#[get("/stats/funnel")]
pub async fn funnel_stats(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = reader(&caller)?;
    let question = Question::parse(federation, &query, &req, Filters::Referrals)?;
    let mut reading = Reading::start(&state, &caller, &question).await?;
    let cells = read::referral_measures(&mut reading.tx, &question.slice).await?;
    let contact_days = read::contact_days(&mut reading.tx, &question.slice).await?;
    let policy = reading.settings.policy;
    let covering = Covering::of(&reading, &question);
    reading.finish();

    let index = bucket_index(covering.buckets.clone());
    let mut total = ReferralMeasures::default();
    let mut per_bucket = vec![ReferralMeasures::default(); covering.buckets.len()];
    for cell in &cells {
        total += cell.measures;
        if let Some(i) = index(cell.bucket_start) {
            per_bucket[i] += cell.measures;
        }
    }
    let funnel = figures::funnel(&policy, &total, &contact_days);
    let by_bucket = covering
        .buckets
        .iter()
        .zip(&per_bucket)
        .map(|(bucket, m)| {
            let f = figures::funnel(&policy, m, &[]);
            BucketFunnel {
                bucket_start: *bucket,
                stages: stage_counts(&f.stages),
                exits: stage_counts(&f.exits),
            }
        })
        .collect();
    let stats = FunnelStats {
        stages: stage_counts(&funnel.stages),
        exits: stage_counts(&funnel.exits),
        first_contacts: funnel.first_contacts.into(),
        median_days_to_first_contact: funnel.median_days_to_first_contact.into(),
        mean_days_to_first_contact: funnel.mean_days_to_first_contact.into(),
        by_bucket,
        covering,
    };
    if !question.csv {
        return Ok(HttpResponse::Ok().json(stats));
    }
    let mut csv = Csv::new(stats.covering.as_of);
    let stages = |csv: &mut Csv, bucket: Option<NaiveDate>, counts: &[StageCount]| {
        for s in counts {
            let group = ("stage", s.stage);
            csv.count("referrals", bucket, group, s.referrals);
            csv.measure("percent_of_referred", bucket, group, s.percent_of_referred);
        }
    };
    stages(&mut csv, None, &stats.stages);
    stages(&mut csv, None, &stats.exits);
    csv.count("first_contacts", None, WHOLE, stats.first_contacts);
    csv.measure(
        "median_days_to_first_contact",
        None,
        WHOLE,
        stats.median_days_to_first_contact,
    );
    csv.measure(
        "mean_days_to_first_contact",
        None,
        WHOLE,
        stats.mean_days_to_first_contact,
    );
    for bucket in &stats.by_bucket {
        stages(&mut csv, Some(bucket.bucket_start), &bucket.stages);
        stages(&mut csv, Some(bucket.bucket_start), &bucket.exits);
    }
    Ok(csv.respond("funnel", &question))
}
