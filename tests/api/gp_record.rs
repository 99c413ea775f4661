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

fn codes_of(page: &Value) -> Vec<(String, String)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["referral_id"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn acknowledge(app: &TestApp, token: &str, practice: Uuid, ids: Value) -> reqwest::Response {
    post(
        app,
        token,
        &format!("/v1/practices/{practice}/gp-coding-queue/acknowledgements"),
        json!({ "ids": ids }),
    )
    .await
}

#[tokio::test]
async fn the_coding_queue_holds_each_code_until_the_gp_system_has_filed_it_once() {
    let app = spawn_app().await;
    let p = practice(&app, "gp-coding-queue").await;
    let patient = register_patient(&app, &p.clinician, p.id, 430).await;
    let referral = refer(&app, &p.clinician, p.id, patient).await;
    let declined = refer(&app, &p.clinician, p.id, patient).await;
    json_of(
        transition(
            &app,
            &p.clinician,
            p.id,
            declined,
            json!({"to": "declined", "reason": "Not now"}),
        )
        .await,
        200,
    )
    .await;
    let queue_path = format!("/v1/practices/{}/gp-coding-queue", p.id);
    let queue = json_of(get(&app, &p.clinician, &queue_path).await, 200).await;
    assert_eq!(
        codes_of(&queue),
        [
            (referral.to_string(), "871731000000106".to_owned()),
            (declined.to_string(), "871731000000106".to_owned()),
            (declined.to_string(), "871711000000103".to_owned()),
        ]
    );
    let first = &queue["items"][0];
    let patient_record = json_of(
        get(
            &app,
            &p.clinician,
            &format!("/v1/practices/{}/patients/{patient}", p.id),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(first["nhs_number"], patient_record["nhs_number"]);
    assert_eq!(first["system"], "http://snomed.info/sct");
    assert_eq!(first["display"], "Referral to social prescribing service");
    let ids: Vec<Value> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].clone())
        .collect();

    // An id that is not the practice's refuses the whole request.
    let refused = acknowledge(&app, &p.admin, p.id, json!([ids[0], Uuid::now_v7()])).await;
    let problem = assert_problem(refused, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "not_found");
    assert_eq!(
        json_of(get(&app, &p.clinician, &queue_path).await, 200).await["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    for bad in [json!([]), json!(vec![Uuid::now_v7(); 1001])] {
        let refused = acknowledge(&app, &p.admin, p.id, bad).await;
        assert_problem(refused, 422, "validation_failed").await;
    }

    // Filed, an entry leaves the queue; acknowledged again, nothing changes.
    let done = json_of(
        acknowledge(&app, &p.admin, p.id, json!([ids[0], ids[1]])).await,
        200,
    )
    .await;
    assert_eq!(done["acknowledged"].as_array().unwrap().len(), 2);
    let again = json_of(
        acknowledge(&app, &p.admin, p.id, json!([ids[0]])).await,
        200,
    )
    .await;
    assert_eq!(again["acknowledged"], json!([]));
    assert_eq!(again["already_acknowledged"], json!([ids[0]]));
    let left = json_of(get(&app, &p.clinician, &queue_path).await, 200).await;
    assert_eq!(
        codes_of(&left),
        [(declined.to_string(), "871711000000103".to_owned())]
    );

    // The queue's changes are on the practice's change feed.
    let feed = json_of(
        get(
            &app,
            &p.clinician,
            "/v1/events?types=gp_coding_event.created,gp_coding_event.acknowledged&limit=100",
        )
        .await,
        200,
    )
    .await;
    let types: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "gp_coding_event.created")
            .count(),
        3
    );
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "gp_coding_event.acknowledged")
            .count(),
        2
    );

    // Reading and filing the queue are in the audit log.
    let log = json_of(
        get(
            &app,
            &p.admin,
            &format!(
                "/v1/practices/{}/audit-events?patient_id={patient}&limit=100",
                p.id
            ),
        )
        .await,
        200,
    )
    .await;
    let coded: Vec<(&str, &str)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_type"] == "gp_coding_event")
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["resource_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(coded.contains(&("update", ids[0].as_str().unwrap())));
    assert!(coded.iter().filter(|(action, _)| *action == "read").count() >= 3);

    // Volunteers do not file codes; another practice finds nothing here.
    assert_problem(get(&app, &p.volunteer, &queue_path).await, 403, "forbidden").await;
    let other = practice(&app, "gp-coding-queue-2").await;
    let elsewhere = app.as_role(Role::Clinician, p.federation, Some(Uuid::now_v7()));
    assert_problem(get(&app, &elsewhere, &queue_path).await, 404, "not_found").await;
    assert_problem(
        get(&app, &other.clinician, &queue_path).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_gp_system_integration_files_every_practices_codes_and_reads_nothing_else() {
    let app = spawn_app().await;
    let fed = app.create_federation("gp-integration").await;
    let other = app.create_federation("gp-integration-2").await;
    let integration = app
        .as_service_account(fed.id, &[ServiceScope::GpCodingWrite])
        .await;
    let mut referrals = Vec::new();
    for (practice, seed) in [(fed.practices[0], 440), (fed.practices[1], 450)] {
        let clinician = app.as_role(Role::Clinician, fed.id, Some(practice));
        let patient = register_patient(&app, &clinician, practice, seed).await;
        referrals.push((
            practice,
            patient,
            refer(&app, &clinician, practice, patient).await,
        ));
    }
    for (practice, patient, referral) in &referrals {
        let queue_path = format!("/v1/practices/{practice}/gp-coding-queue");
        let queue = json_of(get(&app, &integration, &queue_path).await, 200).await;
        assert_eq!(
            codes_of(&queue),
            [(referral.to_string(), "871731000000106".to_owned())]
        );
        let id = queue["items"][0]["id"].clone();
        let done = json_of(
            acknowledge(&app, &integration, *practice, json!([id])).await,
            200,
        )
        .await;
        assert_eq!(done["acknowledged"], json!([id]));
        let empty = json_of(get(&app, &integration, &queue_path).await, 200).await;
        assert_eq!(empty["items"], json!([]));
        // It reads nothing else of the practice.
        for path in [
            format!("/v1/practices/{practice}/patients/{patient}"),
            format!("/v1/practices/{practice}/referrals/{referral}"),
            format!("/v1/practices/{practice}/referrals/{referral}/gp-message"),
        ] {
            assert_problem(get(&app, &integration, &path).await, 403, "forbidden").await;
        }
    }
    // Another federation's practices are not there.
    assert_problem(
        get(
            &app,
            &integration,
            &format!("/v1/practices/{}/gp-coding-queue", other.practices[0]),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}
