//! The assessment at the clinic (needs and what matters to the patient) and the wellbeing
//! measures taken at baseline and follow-up, scored by the domain item by item.

use super::{actor, authorise, Partition};
use crate::auth::Caller;
use crate::json_body::JsonBody;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;
use waymark_domain::pathway::access::PracticeAction;
use waymark_domain::pathway::assessment::{AssessmentInput, NewAssessment};
use waymark_domain::pathway::wellbeing::{Ons4, Ons4Score, Swemwbs, SwemwbsScore, Timepoint};
use waymark_domain::pathway::ReferralState;
use waymark_domain::ValidationErrors;
use waymark_persistence::audit::{self, Access, Action};
use waymark_persistence::pathway::assessments::{self, AssessmentRecord, MeasureRecord};
use waymark_persistence::pathway::referrals::{self, ReferralRecord};
use waymark_persistence::{commit, StoreError, Tx};

/// Answers to the four ONS personal wellbeing questions, each 0 to 10.
#[derive(Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ons4Body {
    /// How satisfied with life nowadays (higher is better).
    #[schema(minimum = 0, maximum = 10)]
    pub life_satisfaction: i64,
    /// How worthwhile the things done in life feel (higher is better).
    #[schema(minimum = 0, maximum = 10)]
    pub worthwhile: i64,
    /// How happy yesterday (higher is better).
    #[schema(minimum = 0, maximum = 10)]
    pub happiness: i64,
    /// How anxious yesterday (lower is better).
    #[schema(minimum = 0, maximum = 10)]
    pub anxiety: i64,
}

/// One or both instruments.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasuresBody {
    /// The seven SWEMWBS answers in questionnaire order, each 1 (none of the time) to 5 (all
    /// of the time).
    #[schema(schema_with = crate::schemas::swemwbs_answers)]
    pub swemwbs: Option<Vec<i64>>,
    pub ons4: Option<Ons4Body>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentBody {
    /// The needs identified with the patient.
    #[schema(schema_with = crate::schemas::need_categories)]
    pub need_categories: Vec<NeedCategory>,
    /// What matters to the patient, in their words; at most 4,000 characters.
    #[schema(format = "lines", max_length = 4000)]
    pub what_matters: String,
    /// The patient's concerns, in their words: at most 20, each a line of up to 500
    /// characters.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub concerns: Vec<String>,
    /// What the patient hopes to achieve: at most 20, each a line of up to 500 characters.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub goals: Vec<String>,
    /// Support offered at the clinic besides referring on (advice, information given); at
    /// most 4,000 characters.
    #[schema(format = "lines-or-blank", max_length = 4000)]
    pub other_support: Option<String>,
    /// The baseline wellbeing measure, when taken at the assessment.
    pub baseline: Option<MeasuresBody>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureBody {
    /// `baseline` (at the assessment) or `follow_up` (e.g. 8–12 weeks later).
    #[schema(schema_with = crate::schemas::timepoint)]
    pub timepoint: Timepoint,
    #[schema(schema_with = crate::schemas::swemwbs_answers)]
    pub swemwbs: Option<Vec<i64>>,
    pub ons4: Option<Ons4Body>,
}

#[derive(Serialize, ToSchema)]
pub struct SwemwbsResult {
    pub items: Vec<u8>,
    /// The sum of the answers, 7–35.
    pub raw: u8,
    /// The Rasch metric score (Stewart-Brown et al. 2009), 7.00–35.00.
    #[schema(example = 19.25)]
    pub metric: f64,
}

#[derive(Serialize, ToSchema)]
pub struct Ons4Result {
    pub life_satisfaction: u8,
    pub worthwhile: u8,
    pub happiness: u8,
    pub anxiety: u8,
}

#[derive(Serialize, ToSchema)]
pub struct WellbeingMeasure {
    pub id: Uuid,
    pub referral_id: Uuid,
    #[schema(schema_with = crate::schemas::timepoint)]
    pub timepoint: Timepoint,
    pub swemwbs: Option<SwemwbsResult>,
    pub ons4: Option<Ons4Result>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

impl From<MeasureRecord> for WellbeingMeasure {
    fn from(r: MeasureRecord) -> Self {
        Self {
            id: r.id,
            referral_id: r.referral_id,
            timepoint: r.timepoint,
            swemwbs: r.swemwbs.map(|s| SwemwbsResult {
                items: s.items.to_vec(),
                raw: s.raw,
                metric: s.metric_score(),
            }),
            ons4: r.ons4.map(|o| Ons4Result {
                life_satisfaction: o.life_satisfaction,
                worthwhile: o.worthwhile,
                happiness: o.happiness,
                anxiety: o.anxiety,
            }),
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Assessment {
    pub id: Uuid,
    pub referral_id: Uuid,
    #[schema(schema_with = crate::schemas::need_categories)]
    pub need_categories: Vec<NeedCategory>,
    pub what_matters: String,
    pub concerns: Vec<String>,
    pub goals: Vec<String>,
    pub other_support: Option<String>,
    pub assessed_by: Uuid,
    pub assessed_at: DateTime<Utc>,
    /// The baseline measure, once taken.
    pub baseline: Option<WellbeingMeasure>,
}

impl Assessment {
    fn new(r: AssessmentRecord, baseline: Option<MeasureRecord>) -> Self {
        Self {
            id: r.id,
            referral_id: r.referral_id,
            need_categories: r.need_categories,
            what_matters: r.what_matters,
            concerns: r.concerns,
            goals: r.goals,
            other_support: r.other_support,
            assessed_by: r.assessed_by,
            assessed_at: r.assessed_at,
            baseline: baseline.map(WellbeingMeasure::from),
        }
    }
}

type Scores = (Option<SwemwbsScore>, Option<Ons4Score>);

/// Scores the instruments given, naming each bad answer under `prefix`; at least one is needed.
fn score(
    errors: &mut ValidationErrors,
    prefix: &str,
    swemwbs: Option<&[i64]>,
    ons4: Option<Ons4Body>,
) -> Scores {
    let mut nest = |inner: ValidationErrors| {
        for e in inner.0 {
            errors.add(format!("{prefix}{}", e.field), e.code, e.message);
        }
    };
    let swemwbs = swemwbs.and_then(|items| Swemwbs::score(items).map_err(&mut nest).ok());
    let ons4 = ons4.and_then(|o| {
        Ons4::parse(o.life_satisfaction, o.worthwhile, o.happiness, o.anxiety)
            .map_err(&mut nest)
            .ok()
    });
    (swemwbs, ons4)
}

fn need_something(errors: &mut ValidationErrors, field: &str, given: bool) {
    if !given {
        errors.add(
            field,
            "required",
            "give SWEMWBS, ONS4 or both: a measure needs at least one instrument",
        );
    }
}

/// The referral must have reached the clinic: assessed and measured once the patient is seen.
fn require_seen(referral: &ReferralRecord) -> Result<(), ApiError> {
    if matches!(referral.state, ReferralState::Seen | ReferralState::Active) {
        Ok(())
    } else {
        Err(ApiError::Conflict {
            code: "referral_not_seen",
            detail: format!(
                "assessments and wellbeing measures are recorded once the patient has been seen \
                 and while the referral is open; the referral is {}",
                referral.state
            ),
        })
    }
}

fn measure_access(p: Partition, referral: &ReferralRecord, measure: &MeasureRecord) -> Access {
    Access {
        practice: p.practice,
        patient: referral.patient_id,
        resource_type: "wellbeing_measure",
        resource: measure.id,
    }
}

fn duplicate(code: &'static str, detail: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::Duplicate { .. } => ApiError::Conflict {
            code,
            detail: detail.to_owned(),
        },
        other => other.into(),
    }
}

/// Records the assessment at the clinic, optionally with the baseline wellbeing measure
/// (volunteers and clinicians). One assessment per referral.
#[utoipa::path(
    tag = "assessments",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    request_body = AssessmentBody,
    responses(
        (status = 201, description = "Assessed", body = Assessment),
        (status = 409, description = "Not seen yet (`referral_not_seen`) or already assessed (`already_assessed`)"),
    )
)]
#[post("/practices/{practice_id}/referrals/{referral_id}/assessment")]
pub async fn create_assessment(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<AssessmentBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::Assess)?;
    let b = body.0;
    let mut measure_errors = ValidationErrors::new();
    let baseline = b.baseline.map(|m| {
        need_something(
            &mut measure_errors,
            "baseline",
            m.swemwbs.is_some() || m.ons4.is_some(),
        );
        score(
            &mut measure_errors,
            "baseline.",
            m.swemwbs.as_deref(),
            m.ons4,
        )
    });
    // Every mistake at once: the assessment's, then the baseline's.
    let new_assessment = match NewAssessment::parse(AssessmentInput {
        need_categories: b.need_categories,
        what_matters: b.what_matters,
        concerns: b.concerns,
        goals: b.goals,
        other_support: b.other_support,
    }) {
        Ok(assessment) if measure_errors.is_empty() => assessment,
        Ok(_) => return Err(measure_errors.into()),
        Err(mut errors) => {
            errors.0.extend(measure_errors.0);
            return Err(errors.into());
        }
    };
    let actor = actor(&caller, &req);
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = referrals::lock(&mut tx, p.federation, p.practice, referral).await?;
    require_seen(&current)?;
    let assessment = assessments::create_assessment(
        &mut tx,
        p.federation,
        p.practice,
        referral,
        &new_assessment,
        caller.subject,
    )
    .await
    .map_err(duplicate(
        "already_assessed",
        "this referral has been assessed already",
    ))?;
    let mut accesses = vec![Access {
        practice: p.practice,
        patient: current.patient_id,
        resource_type: "assessment",
        resource: assessment.id,
    }];
    let baseline = match baseline {
        Some((swemwbs, ons4)) => {
            let measure = record(
                &mut tx,
                p,
                &current,
                Timepoint::Baseline,
                swemwbs,
                ons4,
                caller.subject,
            )
            .await?;
            accesses.push(measure_access(p, &current, &measure));
            Some(measure)
        }
        None => None,
    };
    audit::record(&mut tx, p.federation, &actor, Action::Create, &accesses).await?;
    commit(tx).await?;
    Ok(HttpResponse::Created().json(Assessment::new(assessment, baseline)))
}

async fn record(
    tx: &mut Tx,
    p: Partition,
    referral: &ReferralRecord,
    timepoint: Timepoint,
    swemwbs: Option<SwemwbsScore>,
    ons4: Option<Ons4Score>,
    by: Uuid,
) -> Result<MeasureRecord, ApiError> {
    assessments::record_measure(
        tx,
        p.federation,
        p.practice,
        referral.id,
        timepoint,
        swemwbs.as_ref(),
        ons4.as_ref(),
        by,
    )
    .await
    .map_err(duplicate(
        "already_recorded",
        "this referral already has a measure at this timepoint",
    ))
}

/// The referral's assessment, with its baseline measure.
#[utoipa::path(
    tag = "assessments",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    responses((status = 200, description = "The assessment", body = Assessment))
)]
#[get("/practices/{practice_id}/referrals/{referral_id}/assessment")]
pub async fn get_assessment(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReadReferralDetails)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = referrals::find(&mut tx, p.federation, p.practice, referral).await?;
    let assessment = assessments::find_assessment(&mut tx, p.federation, p.practice, referral)
        .await?
        .ok_or(ApiError::NotFound)?;
    let baseline = assessments::measures(&mut tx, p.federation, p.practice, referral)
        .await?
        .into_iter()
        .find(|m| m.timepoint == Timepoint::Baseline);
    let mut accesses = vec![Access {
        practice: p.practice,
        patient: current.patient_id,
        resource_type: "assessment",
        resource: assessment.id,
    }];
    accesses.extend(baseline.as_ref().map(|measure| Access {
        practice: p.practice,
        patient: current.patient_id,
        resource_type: "wellbeing_measure",
        resource: measure.id,
    }));
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Read,
        &accesses,
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(Assessment::new(assessment, baseline)))
}

/// Records a wellbeing measure: the baseline (if not taken at the assessment) or the follow-up,
/// which needs a baseline to compare with (volunteers and clinicians).
#[utoipa::path(
    tag = "assessments",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    request_body = MeasureBody,
    responses(
        (status = 201, description = "Recorded", body = WellbeingMeasure),
        (status = 409, description = "Not seen yet (`referral_not_seen`), no baseline for a follow-up (`baseline_missing`), or this timepoint recorded already (`already_recorded`)"),
    )
)]
#[post("/practices/{practice_id}/referrals/{referral_id}/wellbeing-measures")]
pub async fn record_measure(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    body: JsonBody<MeasureBody>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::Assess)?;
    let b = body.0;
    let mut errors = ValidationErrors::new();
    need_something(
        &mut errors,
        "swemwbs",
        b.swemwbs.is_some() || b.ons4.is_some(),
    );
    let (swemwbs, ons4) = score(&mut errors, "", b.swemwbs.as_deref(), b.ons4);
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = referrals::lock(&mut tx, p.federation, p.practice, referral).await?;
    require_seen(&current)?;
    if b.timepoint == Timepoint::FollowUp {
        let taken = assessments::measures(&mut tx, p.federation, p.practice, referral).await?;
        if !taken.iter().any(|m| m.timepoint == Timepoint::Baseline) {
            return Err(ApiError::Conflict {
                code: "baseline_missing",
                detail: "record the baseline measure before the follow-up".into(),
            });
        }
    }
    let measure = record(
        &mut tx,
        p,
        &current,
        b.timepoint,
        swemwbs,
        ons4,
        caller.subject,
    )
    .await?;
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Create,
        &[measure_access(p, &current, &measure)],
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Created().json(WellbeingMeasure::from(measure)))
}

/// The referral's wellbeing measures, baseline first.
#[utoipa::path(
    tag = "assessments",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    responses((status = 200, description = "The measures", body = Vec<WellbeingMeasure>))
)]
#[get("/practices/{practice_id}/referrals/{referral_id}/wellbeing-measures")]
pub async fn list_measures(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReadReferralDetails)?;
    let mut tx = super::begin(&state, &caller, p).await?;
    let current = referrals::find(&mut tx, p.federation, p.practice, referral).await?;
    let measures = assessments::measures(&mut tx, p.federation, p.practice, referral).await?;
    let accesses: Vec<Access> = measures
        .iter()
        .map(|m| measure_access(p, &current, m))
        .collect();
    audit::record(
        &mut tx,
        p.federation,
        &actor(&caller, &req),
        Action::Read,
        &accesses,
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Ok().json(
        measures
            .into_iter()
            .map(WellbeingMeasure::from)
            .collect::<Vec<_>>(),
    ))
}
