//! A referral as a FHIR R4 Bundle of HL7 UK Core resources, for GP-system integrations. Each
//! resource is identified by the id of the record it comes from (or a UUID v5 name of it), and
//! every reference is to another entry's `fullUrl` (`urn:uuid:…`), so the Bundle stands alone.

use super::gp_message::Facts;
use serde_json::{json, Value};
use uuid::Uuid;
use waymark_domain::pathway::demographics::{EthnicCategory, Sex};
use waymark_domain::pathway::gp_message::{Disclosure, SWEMWBS_SCORE, SWEMWBS_SCORE_DISPLAY};
use waymark_domain::pathway::onward::{OnwardKind, OnwardReferralState};
use waymark_domain::pathway::referral::snomed;
use waymark_domain::pathway::wellbeing::Timepoint;
use waymark_domain::pathway::ReferralState;
use waymark_persistence::pathway::assessments::MeasureRecord;

pub const SNOMED: &str = "http://snomed.info/sct";
pub const NHS_NUMBER: &str = "https://fhir.nhs.uk/Id/nhs-number";
pub const ODS_ORGANISATION_CODE: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const ETHNIC_CATEGORY_EXTENSION: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory";
pub const ETHNIC_CATEGORY_ENGLAND: &str =
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const UCUM: &str = "http://unitsofmeasure.org";

fn profile(name: &str) -> Value {
    json!({"profile": [format!("https://fhir.hl7.org.uk/StructureDefinition/UKCore-{name}")]})
}

fn full_url(id: Uuid) -> String {
    format!("urn:uuid:{id}")
}

fn reference(id: Uuid) -> Value {
    json!({"reference": full_url(id)})
}

fn entry(id: Uuid, resource: Value) -> Value {
    json!({"fullUrl": full_url(id), "resource": resource})
}

/// A stable id for the `part` of a record that has no id of its own.
fn part_of(record: Uuid, part: &str) -> Uuid {
    Uuid::new_v5(&record, part.as_bytes())
}

fn snomed_concept(code: &str, display: &str) -> Value {
    json!({"coding": [{"system": SNOMED, "code": code, "display": display}]})
}

/// The referral's status in FHIR's terms.
fn service_request_status(state: ReferralState) -> &'static str {
    match state {
        ReferralState::Received
        | ReferralState::Booked
        | ReferralState::Seen
        | ReferralState::Active => "active",
        ReferralState::Closed => "completed",
        ReferralState::Declined | ReferralState::DidNotAttend | ReferralState::Withdrawn => {
            "revoked"
        }
    }
}

/// An onward referral's status as a Task's.
fn task_status(state: OnwardReferralState) -> &'static str {
    match state {
        OnwardReferralState::Pending => "requested",
        OnwardReferralState::Accepted => "accepted",
        OnwardReferralState::Declined => "rejected",
        OnwardReferralState::Completed => "completed",
        OnwardReferralState::Withdrawn => "cancelled",
    }
}

/// The Bundle: coded events always; the rest with the patient's consent to share beyond the
/// practice.
pub fn bundle(f: &Facts) -> Value {
    let full = f.disclosure == Disclosure::Full;
    let practice_id = f.practice.id;
    let patient_id = f.patient.id;
    let referral_id = f.referral.id;
    let referrer_id = f.referral.referred_by;
    let mut entries = vec![
        entry(practice_id, organisation(f)),
        entry(patient_id, patient(f, full)),
    ];
    if full {
        entries.push(entry(referrer_id, practitioner(f)));
    }
    entries.push(entry(referral_id, service_request(f, full)));
    for event in f.coded_events() {
        if event.code == snomed::SOCIAL_PRESCRIBING_DECLINED {
            let id = part_of(referral_id, "declined");
            entries.push(entry(
                id,
                json!({
                    "resourceType": "Observation",
                    "id": id,
                    "meta": profile("Observation"),
                    "status": "final",
                    "code": snomed_concept(event.code, event.display),
                    "subject": reference(patient_id),
                    "basedOn": [reference(referral_id)],
                    "effectiveDateTime": event.at,
                }),
            ));
        }
    }
    if full {
        for measure in &f.measures {
            entries.extend(observations(measure, patient_id, referral_id));
        }
        for contact in &f.contacts {
            let status = match contact.attendance.as_deref() {
                Some("attended") => "finished",
                Some(_) => "cancelled",
                None if contact.starts_at > f.generated_at => "planned",
                None => "unknown",
            };
            entries.push(entry(
                contact.slot_id,
                json!({
                    "resourceType": "Encounter",
                    "id": contact.slot_id,
                    "meta": profile("Encounter"),
                    "status": status,
                    "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
                    "type": [{"text": "Social prescribing clinic"}],
                    "subject": reference(patient_id),
                    "basedOn": [reference(referral_id)],
                    "period": {"start": contact.starts_at, "end": contact.ends_at},
                    "location": [{"location": {"display": contact.location}}],
                    "serviceProvider": reference(practice_id),
                }),
            ));
        }
        for onward in &f.onward {
            let delivered = f.delivered.get(&onward.id);
            let signposting = onward.kind == OnwardKind::Signposting;
            let mut task = json!({
                "resourceType": "Task",
                "id": onward.id,
                "meta": profile("Task"),
                "status": task_status(onward.state),
                "intent": if signposting { "proposal" } else { "order" },
                "code": {"text": if signposting { "Signposting" } else { "Onward referral" }},
                "description": onward.service_name,
                "focus": reference(referral_id),
                "for": reference(patient_id),
                "authoredOn": onward.created_at,
                "lastModified": onward.updated_at.max(onward.created_at),
                "requester": reference(practice_id),
            });
            if let Some(name) = f.organisation_name(onward) {
                task["owner"] = json!({"display": name});
            }
            if let Some(delivered) = delivered {
                task["output"] = json!([{
                    "type": {"text": "Activities delivered"},
                    "valueInteger": delivered.activities,
                }]);
            }
            entries.push(entry(onward.id, task));
        }
    }
    json!({
        "resourceType": "Bundle",
        "id": Uuid::now_v7(),
        "meta": profile("Bundle"),
        "type": "collection",
        "timestamp": f.generated_at,
        "entry": entries,
    })
}

fn organisation(f: &Facts) -> Value {
    json!({
        "resourceType": "Organization",
        "id": f.practice.id,
        "meta": profile("Organization"),
        "identifier": [{"system": ODS_ORGANISATION_CODE, "value": f.practice.ods_code}],
        "name": f.practice.name,
    })
}

fn patient(f: &Facts, full: bool) -> Value {
    let p = &f.patient;
    let mut patient = json!({
        "resourceType": "Patient",
        "id": p.id,
        "meta": profile("Patient"),
        "identifier": [{"system": NHS_NUMBER, "value": p.nhs_number}],
        "generalPractitioner": [reference(f.practice.id)],
    });
    if !full {
        return patient;
    }
    patient["name"] =
        json!([{"use": "official", "family": p.family_name, "given": [p.given_name]}]);
    patient["birthDate"] = json!(p.date_of_birth);
    if let Some(sex) = p.sex.as_deref().and_then(|s| s.parse::<Sex>().ok()) {
        patient["gender"] = json!(sex.fhir_gender());
    }
    if let Some(category) = p
        .ethnic_category
        .as_deref()
        .and_then(|c| EthnicCategory::parse(c).ok())
    {
        patient["extension"] = json!([{
            "url": ETHNIC_CATEGORY_EXTENSION,
            "valueCodeableConcept": {"coding": [{
                "system": ETHNIC_CATEGORY_ENGLAND,
                "code": category.code(),
                "display": category.display(),
            }]},
        }]);
    }
    let mut telecom = Vec::new();
    if let Some(phone) = &p.phone {
        telecom.push(json!({"system": "phone", "value": phone}));
    }
    if let Some(email) = &p.email {
        telecom.push(json!({"system": "email", "value": email}));
    }
    if !telecom.is_empty() {
        patient["telecom"] = json!(telecom);
    }
    if p.address.is_some() || p.postcode.is_some() {
        let mut address = json!({"use": "home"});
        if let Some(text) = &p.address {
            address["text"] = json!(text);
        }
        if let Some(postcode) = &p.postcode {
            address["postalCode"] = json!(postcode);
        }
        patient["address"] = json!([address]);
    }
    patient
}

fn practitioner(f: &Facts) -> Value {
    let mut practitioner = json!({
        "resourceType": "Practitioner",
        "id": f.referral.referred_by,
        "meta": profile("Practitioner"),
    });
    if let Some(name) = &f.referrer_name {
        practitioner["name"] = json!([{"text": name}]);
    }
    practitioner
}

fn service_request(f: &Facts, full: bool) -> Value {
    let r = &f.referral;
    let mut request = json!({
        "resourceType": "ServiceRequest",
        "id": r.id,
        "meta": profile("ServiceRequest"),
        "status": service_request_status(r.state),
        "intent": "order",
        "priority": match r.urgency.code() {
            "urgent" => "urgent",
            "soon" => "asap",
            _ => "routine",
        },
        "code": snomed_concept(
            snomed::REFERRAL_TO_SOCIAL_PRESCRIBING,
            snomed::display(snomed::REFERRAL_TO_SOCIAL_PRESCRIBING),
        ),
        "subject": reference(f.patient.id),
        "authoredOn": r.created_at,
        "requester": reference(if full { r.referred_by } else { f.practice.id }),
        "performer": [reference(f.practice.id)],
    });
    if full {
        request["reasonCode"] = json!(r
            .need_categories
            .iter()
            .map(|n| json!({"text": n.name()}))
            .collect::<Vec<_>>());
        let mut notes = Vec::new();
        if let Some(note) = &r.note {
            notes.push(json!({"text": note}));
        }
        if let (Some(outcome), Some(closed_at)) = (r.outcome, r.closed_at) {
            let mut text = format!("Closed: {}", outcome.code().replace('_', " "));
            if let Some(note) = &r.outcome_note {
                text.push_str(&format!(". {note}"));
            }
            notes.push(json!({"text": text, "time": closed_at}));
        }
        if !notes.is_empty() {
            request["note"] = json!(notes);
        }
    }
    request
}

fn timepoint_text(timepoint: Timepoint) -> &'static str {
    match timepoint {
        Timepoint::Baseline => "Baseline, at the social prescribing assessment",
        Timepoint::FollowUp => "Follow-up",
    }
}

/// A measure's SWEMWBS (coded, its metric score) and ONS4 (the four answers as components of
/// one observation: no national code is known for them).
fn observations(m: &MeasureRecord, patient: Uuid, referral: Uuid) -> Vec<Value> {
    let common = |id: Uuid, code: Value| {
        json!({
            "resourceType": "Observation",
            "id": id,
            "meta": profile("Observation"),
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}],
            "code": code,
            "subject": reference(patient),
            "basedOn": [reference(referral)],
            "effectiveDateTime": m.recorded_at,
            "note": [{"text": timepoint_text(m.timepoint)}],
        })
    };
    let mut made = Vec::new();
    if let Some(swemwbs) = &m.swemwbs {
        let id = part_of(m.id, "swemwbs");
        let mut observation = common(id, snomed_concept(SWEMWBS_SCORE, SWEMWBS_SCORE_DISPLAY));
        observation["valueQuantity"] = json!({
            "value": swemwbs.metric_score(),
            "unit": "score",
            "system": UCUM,
            "code": "{score}",
        });
        made.push(entry(id, observation));
    }
    if let Some(ons4) = &m.ons4 {
        let id = part_of(m.id, "ons4");
        let mut observation = common(id, json!({"text": "ONS4 personal wellbeing"}));
        let component = |question: &str, answer: u8| json!({"code": {"text": question}, "valueInteger": answer});
        observation["component"] = json!([
            component("Life satisfaction (0-10)", ons4.life_satisfaction),
            component("Worthwhile (0-10)", ons4.worthwhile),
            component("Happiness yesterday (0-10)", ons4.happiness),
            component("Anxiety yesterday (0-10)", ons4.anxiety),
        ]);
        made.push(entry(id, observation));
    }
    made
}
