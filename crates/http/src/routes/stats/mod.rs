//! Commissioner statistics under `/v1/stats/…`: aggregates of a federation's referrals, their
//! outcomes, its spend and its volunteers' clinic time, every figure through the federation's
//! disclosure control, as JSON or as CSV. Commissioners, federation administrators and service
//! accounts with `stats:read` read them; nothing here returns a patient-level row.

pub mod clinics;
pub mod outcomes;
pub mod referrals;
pub mod settings;
pub mod spend;

use crate::auth::Caller;
use crate::csv::{text_cell, wants_csv};
use crate::problem::ApiError;
use crate::schemas::{or_null, string_enum};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;
use waymark_domain::pathway::demographics::Sex;
use waymark_domain::stats::{AgeBand, BucketKind, Cell, Period, StatsSettings, Suppression};
use waymark_domain::FederationId;
use waymark_persistence::stats::read::{self, Slice, ALL};
use waymark_persistence::stats::settings as stored_settings;
use waymark_persistence::{end_read, TenantScope, Tx};

/// The federation of a caller who may read its statistics.
pub fn reader(caller: &Caller) -> Result<FederationId, ApiError> {
    caller.require(
        caller.can_read_statistics(),
        "statistics are for commissioners, federation administrators and service accounts with stats:read",
    )?;
    caller.federation()
}

/// What every statistics route is asked: the period, the practices, and for the referral
/// statistics the need category, age band and sex.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// `month` (the default) or `week` (ISO weeks, Monday to Sunday).
    #[param(schema_with = bucket_kind)]
    pub bucket: Option<String>,
    /// The first day: the first of a month, or a Monday. Defaults to the start of the twelve
    /// months (or thirteen weeks) ending with the current one.
    pub from: Option<NaiveDate>,
    /// The last day, included: the last of a month, or a Sunday; at most two years after
    /// `from`. Defaults to the end of the current month (or week).
    pub to: Option<NaiveDate>,
    /// Comma-separated practice ids; every practice of the federation when absent.
    pub practice_ids: Option<String>,
    /// Only referrals for this need (referral statistics only).
    #[param(schema_with = need_category_filter)]
    pub need_category: Option<String>,
    /// Only patients of this age band on the day of their referral (referral statistics only).
    #[param(schema_with = age_band_filter)]
    pub age_band: Option<String>,
    /// Only patients of this sex as their record has it, `not_known` counting those whose sex
    /// is not recorded (referral statistics only).
    #[param(schema_with = sex_filter)]
    pub sex: Option<String>,
    /// `json` (the default) or `csv`; `Accept: text/csv` also asks for CSV.
    #[param(schema_with = crate::csv::format_parameter)]
    pub format: Option<String>,
}

fn bucket_kind() -> utoipa::openapi::Object {
    string_enum(
        BucketKind::ALL.map(BucketKind::code),
        "`month` (the default) or `week` (ISO weeks, Monday to Sunday)",
    )
}

fn need_category_filter() -> utoipa::openapi::Object {
    string_enum(
        NeedCategory::ALL.map(NeedCategory::code),
        "Only referrals for this need (a code from GET /v1/directory/need-categories)",
    )
}

fn age_band_filter() -> utoipa::openapi::Object {
    string_enum(
        AgeBand::ALL.map(AgeBand::code),
        "Only patients of this age band on the day of their referral",
    )
}

fn sex_filter() -> utoipa::openapi::Object {
    string_enum(
        Sex::ALL.map(Sex::code),
        "Only patients of this sex as their record has it (`not_known` includes those whose sex \
         is not recorded)",
    )
}

pub fn suppression_schema() -> utoipa::openapi::Object {
    or_null(string_enum(
        [
            Suppression::SmallCount,
            Suppression::SmallBase,
            Suppression::Secondary,
        ]
        .map(Suppression::as_str),
        "Why the value is not shown: `small_count`, a count of 1 to the federation's threshold \
         (7 by default); `small_base`, a mean, median, rate, percentage or amount over that few \
         people or charges; `secondary`, hidden so that a suppressed cell of its row or column \
         cannot be worked out from the totals. `null` when the value is shown, or when there is \
         nothing to measure",
    ))
}

/// Which statistics a route offers, for the filters that apply to it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Filters {
    /// Practices, period, need category, age band and sex.
    Referrals,
    /// Practices and period only: spend and clinic time belong to no referral's need, age or
    /// sex.
    PracticesAndPeriod,
}

/// A statistics question, checked.
pub struct Question {
    pub slice: Slice,
    pub csv: bool,
}

impl Question {
    pub fn parse(
        federation: FederationId,
        query: &StatsQuery,
        req: &HttpRequest,
        filters: Filters,
    ) -> Result<Self, ApiError> {
        let invalid = |detail: String| ApiError::bad_request("invalid_query_parameter", detail);
        let kind = match query.bucket.as_deref() {
            None => BucketKind::Month,
            Some(raw) => raw.parse().map_err(|e| invalid(format!("bucket: {e}")))?,
        };
        let period = Period::parse(kind, query.from, query.to, Utc::now().date_naive())
            .map_err(|e| invalid(e.to_string()))?;
        let practices = match query.practice_ids.as_deref() {
            None => None,
            Some(raw) => {
                let mut ids = raw
                    .split(',')
                    .map(|id| {
                        Uuid::parse_str(id.trim()).map_err(|_| {
                            invalid(format!("practice_ids: `{id}` is not a practice id"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                ids.sort();
                ids.dedup();
                if ids.is_empty() || ids.len() > 500 {
                    return Err(invalid(
                        "practice_ids: name from 1 to 500 practices, separated by commas".into(),
                    ));
                }
                Some(ids)
            }
        };
        let narrowed =
            query.need_category.is_some() || query.age_band.is_some() || query.sex.is_some();
        if filters == Filters::PracticesAndPeriod && narrowed {
            return Err(invalid(
                "need_category, age_band and sex apply to referral statistics only: spend and \
                 clinic time belong to no one referral's need, age or sex"
                    .into(),
            ));
        }
        let need_category = match query.need_category.as_deref() {
            None => ALL.to_owned(),
            Some(raw) => raw
                .parse::<NeedCategory>()
                .map_err(|e| invalid(format!("need_category: {e}")))?
                .code()
                .to_owned(),
        };
        let age_band = match query.age_band.as_deref() {
            None => ALL.to_owned(),
            Some(raw) => raw
                .parse::<AgeBand>()
                .map_err(|e| invalid(format!("age_band: {e}")))?
                .code()
                .to_owned(),
        };
        let sex = match query.sex.as_deref() {
            None => ALL.to_owned(),
            Some(raw) => raw
                .parse::<Sex>()
                .map_err(|e| invalid(format!("sex: {e}")))?
                .code()
                .to_owned(),
        };
        let csv = wants_csv(query.format.as_deref(), req)?;
        Ok(Self {
            slice: Slice {
                federation,
                period,
                practices,
                need_category,
                age_band,
                sex,
            },
            csv,
        })
    }
}

/// A read of the statistics: one snapshot, the moment it was taken, the federation's settings
/// and practices, with the practices asked for checked against them.
pub struct Reading {
    pub tx: Tx,
    pub as_of: DateTime<Utc>,
    pub settings: StatsSettings,
    /// (id, ODS code, name) of the practices the question covers, in name order.
    pub practices: Vec<(Uuid, String, String)>,
}

impl Reading {
    pub async fn start(
        state: &AppState,
        caller: &Caller,
        question: &Question,
    ) -> Result<Self, ApiError> {
        let mut tx = state.begin_snapshot(TenantScope::of(caller)).await?;
        let as_of = read::as_of(&mut tx).await?;
        let settings = stored_settings::find(&mut tx, question.slice.federation)
            .await?
            .settings;
        let mut practices = read::practice_names(&mut tx, question.slice.federation).await?;
        if let Some(asked) = &question.slice.practices {
            if let Some(unknown) = asked
                .iter()
                .find(|id| !practices.iter().any(|(p, _, _)| p == *id))
            {
                end_read(tx);
                return Err(ApiError::bad_request(
                    "invalid_query_parameter",
                    format!("practice_ids: no practice {unknown} in this federation"),
                ));
            }
            practices.retain(|(id, _, _)| asked.contains(id));
        }
        Ok(Self {
            tx,
            as_of,
            settings,
            practices,
        })
    }

    pub fn finish(self) {
        end_read(self.tx);
    }
}

/// A count of people as it may be shown.
#[derive(Clone, Copy, Serialize, ToSchema)]
pub struct Count {
    /// The count, rounded; `null` when suppressed.
    pub value: Option<u64>,
    #[schema(schema_with = suppression_schema)]
    pub suppression: Option<Suppression>,
}

impl From<Cell<u64>> for Count {
    fn from(cell: Cell<u64>) -> Self {
        Self {
            value: cell.value(),
            suppression: cell.suppression(),
        }
    }
}

/// A mean, median, rate or percentage as it may be shown.
#[derive(Clone, Copy, Serialize, ToSchema)]
pub struct Measure {
    /// `null` when suppressed, or when there was nobody to measure.
    pub value: Option<f64>,
    #[schema(schema_with = suppression_schema)]
    pub suppression: Option<Suppression>,
}

impl From<Option<Cell<f64>>> for Measure {
    fn from(cell: Option<Cell<f64>>) -> Self {
        Self {
            value: cell.and_then(|c| c.value()),
            suppression: cell.and_then(|c| c.suppression()),
        }
    }
}

/// A whole number that is not a count of people (pence, appointments) as it may be shown.
#[derive(Clone, Copy, Serialize, ToSchema)]
pub struct Amount {
    /// `null` when suppressed, or when there was nothing to measure.
    pub value: Option<i64>,
    #[schema(schema_with = suppression_schema)]
    pub suppression: Option<Suppression>,
}

impl From<Option<Cell<i64>>> for Amount {
    fn from(cell: Option<Cell<i64>>) -> Self {
        Self {
            value: cell.and_then(|c| c.value()),
            suppression: cell.and_then(|c| c.suppression()),
        }
    }
}

/// What a statistics answer covers and how it was protected.
#[derive(Serialize, ToSchema)]
pub struct Covering {
    /// The figures are exact as of this moment: every change committed before it is in them,
    /// none after.
    pub as_of: DateTime<Utc>,
    pub federation_id: Uuid,
    /// `month` or `week`.
    pub bucket: &'static str,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The first day of each bucket, in order; per-bucket figures follow this order.
    pub buckets: Vec<NaiveDate>,
    /// The practices asked for; `null` for the whole federation.
    pub practice_ids: Option<Vec<Uuid>>,
    /// The need category asked for, or `all`.
    pub need_category: String,
    /// The age band asked for, or `all`.
    pub age_band: String,
    /// The sex asked for, or `all`.
    pub sex: String,
    pub disclosure: Disclosure,
}

/// The disclosure control applied.
#[derive(Serialize, ToSchema)]
pub struct Disclosure {
    /// Counts from 1 to this are suppressed.
    #[schema(example = 7)]
    pub suppress_up_to: u64,
    /// Other counts are rounded to the nearest multiple of this.
    #[schema(example = 5)]
    pub round_to: u64,
    /// Whether secondary suppression protects suppressed cells of tables with totals.
    pub secondary_suppression: bool,
}

impl Covering {
    pub fn of(reading: &Reading, question: &Question) -> Self {
        let slice = &question.slice;
        let policy = reading.settings.policy;
        Self {
            as_of: reading.as_of,
            federation_id: slice.federation.as_uuid(),
            bucket: slice.period.kind().code(),
            from: slice.period.from(),
            to: slice.period.to(),
            buckets: slice.period.buckets(),
            practice_ids: slice.practices.clone(),
            need_category: slice.need_category.clone(),
            age_band: slice.age_band.clone(),
            sex: slice.sex.clone(),
            disclosure: Disclosure {
                suppress_up_to: policy.suppress_up_to(),
                round_to: policy.round_to(),
                secondary_suppression: policy.secondary(),
            },
        }
    }
}

/// A statistics answer as CSV: one row per figure, in long form (`figure`, the bucket it is
/// for if any, the group it is for if any, its value and why it is suppressed if it is), so a
/// spreadsheet can pivot it any way.
pub struct Csv {
    as_of: String,
    body: String,
}

pub const CSV_HEADER: &str = "as_of,figure,bucket_start,group,key,value,suppression\n";

impl Csv {
    pub fn new(as_of: DateTime<Utc>) -> Self {
        Self {
            // As JSON writes it.
            as_of: as_of.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            body: String::from(CSV_HEADER),
        }
    }

    fn row(
        &mut self,
        figure: &str,
        bucket: Option<NaiveDate>,
        group: (&str, &str),
        value: Option<String>,
        suppression: Option<Suppression>,
    ) {
        let bucket = bucket.map(|d| d.to_string()).unwrap_or_default();
        self.body.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            self.as_of,
            figure,
            bucket,
            group.0,
            text_cell(group.1),
            value.unwrap_or_default(),
            suppression.map(Suppression::as_str).unwrap_or_default(),
        ));
    }

    pub fn count(
        &mut self,
        figure: &str,
        bucket: Option<NaiveDate>,
        group: (&str, &str),
        c: Count,
    ) {
        self.row(
            figure,
            bucket,
            group,
            c.value.map(|v| v.to_string()),
            c.suppression,
        );
    }

    pub fn measure(
        &mut self,
        figure: &str,
        bucket: Option<NaiveDate>,
        group: (&str, &str),
        m: Measure,
    ) {
        self.row(
            figure,
            bucket,
            group,
            m.value.map(|v| v.to_string()),
            m.suppression,
        );
    }

    pub fn amount(
        &mut self,
        figure: &str,
        bucket: Option<NaiveDate>,
        group: (&str, &str),
        a: Amount,
    ) {
        self.row(
            figure,
            bucket,
            group,
            a.value.map(|v| v.to_string()),
            a.suppression,
        );
    }

    pub fn number(&mut self, figure: &str, bucket: Option<NaiveDate>, group: (&str, &str), n: f64) {
        self.row(figure, bucket, group, Some(n.to_string()), None);
    }

    pub fn respond(self, name: &str, question: &Question) -> HttpResponse {
        let period = &question.slice.period;
        HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{name}-{}-{}.csv\"",
                    period.from(),
                    period.to()
                ),
            ))
            .body(self.body)
    }
}

/// The whole federation, as a CSV group.
pub const WHOLE: (&str, &str) = ("", "");

/// The index of each bucket's first day in the period.
pub fn bucket_index(buckets: Vec<NaiveDate>) -> impl Fn(NaiveDate) -> Option<usize> {
    move |day| buckets.binary_search(&day).ok()
}
