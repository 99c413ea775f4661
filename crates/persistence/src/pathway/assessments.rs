//! The assessment at the clinic and the wellbeing measures taken at baseline and follow-up.

use crate::code_arrays::{codes, decode};
use crate::error::{on_constraint, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;
use waymark_domain::pathway::assessment::NewAssessment;
use waymark_domain::pathway::wellbeing::{Ons4Score, SwemwbsScore, Timepoint};
use waymark_domain::{FederationId, PracticeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssessmentRecord {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub need_categories: Vec<NeedCategory>,
    pub what_matters: String,
    pub concerns: Vec<String>,
    pub goals: Vec<String>,
    pub other_support: Option<String>,
    pub assessed_by: Uuid,
    pub assessed_at: DateTime<Utc>,
}

struct AssessmentRow {
    id: Uuid,
    referral_id: Uuid,
    need_categories: Vec<String>,
    what_matters: String,
    concerns: Vec<String>,
    goals: Vec<String>,
    other_support: Option<String>,
    assessed_by: Uuid,
    assessed_at: DateTime<Utc>,
}

impl TryFrom<AssessmentRow> for AssessmentRecord {
    type Error = StoreError;

    fn try_from(r: AssessmentRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            referral_id: r.referral_id,
            need_categories: decode(&r.need_categories)?,
            what_matters: r.what_matters,
            concerns: r.concerns,
            goals: r.goals,
            other_support: r.other_support,
            assessed_by: r.assessed_by,
            assessed_at: r.assessed_at,
        })
    }
}

pub async fn create_assessment(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
    assessment: &NewAssessment,
    assessed_by: Uuid,
) -> Result<AssessmentRecord, StoreError> {
    sqlx::query_as!(
        AssessmentRow,
        r#"INSERT INTO assessments (federation_id, practice_id, id, referral_id, need_categories,
               what_matters, concerns, goals, other_support, assessed_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           RETURNING id, referral_id, need_categories, what_matters, concerns, goals,
                     other_support, assessed_by, assessed_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        Uuid::now_v7(),
        referral,
        &codes(&assessment.need_categories),
        assessment.what_matters,
        &assessment.concerns,
        &assessment.goals,
        assessment.other_support,
        assessed_by,
    )
    .fetch_one(conn)
    .await
    .map_err(|e| {
        on_constraint(
            e,
            &[(
                "assessments_practice_id_referral_id_key",
                StoreError::Duplicate {
                    field: "assessment",
                },
            )],
        )
    })?
    .try_into()
}

pub async fn find_assessment(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
) -> Result<Option<AssessmentRecord>, StoreError> {
    sqlx::query_as!(
        AssessmentRow,
        r#"SELECT id, referral_id, need_categories, what_matters, concerns, goals, other_support,
                  assessed_by, assessed_at
           FROM assessments WHERE federation_id = $1 AND practice_id = $2 AND referral_id = $3"#,
        federation.as_uuid(),
        practice.as_uuid(),
        referral,
    )
    .fetch_optional(conn)
    .await?
    .map(AssessmentRecord::try_from)
    .transpose()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeasureRecord {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub timepoint: Timepoint,
    pub swemwbs: Option<SwemwbsScore>,
    pub ons4: Option<Ons4Score>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

struct MeasureRow {
    id: Uuid,
    referral_id: Uuid,
    timepoint: String,
    swemwbs_items: Option<Vec<i16>>,
    swemwbs_raw: Option<i16>,
    swemwbs_metric_hundredths: Option<i16>,
    ons4_life_satisfaction: Option<i16>,
    ons4_worthwhile: Option<i16>,
    ons4_happiness: Option<i16>,
    ons4_anxiety: Option<i16>,
    recorded_by: Uuid,
    recorded_at: DateTime<Utc>,
}

fn small(value: i16) -> u8 {
    // The table's checks bound every stored score to 0..=35.
    u8::try_from(value).unwrap_or_default()
}

impl TryFrom<MeasureRow> for MeasureRecord {
    type Error = StoreError;

    fn try_from(r: MeasureRow) -> Result<Self, StoreError> {
        let timepoint = r
            .timepoint
            .parse()
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?;
        let swemwbs = match (r.swemwbs_items, r.swemwbs_raw, r.swemwbs_metric_hundredths) {
            (Some(items), Some(raw), Some(metric)) => {
                let mut answers = [0u8; 7];
                for (answer, item) in answers.iter_mut().zip(items) {
                    *answer = small(item);
                }
                Some(SwemwbsScore {
                    items: answers,
                    raw: small(raw),
                    metric_hundredths: u16::try_from(metric).unwrap_or_default(),
                })
            }
            _ => None,
        };
        let ons4 = match (
            r.ons4_life_satisfaction,
            r.ons4_worthwhile,
            r.ons4_happiness,
            r.ons4_anxiety,
        ) {
            (Some(l), Some(w), Some(h), Some(a)) => Some(Ons4Score {
                life_satisfaction: small(l),
                worthwhile: small(w),
                happiness: small(h),
                anxiety: small(a),
            }),
            _ => None,
        };
        Ok(Self {
            id: r.id,
            referral_id: r.referral_id,
            timepoint,
            swemwbs,
            ons4,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at,
        })
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn record_measure(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
    timepoint: Timepoint,
    swemwbs: Option<&SwemwbsScore>,
    ons4: Option<&Ons4Score>,
    recorded_by: Uuid,
) -> Result<MeasureRecord, StoreError> {
    let items: Option<Vec<i16>> = swemwbs.map(|s| s.items.iter().map(|i| i16::from(*i)).collect());
    sqlx::query_as!(
        MeasureRow,
        r#"INSERT INTO wellbeing_measures (federation_id, practice_id, id, referral_id, timepoint,
               swemwbs_items, swemwbs_raw, swemwbs_metric_hundredths, ons4_life_satisfaction,
               ons4_worthwhile, ons4_happiness, ons4_anxiety, recorded_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
           RETURNING id, referral_id, timepoint, swemwbs_items, swemwbs_raw,
                     swemwbs_metric_hundredths, ons4_life_satisfaction, ons4_worthwhile,
                     ons4_happiness, ons4_anxiety, recorded_by, recorded_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        Uuid::now_v7(),
        referral,
        timepoint.code(),
        items.as_deref(),
        swemwbs.map(|s| i16::from(s.raw)),
        swemwbs.map(|s| i16::try_from(s.metric_hundredths).unwrap_or(i16::MAX)),
        ons4.map(|o| i16::from(o.life_satisfaction)),
        ons4.map(|o| i16::from(o.worthwhile)),
        ons4.map(|o| i16::from(o.happiness)),
        ons4.map(|o| i16::from(o.anxiety)),
        recorded_by,
    )
    .fetch_one(conn)
    .await
    .map_err(|e| {
        on_constraint(
            e,
            &[(
                "wellbeing_measures_one_per_timepoint",
                StoreError::Duplicate { field: "timepoint" },
            )],
        )
    })?
    .try_into()
}

/// The referral's measures, baseline first.
pub async fn measures(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
) -> Result<Vec<MeasureRecord>, StoreError> {
    sqlx::query_as!(
        MeasureRow,
        r#"SELECT id, referral_id, timepoint, swemwbs_items, swemwbs_raw,
                  swemwbs_metric_hundredths, ons4_life_satisfaction, ons4_worthwhile,
                  ons4_happiness, ons4_anxiety, recorded_by, recorded_at
           FROM wellbeing_measures
           WHERE federation_id = $1 AND practice_id = $2 AND referral_id = $3
           ORDER BY timepoint = 'follow_up', id"#,
        federation.as_uuid(),
        practice.as_uuid(),
        referral,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(MeasureRecord::try_from)
    .collect()
}
