//! The message back to the GP and referrer: what the social prescribing journey found and did,
//! with the SNOMED CT codes a GP system files, as JSON or as a FHIR R4 Bundle of UK Core
//! resources (`fhir`). A patient who has not consented to share beyond the practice is sent the
//! coded events only. Every export is a read of the patient's record in the audit log.

use super::fhir;
use super::{actor, authorise, Partition};
use crate::auth::Caller;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;
use waymark_domain::pathway::access::PracticeAction;
use waymark_domain::pathway::gp_message::{coded_events, CodedEvent, Disclosure};
use waymark_domain::pathway::patient::Consent;
use waymark_domain::pathway::wellbeing::Timepoint;
use waymark_domain::pathway::ReferralState;
use waymark_persistence::audit::{self, Access, Action};
use waymark_persistence::pathway::assessments::{self, AssessmentRecord, MeasureRecord};
use waymark_persistence::pathway::gp_appointments::{self, AppointmentCountRecord};
use waymark_persistence::pathway::gp_record::{self, ClinicContact, Delivered};
use waymark_persistence::pathway::onward::{self, OnwardRecord};
use waymark_persistence::pathway::patients::{self, PatientRecord};
use waymark_persistence::pathway::referrals::{self, ReferralRecord};
use waymark_persistence::practices::{self, PracticeRecord};
use waymark_persistence::{commit, StoreError};

pub const FHIR_JSON: &str = "application/fhir+json";

/// Everything the message is made from, read in one transaction.
pub struct Facts {
    pub generated_at: DateTime<Utc>,
    pub disclosure: Disclosure,
    pub practice: PracticeRecord,
    pub patient: PatientRecord,
    pub referral: ReferralRecord,
    pub referrer_name: Option<String>,
    pub states: Vec<(ReferralState, DateTime<Utc>)>,
    pub assessment: Option<AssessmentRecord>,
    pub measures: Vec<MeasureRecord>,
    pub contacts: Vec<ClinicContact>,
    pub onward: Vec<OnwardRecord>,
    pub delivered: HashMap<Uuid, Delivered>,
    pub organisation_names: HashMap<Uuid, String>,
    pub appointment_counts: Vec<AppointmentCountRecord>,
}

impl Facts {
    pub fn coded_events(&self) -> Vec<CodedEvent> {
        coded_events(self.referral.created_at, &self.states)
    }

    pub fn measure(&self, timepoint: Timepoint) -> Option<&MeasureRecord> {
        self.measures.iter().find(|m| m.timepoint == timepoint)
    }

    pub fn organisation_name(&self, onward: &OnwardRecord) -> Option<&str> {
        self.organisation_names
            .get(&onward.organisation_id)
            .map(String::as_str)
    }
}

async fn gather(
    tx: &mut waymark_persistence::Tx,
    p: Partition,
    referral_id: Uuid,
) -> Result<Facts, StoreError> {
    let referral = referrals::find(tx, p.federation, p.practice, referral_id).await?;
    let patient = patients::find(tx, p.federation, p.practice, referral.patient_id).await?;
    let practice = practices::find(tx, p.federation, p.practice).await?;
    let states = referrals::history(tx, p.federation, p.practice, referral_id)
        .await?
        .into_iter()
        .filter_map(|change| Some((change.to_state.parse().ok()?, change.changed_at)))
        .collect();
    let assessment =
        assessments::find_assessment(tx, p.federation, p.practice, referral_id).await?;
    let measures = assessments::measures(tx, p.federation, p.practice, referral_id).await?;
    let contacts = gp_record::clinic_contacts(tx, p.federation, p.practice, referral_id).await?;
    let onward = onward::list_for_referral(tx, p.federation, p.practice, referral_id).await?;
    let delivered = gp_record::delivered(tx, p.federation, p.practice, referral_id).await?;
    let organisations: Vec<Uuid> = onward.iter().map(|o| o.organisation_id).collect();
    let organisation_names =
        gp_record::organisation_names(tx, p.federation, &organisations).await?;
    let referrer_name = gp_record::user_name(tx, p.federation, referral.referred_by).await?;
    let appointment_counts =
        gp_appointments::list(tx, p.federation, p.practice, referral_id).await?;
    Ok(Facts {
        generated_at: Utc::now(),
        disclosure: Disclosure::of(&Consent {
            share_name_with_providers: patient.share_name_with_providers,
            share_contact_with_providers: patient.share_contact_with_providers,
            share_beyond_practice: patient.share_beyond_practice,
        }),
        practice,
        patient,
        referral,
        referrer_name,
        states,
        assessment,
        measures,
        contacts,
        onward,
        delivered,
        organisation_names,
        appointment_counts,
    })
}

#[derive(Serialize, ToSchema)]
pub struct GpCode {
    #[schema(example = "http://snomed.info/sct")]
    pub system: &'static str,
    #[schema(example = "871731000000106")]
    pub code: &'static str,
    #[schema(example = "Referral to social prescribing service")]
    pub display: &'static str,
    /// When it happened.
    pub at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct GpPractice {
    #[schema(example = "C82010")]
    pub ods_code: String,
    pub name: String,
}

/// Who the message is about: the NHS number always; the rest with consent.
#[derive(Serialize, ToSchema)]
pub struct GpPatient {
    pub nhs_number: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    #[schema(schema_with = crate::schemas::optional_sex)]
    pub sex: Option<String>,
    #[schema(schema_with = crate::schemas::optional_ethnic_category)]
    pub ethnic_category: Option<String>,
    pub postcode: Option<String>,
}

/// Support offered: an onward referral or signposting to a directory service.
#[derive(Serialize, ToSchema)]
pub struct SupportOffered {
    pub onward_referral_id: Uuid,
    /// `referral` or `signposting`.
    pub kind: String,
    pub service_name: String,
    pub organisation_name: Option<String>,
    /// `pending`, `accepted`, `declined`, `completed` or `withdrawn`.
    pub state: String,
    pub offered_at: DateTime<Utc>,
    /// Activities the provider recorded delivering, and the last day it delivered one.
    pub activities_delivered: i64,
    pub last_delivered_on: Option<NaiveDate>,
}

#[derive(Serialize, ToSchema)]
pub struct ClinicContactEntry {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub location: String,
    /// `attended`, `did_not_attend`, or null until recorded.
    pub attendance: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WellbeingAt {
    pub recorded_at: DateTime<Utc>,
    /// The SWEMWBS metric score, 7.00–35.00.
    pub swemwbs_metric: Option<f64>,
    pub ons4_life_satisfaction: Option<u8>,
    pub ons4_worthwhile: Option<u8>,
    pub ons4_happiness: Option<u8>,
    pub ons4_anxiety: Option<u8>,
}

impl From<&MeasureRecord> for WellbeingAt {
    fn from(m: &MeasureRecord) -> Self {
        Self {
            recorded_at: m.recorded_at,
            swemwbs_metric: m.swemwbs.as_ref().map(|s| s.metric_score()),
            ons4_life_satisfaction: m.ons4.as_ref().map(|o| o.life_satisfaction),
            ons4_worthwhile: m.ons4.as_ref().map(|o| o.worthwhile),
            ons4_happiness: m.ons4.as_ref().map(|o| o.happiness),
            ons4_anxiety: m.ons4.as_ref().map(|o| o.anxiety),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct GpAppointments {
    /// `before` or `after` the referral.
    pub window: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub appointments: i32,
}

/// What leaves the practice only with the patient's consent to share beyond it.
#[derive(Serialize, ToSchema)]
pub struct GpMessageDetails {
    pub referrer_name: Option<String>,
    /// The referrer's note.
    pub referral_note: Option<String>,
    #[schema(schema_with = crate::schemas::need_categories)]
    pub need_categories: Vec<NeedCategory>,
    /// What matters to the patient, in their words.
    pub what_matters: Option<String>,
    pub concerns: Vec<String>,
    pub goals: Vec<String>,
    /// Support offered at the clinic besides referring on.
    pub other_support: Option<String>,
    pub support_offered: Vec<SupportOffered>,
    pub clinic_contacts: Vec<ClinicContactEntry>,
    pub wellbeing_baseline: Option<WellbeingAt>,
    pub wellbeing_follow_up: Option<WellbeingAt>,
    /// The change in the SWEMWBS metric score from baseline to follow-up, when both were taken.
    pub swemwbs_change: Option<f64>,
    pub gp_appointments: Vec<GpAppointments>,
    /// The closing summary.
    pub outcome_note: Option<String>,
}

/// The message back to the GP and referrer.
#[derive(Serialize, ToSchema)]
pub struct GpMessage {
    pub referral_id: Uuid,
    pub generated_at: DateTime<Utc>,
    /// `full`, or `codes_only` when the patient has not consented to share beyond the practice
    /// (then `details` is null).
    #[schema(example = "full")]
    pub disclosure: &'static str,
    pub practice: GpPractice,
    pub patient: GpPatient,
    pub referred_at: DateTime<Utc>,
    /// The referral's state now.
    #[schema(schema_with = crate::schemas::referral_state)]
    pub state: ReferralState,
    #[schema(schema_with = crate::schemas::optional_outcome)]
    pub outcome: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The SNOMED CT concepts to file in the GP record, in order.
    pub coded_events: Vec<GpCode>,
    pub details: Option<GpMessageDetails>,
}

impl GpMessage {
    fn from_facts(f: &Facts) -> Self {
        let full = f.disclosure == Disclosure::Full;
        let p = &f.patient;
        let baseline = f.measure(Timepoint::Baseline);
        let follow_up = f.measure(Timepoint::FollowUp);
        let swemwbs_change = match (
            baseline.and_then(|m| m.swemwbs.as_ref()),
            follow_up.and_then(|m| m.swemwbs.as_ref()),
        ) {
            (Some(before), Some(after)) => {
                Some(((after.metric_score() - before.metric_score()) * 100.0).round() / 100.0)
            }
            _ => None,
        };
        GpMessage {
            referral_id: f.referral.id,
            generated_at: f.generated_at,
            disclosure: f.disclosure.code(),
            practice: GpPractice {
                ods_code: f.practice.ods_code.clone(),
                name: f.practice.name.clone(),
            },
            patient: GpPatient {
                nhs_number: p.nhs_number.clone(),
                given_name: full.then(|| p.given_name.clone()),
                family_name: full.then(|| p.family_name.clone()),
                date_of_birth: full.then_some(p.date_of_birth),
                sex: p.sex.clone().filter(|_| full),
                ethnic_category: p.ethnic_category.clone().filter(|_| full),
                postcode: p.postcode.clone().filter(|_| full),
            },
            referred_at: f.referral.created_at,
            state: f.referral.state,
            outcome: f.referral.outcome.map(|o| o.code().to_owned()),
            closed_at: f.referral.closed_at,
            coded_events: f
                .coded_events()
                .into_iter()
                .map(|e| GpCode {
                    system: fhir::SNOMED,
                    code: e.code,
                    display: e.display,
                    at: e.at,
                })
                .collect(),
            details: full.then(|| GpMessageDetails {
                referrer_name: f.referrer_name.clone(),
                referral_note: f.referral.note.clone(),
                need_categories: f.referral.need_categories.clone(),
                what_matters: f.assessment.as_ref().map(|a| a.what_matters.clone()),
                concerns: f
                    .assessment
                    .as_ref()
                    .map(|a| a.concerns.clone())
                    .unwrap_or_default(),
                goals: f
                    .assessment
                    .as_ref()
                    .map(|a| a.goals.clone())
                    .unwrap_or_default(),
                other_support: f.assessment.as_ref().and_then(|a| a.other_support.clone()),
                support_offered: f
                    .onward
                    .iter()
                    .map(|o| {
                        let delivered = f.delivered.get(&o.id);
                        SupportOffered {
                            onward_referral_id: o.id,
                            kind: o.kind.code().to_owned(),
                            service_name: o.service_name.clone(),
                            organisation_name: f.organisation_name(o).map(str::to_owned),
                            state: o.state.code().to_owned(),
                            offered_at: o.created_at,
                            activities_delivered: delivered.map(|d| d.activities).unwrap_or(0),
                            last_delivered_on: delivered.and_then(|d| d.last_delivered_on),
                        }
                    })
                    .collect(),
                clinic_contacts: f
                    .contacts
                    .iter()
                    .map(|c| ClinicContactEntry {
                        starts_at: c.starts_at,
                        ends_at: c.ends_at,
                        location: c.location.clone(),
                        attendance: c.attendance.clone(),
                    })
                    .collect(),
                wellbeing_baseline: baseline.map(WellbeingAt::from),
                wellbeing_follow_up: follow_up.map(WellbeingAt::from),
                swemwbs_change,
                gp_appointments: f
                    .appointment_counts
                    .iter()
                    .map(|c| GpAppointments {
                        window: c.appointment_window.clone(),
                        period_start: c.period_start,
                        period_end: c.period_end,
                        appointments: c.appointments,
                    })
                    .collect(),
                outcome_note: f.referral.outcome_note.clone(),
            }),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GpMessageQuery {
    /// `json` (the default) or `fhir` (a FHIR R4 Bundle); `Accept: application/fhir+json` also
    /// asks for FHIR.
    pub format: Option<String>,
}

/// Whether the request asks for FHIR: `format` when given, else its `Accept` header.
fn wants_fhir(format: Option<&str>, req: &HttpRequest) -> Result<bool, ApiError> {
    match format {
        Some("fhir") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(ApiError::bad_request(
            "invalid_query_parameter",
            format!("format: `{other}` is not json or fhir"),
        )),
        None => Ok(req
            .headers()
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains(FHIR_JSON))),
    }
}

/// Reads the facts, recording the export in the audit log in the same transaction.
async fn read(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
    p: Partition,
    referral: Uuid,
    resource_type: &'static str,
) -> Result<Facts, ApiError> {
    let mut tx = super::begin(state, caller, p).await?;
    let facts = gather(&mut tx, p, referral).await?;
    audit::record(
        &mut tx,
        p.federation,
        &actor(caller, req),
        Action::Read,
        &[Access {
            practice: p.practice,
            patient: facts.patient.id,
            resource_type,
            resource: referral,
        }],
    )
    .await?;
    commit(tx).await?;
    Ok(facts)
}

fn fhir_response(facts: &Facts) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(FHIR_JSON)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(fhir::bundle(facts))
}

/// The message back to the GP and referrer for a referral, on demand (practice staff and
/// federation administrators): the coded events to file, and, with the patient's consent to
/// share beyond the practice, what matters to them, their needs, concerns and goals, the
/// support offered and taken up, wellbeing before and after, GP appointments and the outcome.
/// As JSON, or as a FHIR R4 Bundle with `format=fhir` or `Accept: application/fhir+json`.
#[utoipa::path(
    tag = "gp-record",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
        GpMessageQuery,
    ),
    responses((status = 200, description = "The message", content(
        (GpMessage = "application/json"),
        (Object = "application/fhir+json"),
    )))
)]
#[get("/practices/{practice_id}/referrals/{referral_id}/gp-message")]
pub async fn gp_message(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
    query: web::Query<GpMessageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReadReferralDetails)?;
    let fhir = wants_fhir(query.format.as_deref(), &req)?;
    let facts = read(&state, &caller, &req, p, referral, "gp_message").await?;
    if fhir {
        return Ok(fhir_response(&facts));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(GpMessage::from_facts(&facts)))
}

/// The referral as a FHIR R4 Bundle (type `collection`) of UK Core resources: the Patient by
/// NHS number, the practice as an Organization, the referral as a ServiceRequest coded with
/// SNOMED CT, its decline as an Observation; with the patient's consent to share beyond the
/// practice, the referrer as a Practitioner, SWEMWBS and ONS4 Observations, clinic contacts as
/// Encounters and onward referrals as Tasks (practice staff and federation administrators).
#[utoipa::path(
    tag = "gp-record",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice"),
        ("referral_id" = Uuid, Path, description = "The referral"),
    ),
    responses((status = 200, description = "The Bundle", content_type = "application/fhir+json", body = Object))
)]
#[get("/practices/{practice_id}/referrals/{referral_id}/fhir")]
pub async fn referral_fhir(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (practice, referral) = path.into_inner();
    let p = authorise(&caller, practice, PracticeAction::ReadReferralDetails)?;
    let facts = read(&state, &caller, &req, p, referral, "fhir_bundle").await?;
    Ok(fhir_response(&facts))
}
