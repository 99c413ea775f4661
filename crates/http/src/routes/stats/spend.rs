//! Spend by provider and service, set against the people supported and the GP appointments
//! avoided.

use super::{
    bucket_index, reader, Amount, Count, Covering, Csv, Filters, Measure, Question, Reading,
    StatsQuery, WHOLE,
};
use crate::auth::Caller;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::stats::figures::{self, SpendFigure};
use waymark_domain::stats::{DisclosurePolicy, ReferralMeasures};
use waymark_persistence::stats::read;

/// Money paid for activities, and how many charges it paid.
#[derive(Clone, Copy, Serialize, ToSchema)]
pub struct Spent {
    /// Approved and paid charges.
    pub charges: Count,
    /// What they came to, less clawbacks, in pence; suppressed when it paid for 1 to the
    /// threshold charges.
    pub amount_pence: Amount,
}

impl From<SpendFigure> for Spent {
    fn from(f: SpendFigure) -> Self {
        Self {
            charges: f.charges.into(),
            amount_pence: f.amount_pence.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BucketSpend {
    pub bucket_start: NaiveDate,
    #[serde(flatten)]
    pub spent: Spent,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceSpend {
    pub service_id: Uuid,
    pub name: String,
    #[serde(flatten)]
    pub spent: Spent,
}

#[derive(Serialize, ToSchema)]
pub struct ProviderSpend {
    pub organisation_id: Uuid,
    pub name: String,
    #[serde(flatten)]
    pub spent: Spent,
    pub services: Vec<ServiceSpend>,
}

/// Spend set against what it achieved, for the referrals made in the period.
#[derive(Serialize, ToSchema)]
pub struct Value {
    /// Referrals made in the period and seen at a clinic: the people supported.
    pub people_supported: Count,
    /// The period's spend over the people supported, in pence.
    pub cost_per_person_pence: Measure,
    /// GP appointments before less after, over the patients with counts for both windows.
    pub appointments_avoided: Amount,
    /// The federation's unit cost of a GP consultation (GET /v1/stats/settings).
    #[schema(example = 4800)]
    pub gp_consultation_pence: i64,
    /// Appointments avoided at that unit cost, to set beside the spend.
    pub estimated_savings_pence: Amount,
}

#[derive(Serialize, ToSchema)]
pub struct SpendStats {
    #[serde(flatten)]
    pub covering: Covering,
    #[schema(example = "GBP")]
    pub currency: &'static str,
    pub total: Spent,
    pub by_bucket: Vec<BucketSpend>,
    pub by_provider: Vec<ProviderSpend>,
    pub value: Value,
}

/// Charges and pence, summed.
type Sum = (i64, i64);

fn spent(policy: &DisclosurePolicy, (charges, amount): Sum) -> Spent {
    figures::spend(policy, charges, amount).into()
}

/// What was spent in the period (approved and paid charges for activities delivered in it,
/// less clawbacks), by bucket and by provider and service, beside the cost per person supported
/// and the estimated savings from GP appointments avoided. Filters by practice and period
/// only.
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    params(StatsQuery),
    responses((status = 200, description = "Spend and value, as JSON, or as CSV (one row per figure) with `format=csv` or `Accept: text/csv`", content(
        (SpendStats = "application/json"),
        (String = "text/csv"),
    )))
)]
#[get("/stats/spend")]
pub async fn spend_stats(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = reader(&caller)?;
    let question = Question::parse(federation, &query, &req, Filters::PracticesAndPeriod)?;
    let mut reading = Reading::start(&state, &caller, &question).await?;
    let rows = read::spend(&mut reading.tx, &question.slice).await?;
    let cells = read::referral_measures(&mut reading.tx, &question.slice).await?;
    let mut services: Vec<Uuid> = rows.iter().map(|r| r.service_id).collect();
    services.sort();
    services.dedup();
    let names = read::service_names(&mut reading.tx, federation, &services).await?;
    let settings = reading.settings;
    let covering = Covering::of(&reading, &question);
    reading.finish();
    let policy = settings.policy;

    let index = bucket_index(covering.buckets.clone());
    let add = |sum: &mut (i64, i64), charges: i64, amount: i64| {
        sum.0 += charges;
        sum.1 += amount;
    };
    let mut total = (0, 0);
    let mut per_bucket = vec![(0, 0); covering.buckets.len()];
    let mut per_provider: BTreeMap<Uuid, (Sum, BTreeMap<Uuid, Sum>)> = BTreeMap::new();
    for r in &rows {
        add(&mut total, r.charges, r.amount_pence);
        if let Some(i) = index(r.bucket_start) {
            add(&mut per_bucket[i], r.charges, r.amount_pence);
        }
        let provider = per_provider.entry(r.organisation_id).or_default();
        add(&mut provider.0, r.charges, r.amount_pence);
        add(
            provider.1.entry(r.service_id).or_default(),
            r.charges,
            r.amount_pence,
        );
    }
    let service_name = |id: Uuid| {
        names
            .iter()
            .find(|(s, _, _, _)| *s == id)
            .map(|(_, _, name, _)| name.clone())
            .unwrap_or_default()
    };
    let provider_name = |id: Uuid| {
        names
            .iter()
            .find(|(_, o, _, _)| *o == id)
            .map(|(_, _, _, name)| name.clone())
            .unwrap_or_default()
    };
    let mut by_provider: Vec<ProviderSpend> = per_provider
        .into_iter()
        .map(|(organisation_id, (sum, services))| {
            let mut services: Vec<ServiceSpend> = services
                .into_iter()
                .map(|(service_id, sum)| ServiceSpend {
                    service_id,
                    name: service_name(service_id),
                    spent: spent(&policy, sum),
                })
                .collect();
            services.sort_by(|a, b| a.name.cmp(&b.name).then(a.service_id.cmp(&b.service_id)));
            ProviderSpend {
                organisation_id,
                name: provider_name(organisation_id),
                spent: spent(&policy, sum),
                services,
            }
        })
        .collect();
    by_provider.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(a.organisation_id.cmp(&b.organisation_id))
    });

    let mut measures = ReferralMeasures::default();
    for cell in cells {
        measures += cell.measures;
    }
    let total_figure = figures::spend(&policy, total.0, total.1);
    let value = figures::value(
        &policy,
        total_figure,
        total.1,
        &measures,
        settings.gp_consultation_pence,
    );
    let stats = SpendStats {
        currency: waymark_domain::ledger::money::CURRENCY,
        total: total_figure.into(),
        by_bucket: covering
            .buckets
            .iter()
            .zip(per_bucket)
            .map(|(bucket, sum)| BucketSpend {
                bucket_start: *bucket,
                spent: spent(&policy, sum),
            })
            .collect(),
        by_provider,
        value: Value {
            people_supported: value.people_supported.into(),
            cost_per_person_pence: value.cost_per_person_pence.into(),
            appointments_avoided: value.appointments_avoided.into(),
            gp_consultation_pence: value.gp_consultation_pence,
            estimated_savings_pence: value.estimated_savings_pence.into(),
        },
        covering,
    };
    if !question.csv {
        return Ok(HttpResponse::Ok().json(stats));
    }
    let mut csv = Csv::new(stats.covering.as_of);
    let money = |csv: &mut Csv, bucket: Option<NaiveDate>, group: (&str, &str), s: &Spent| {
        csv.count("charges", bucket, group, s.charges);
        csv.amount("amount_pence", bucket, group, s.amount_pence);
    };
    money(&mut csv, None, WHOLE, &stats.total);
    for b in &stats.by_bucket {
        money(&mut csv, Some(b.bucket_start), WHOLE, &b.spent);
    }
    for p in &stats.by_provider {
        money(
            &mut csv,
            None,
            ("organisation", &p.organisation_id.to_string()),
            &p.spent,
        );
        for s in &p.services {
            money(
                &mut csv,
                None,
                ("service", &s.service_id.to_string()),
                &s.spent,
            );
        }
    }
    let v = &stats.value;
    csv.count("people_supported", None, WHOLE, v.people_supported);
    csv.measure(
        "cost_per_person_pence",
        None,
        WHOLE,
        v.cost_per_person_pence,
    );
    csv.amount("appointments_avoided", None, WHOLE, v.appointments_avoided);
    csv.number(
        "gp_consultation_pence",
        None,
        WHOLE,
        v.gp_consultation_pence as f64,
    );
    csv.amount(
        "estimated_savings_pence",
        None,
        WHOLE,
        v.estimated_savings_pence,
    );
    Ok(csv.respond("spend", &question))
}
