//! Back to the GP record: the Social Prescribing Information Standard's minimum dataset as the
//! pathway records it (the patient's sex, ethnic category, deprivation decile and consent to
//! share beyond the practice; the assessment's concerns, goals and other support), and the
//! message back to the GP and referrer, as JSON and as a FHIR Bundle checked against UK Core.

use crate::fhir_conformance::problems;
use crate::helpers::{assert_problem, spawn_app, TestApp};
use crate::journey::{
    get, json_of, post, practice, provider_service, record_activity, seen_referral, Practice,
};
use crate::pathway::{nhs_number, refer, register_patient, transition};
use chrono::Utc;
use serde_json::{json, Value};
use uuid::Uuid;
use waymark_domain::{Role, ServiceScope};

#[tokio::test]
async fn patients_carry_the_minimum_datasets_demographics_validated() {
    let app = spawn_app().await;
    let p = practice(&app, "dataset-patients").await;
    let path = format!("/v1/practices/{}/patients", p.id);
    let created = json_of(
        post(
            &app,
            &p.clinician,
            &path,
            json!({
                "nhs_number": nhs_number(300), "given_name": "Ada", "family_name": "Lovelace",
                "date_of_birth": "1950-12-10", "sex": "female", "ethnic_category": "b",
                "imd_decile": 3,
                "consent": {"share_name_with_providers": true, "share_beyond_practice": true},
            }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(created["sex"], "female");
    assert_eq!(created["ethnic_category"], "B");
    assert_eq!(created["imd_decile"], 3);
    assert_eq!(created["consent"]["share_beyond_practice"], true);
    assert_eq!(created["consent"]["share_contact_with_providers"], false);

    // Left out, nothing is recorded and nothing is shared beyond the practice.
    let plain = json_of(
        post(
            &app,
            &p.clinician,
            &path,
            json!({"nhs_number": nhs_number(310), "given_name": "Bo", "family_name": "Peep",
                   "date_of_birth": "1960-01-01"}),
        )
        .await,
        201,
    )
    .await;
    assert!(plain["sex"].is_null() && plain["ethnic_category"].is_null());
    assert!(plain["imd_decile"].is_null());
    assert_eq!(plain["consent"]["share_beyond_practice"], false);

    // Each bad value is named.
    let refused = post(
        &app,
        &p.clinician,
        &path,
        json!({"nhs_number": nhs_number(320), "given_name": "Cy", "family_name": "Young",
               "date_of_birth": "1970-01-01", "ethnic_category": "Q", "imd_decile": 11}),
    )
    .await;
    let problem = assert_problem(refused, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["ethnic_category", "imd_decile"]);
    let unknown_sex = post(
        &app,
        &p.clinician,
        &path,
        json!({"nhs_number": nhs_number(330), "given_name": "Di", "family_name": "Lane",
               "date_of_birth": "1970-01-01", "sex": "F"}),
    )
    .await;
    assert_problem(unknown_sex, 422, "invalid_body").await;

    // A change replaces what it names, `null` clears, the rest stays.
    let patient = format!("{path}/{}", created["id"].as_str().unwrap());
    let etag = get(&app, &p.clinician, &patient).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let changed = json_of(
        app.patch(&patient)
            .bearer_auth(&p.clinician)
            .header("If-Match", etag)
            .json(&json!({"ethnic_category": null, "imd_decile": 7,
                          "consent": {"share_beyond_practice": false}}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(changed["ethnic_category"].is_null());
    assert_eq!(changed["imd_decile"], 7);
    assert_eq!(changed["sex"], "female");
    assert_eq!(changed["consent"]["share_beyond_practice"], false);
    assert_eq!(changed["consent"]["share_name_with_providers"], true);
}

#[tokio::test]
async fn assessments_record_concerns_goals_and_other_support() {
    let app = spawn_app().await;
    let p = practice(&app, "dataset-assessments").await;
    let (_, referral) = seen_referral(&app, &p, 340).await;
    let path = format!("/v1/practices/{}/referrals/{referral}/assessment", p.id);
    let refused = post(
        &app,
        &p.volunteer,
        &path,
        json!({"need_categories": [], "what_matters": "Company", "concerns": ["", "ok"],
               "goals": vec!["g"; 21], "baseline": {}}),
    )
    .await;
    let problem = assert_problem(refused, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["need_categories", "concerns[0]", "goals", "baseline"]
    );

    let assessed: Value = json_of(
        post(
            &app,
            &p.volunteer,
            &path,
            json!({"need_categories": ["loneliness_isolation"],
                   "what_matters": "Seeing people again",
                   "concerns": ["Lonely since moving", " Money is tight "],
                   "goals": ["Join a walking group"],
                   "other_support": "Gave the number of the benefits advice line"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        assessed["concerns"],
        json!(["Lonely since moving", "Money is tight"])
    );
    assert_eq!(assessed["goals"], json!(["Join a walking group"]));
    assert_eq!(
        assessed["other_support"],
        "Gave the number of the benefits advice line"
    );
    let read = json_of(get(&app, &p.clinician, &path).await, 200).await;
    assert_eq!(read["concerns"], assessed["concerns"]);
    assert_eq!(read["other_support"], assessed["other_support"]);
}

/// A patient of `p` who gave the details and consent `extra` adds, referred, booked and seen
/// at the clinic.
async fn seen_patient(app: &TestApp, p: &Practice, seed: u32, extra: Value) -> (Uuid, Uuid) {
    let (patient, referral) = seen_referral(app, p, seed).await;
    let path = format!("/v1/practices/{}/patients/{patient}", p.id);
    let etag = get(app, &p.clinician, &path).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let changed = app
        .patch(&path)
        .bearer_auth(&p.clinician)
        .header("If-Match", etag)
        .json(&extra)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    (patient, referral)
}

#[tokio::test]
async fn the_message_back_to_the_gp_tells_the_journey_and_its_fhir_bundle_conforms_to_uk_core() {
    let app = spawn_app().await;
    let p = practice(&app, "gp-message").await;
    let (_, referral) = seen_patient(
        &app,
        &p,
        400,
        json!({"sex": "female", "ethnic_category": "H", "imd_decile": 2,
               "consent": {"share_beyond_practice": true}}),
    )
    .await;
    let base = format!("/v1/practices/{}/referrals/{referral}", p.id);
    json_of(
        post(
            &app,
            &p.volunteer,
            &format!("{base}/assessment"),
            json!({"need_categories": ["loneliness_isolation"], "what_matters": "Seeing people",
                   "concerns": ["Lonely since moving"], "goals": ["Join a walking group"],
                   "other_support": "Library events leaflet",
                   "baseline": {"swemwbs": [2, 2, 3, 2, 2, 3, 2],
                                "ons4": {"life_satisfaction": 4, "worthwhile": 5, "happiness": 4, "anxiety": 7}}}),
        )
        .await,
        201,
    )
    .await;
    let (service, provider, _) = provider_service(&app, p.federation, true).await;
    let onward = json_of(
        post(
            &app,
            &p.volunteer,
            &format!("{base}/onward-referrals"),
            json!({"service_id": service}),
        )
        .await,
        201,
    )
    .await;
    let onward = onward["id"].as_str().unwrap().to_owned();
    json_of(
        post(
            &app,
            &provider,
            &format!("/v1/provider/onward-referrals/{onward}/transitions"),
            json!({"to": "accepted"}),
        )
        .await,
        200,
    )
    .await;
    json_of(
        record_activity(
            &app,
            &provider,
            &onward,
            json!({"activity_type": "session_attended", "delivered_on": Utc::now().date_naive(), "quantity": 1}),
        )
        .await,
        201,
    )
    .await;
    json_of(
        post(
            &app,
            &p.volunteer,
            &format!("{base}/wellbeing-measures"),
            json!({"timepoint": "follow_up", "swemwbs": [4, 4, 4, 3, 4, 4, 4]}),
        )
        .await,
        201,
    )
    .await;
    json_of(
        transition(
            &app,
            &p.clinician,
            p.id,
            referral,
            json!({"to": "closed", "outcome": "needs_met", "outcome_note": "Walking weekly"}),
        )
        .await,
        200,
    )
    .await;

    let message = json_of(
        get(&app, &p.clinician, &format!("{base}/gp-message")).await,
        200,
    )
    .await;
    assert_eq!(message["disclosure"], "full");
    let registered = json_of(
        get(&app, &p.admin, &format!("/v1/practices/{}", p.id)).await,
        200,
    )
    .await;
    assert_eq!(message["practice"]["ods_code"], registered["ods_code"]);
    assert_eq!(message["patient"]["sex"], "female");
    assert_eq!(message["patient"]["ethnic_category"], "H");
    assert_eq!(message["state"], "closed");
    assert_eq!(message["outcome"], "needs_met");
    assert_eq!(
        message["coded_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["code"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["871731000000106"]
    );
    let details = &message["details"];
    assert_eq!(details["what_matters"], "Seeing people");
    assert_eq!(details["concerns"], json!(["Lonely since moving"]));
    assert_eq!(details["goals"], json!(["Join a walking group"]));
    assert_eq!(details["other_support"], "Library events leaflet");
    assert_eq!(details["support_offered"][0]["state"], "accepted");
    assert_eq!(details["support_offered"][0]["activities_delivered"], 1);
    assert!(details["support_offered"][0]["organisation_name"]
        .as_str()
        .unwrap()
        .starts_with("Walks "));
    assert_eq!(details["clinic_contacts"][0]["attendance"], "attended");
    assert_eq!(details["wellbeing_baseline"]["ons4_anxiety"], 7);
    assert_eq!(details["wellbeing_follow_up"]["swemwbs_metric"], 24.11);
    let change = details["swemwbs_change"].as_f64().unwrap();
    let baseline = details["wellbeing_baseline"]["swemwbs_metric"]
        .as_f64()
        .unwrap();
    assert!((change - (24.11 - baseline)).abs() < 0.011, "{change}");
    assert_eq!(details["outcome_note"], "Walking weekly");

    // The same as FHIR: conforming to UK Core and FHIR R4, every record where it belongs.
    let response = get(&app, &p.clinician, &format!("{base}/fhir")).await;
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/fhir+json"
    );
    let bundle: Value = response.json().await.unwrap();
    assert_eq!(problems(&bundle), Vec::<String>::new());
    let of = |kind: &str| -> Vec<Value> {
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"].clone())
            .filter(|r| r["resourceType"] == kind)
            .collect()
    };
    let patients = of("Patient");
    assert_eq!(
        patients[0]["identifier"][0]["value"],
        message["patient"]["nhs_number"]
    );
    assert_eq!(patients[0]["gender"], "female");
    assert_eq!(
        patients[0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"],
        "H"
    );
    let requests = of("ServiceRequest");
    assert_eq!(requests[0]["status"], "completed");
    assert_eq!(requests[0]["code"]["coding"][0]["code"], "871731000000106");
    let observations = of("Observation");
    let swemwbs: Vec<&Value> = observations
        .iter()
        .filter(|o| o["code"]["coding"][0]["code"] == "718466001")
        .collect();
    assert_eq!(swemwbs.len(), 2);
    assert!(swemwbs.iter().any(|o| o["valueQuantity"]["value"] == 24.11));
    assert_eq!(
        observations
            .iter()
            .filter(|o| o["code"]["text"] == "ONS4 personal wellbeing")
            .count(),
        1
    );
    assert_eq!(of("Encounter")[0]["status"], "finished");
    let tasks = of("Task");
    assert_eq!(tasks[0]["status"], "accepted");
    assert_eq!(tasks[0]["output"][0]["valueInteger"], 1);
    let asked_as_fhir: Value = app
        .get(&format!("{base}/gp-message"))
        .bearer_auth(&p.clinician)
        .header("Accept", "application/fhir+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(asked_as_fhir["resourceType"], "Bundle");
    assert_eq!(
        asked_as_fhir["entry"].as_array().unwrap().len(),
        bundle["entry"].as_array().unwrap().len()
    );

    // Every export is a read of the patient's record in the audit log.
    let log = json_of(
        get(
            &app,
            &p.admin,
            &format!("/v1/practices/{}/audit-events?limit=100", p.id),
        )
        .await,
        200,
    )
    .await;
    let exports: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_id"] == json!(referral) && e["action"] == "read")
        .map(|e| e["resource_type"].as_str().unwrap())
        .collect();
    assert!(
        exports.contains(&"gp_message") && exports.contains(&"fhir_bundle"),
        "{exports:?}"
    );
}

#[tokio::test]
async fn without_consent_to_share_beyond_the_practice_the_gp_is_sent_codes_only() {
    let app = spawn_app().await;
    let p = practice(&app, "gp-codes-only").await;
    let patient = register_patient(&app, &p.clinician, p.id, 410).await;
    let referral = refer(&app, &p.clinician, p.id, patient).await;
    json_of(
        transition(
            &app,
            &p.clinician,
            p.id,
            referral,
            json!({"to": "declined", "reason": "Prefers to wait"}),
        )
        .await,
        200,
    )
    .await;
    let base = format!("/v1/practices/{}/referrals/{referral}", p.id);
    let response = get(&app, &p.clinician, &format!("{base}/gp-message")).await;
    let text = response.text().await.unwrap();
    let message: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(message["disclosure"], "codes_only");
    assert!(message["details"].is_null());
    assert!(message["patient"]["given_name"].is_null());
    assert!(message["patient"]["nhs_number"].is_string());
    assert_eq!(
        message["coded_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["code"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["871731000000106", "871711000000103"]
    );
    // Nothing of the patient's story or name, in the JSON or the FHIR.
    let fhir = get(&app, &p.clinician, &format!("{base}/fhir"))
        .await
        .text()
        .await
        .unwrap();
    for told in [&text, &fhir] {
        for private in ["Ada", "Patient410", "Lives alone", "Prefers to wait"] {
            assert!(!told.contains(private), "{private} in {told}");
        }
    }
    let bundle: Value = serde_json::from_str(&fhir).unwrap();
    assert_eq!(problems(&bundle), Vec::<String>::new());
    let kinds: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["Organization", "Patient", "ServiceRequest", "Observation"]
    );
    let declined = &bundle["entry"][3]["resource"];
    assert_eq!(declined["code"]["coding"][0]["code"], "871711000000103");
    assert_eq!(bundle["entry"][2]["resource"]["status"], "revoked");
}

#[tokio::test]
async fn only_the_practice_and_its_federations_administrators_read_the_message() {
    let app = spawn_app().await;
    let p = practice(&app, "gp-message-access").await;
    let other = practice(&app, "gp-message-access-2").await;
    let patient = register_patient(&app, &p.clinician, p.id, 420).await;
    let referral = refer(&app, &p.clinician, p.id, patient).await;
    let path = format!("/v1/practices/{}/referrals/{referral}/gp-message", p.id);
    for token in [
        other.clinician.clone(),
        app.as_role(Role::Commissioner, p.federation, None),
        app.as_role(Role::Provider, p.federation, None),
        app.as_service_account(p.federation, &[ServiceScope::StatsRead])
            .await,
    ] {
        assert_problem(get(&app, &token, &path).await, 404, "not_found").await;
    }
    let admin = app.as_role(Role::FederationAdmin, p.federation, None);
    assert_eq!(get(&app, &admin, &path).await.status(), 200);
    assert_eq!(get(&app, &p.volunteer, &path).await.status(), 200);
    assert_problem(
        get(&app, &p.clinician, &format!("{path}?format=xml")).await,
        400,
        "invalid_query_parameter",
    )
    .await;
    let unknown = format!(
        "/v1/practices/{}/referrals/{}/gp-message",
        p.id,
        Uuid::now_v7()
    );
    assert_problem(get(&app, &p.clinician, &unknown).await, 404, "not_found").await;
}
