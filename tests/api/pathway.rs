//! The referral pathway through HTTP: patients, referrals and their state machine,
//! idempotent creation, the audit log, and confinement of each practice's data.

use crate::helpers::{assert_problem, id_of, spawn_app, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;
use waymark_domain::pathway::nhs_number::check_digit;
use waymark_domain::Role;

/// A valid NHS number made from `seed` (the next stem with a check digit).
pub fn nhs_number(seed: u32) -> String {
    (seed..)
        .find_map(|seed| {
            let nine = format!("{:09}", 400_000_000 + seed);
            check_digit(&nine).map(|check| format!("{nine}{check}"))
        })
        .expect("a stem with a check digit")
}

pub async fn register_patient(app: &TestApp, token: &str, practice: Uuid, seed: u32) -> Uuid {
    let response = app
        .post(&format!("/v1/practices/{practice}/patients"))
        .bearer_auth(token)
        .json(&json!({
            "nhs_number": nhs_number(seed), "given_name": "Ada", "family_name": format!("Patient{seed}"),
            "date_of_birth": "1950-12-10", "phone": "01509 123456", "email": "ada@example.org",
            "consent": {"share_name_with_providers": true, "share_contact_with_providers": false},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    id_of(response).await
}

pub async fn refer(app: &TestApp, token: &str, practice: Uuid, patient: Uuid) -> Uuid {
    let response = app
        .post(&format!("/v1/practices/{practice}/patients/{patient}/referrals"))
        .bearer_auth(token)
        .json(&json!({"need_categories": ["loneliness_isolation", "physical_activity"], "note": "Lives alone since bereavement", "urgency": "soon"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    id_of(response).await
}

pub async fn transition(
    app: &TestApp,
    token: &str,
    practice: Uuid,
    referral: Uuid,
    body: Value,
) -> reqwest::Response {
    app.post(&format!(
        "/v1/practices/{practice}/referrals/{referral}/transitions"
    ))
    .bearer_auth(token)
    .json(&body)
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn patients_are_validated_unique_per_practice_and_registered_by_the_right_roles() {
    let app = spawn_app().await;
    let fed = app.create_federation("pathway-patients").await;
    let [a, b] = fed.practices;
    let clinician = app.as_role(Role::Clinician, fed.id, Some(a));

    let bad = app
        .post(&format!("/v1/practices/{a}/patients"))
        .bearer_auth(&clinician)
        .json(&json!({"nhs_number": "943 476 5918", "given_name": "", "family_name": "X", "date_of_birth": "2999-01-01"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(bad, 422, "validation_failed").await;
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("nhs_number", "invalid_check_digit"),
            ("given_name", "required"),
            ("date_of_birth", "in_future")
        ]
    );

    let patient = register_patient(&app, &clinician, a, 1).await;
    let again = app
        .post(&format!("/v1/practices/{a}/patients"))
        .bearer_auth(&clinician)
        .json(&json!({"nhs_number": nhs_number(1), "given_name": "Ada", "family_name": "Again", "date_of_birth": "1950-12-10"}))
        .send()
        .await
        .unwrap();
    assert_problem(again, 409, "already_exists").await;
    // The same person may be registered at another practice.
    let other_clinician = app.as_role(Role::Clinician, fed.id, Some(b));
    register_patient(&app, &other_clinician, b, 1).await;

    let admin = app.as_role(Role::PracticeAdmin, fed.id, Some(a));
    register_patient(&app, &admin, a, 2).await;
    let volunteer = app.as_role(Role::Volunteer, fed.id, Some(a));
    let denied = app
        .post(&format!("/v1/practices/{a}/patients"))
        .bearer_auth(&volunteer)
        .json(&json!({"nhs_number": nhs_number(3), "given_name": "A", "family_name": "B", "date_of_birth": "1990-01-01"}))
        .send()
        .await
        .unwrap();
    assert_problem(denied, 403, "forbidden").await;

    // Volunteers read the practice's patients; the NHS number finds one.
    let found: Value = app
        .get(&format!(
            "/v1/practices/{a}/patients?nhs_number={}",
            nhs_number(1)
        ))
        .bearer_auth(&volunteer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["id"], json!(patient));

    // Updates need If-Match and keep the NHS number.
    let read = app
        .get(&format!("/v1/practices/{a}/patients/{patient}"))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap();
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    let updated: Value = app
        .patch(&format!("/v1/practices/{a}/patients/{patient}"))
        .bearer_auth(&clinician)
        .header("If-Match", &etag)
        .json(&json!({"phone": null, "consent": {"share_name_with_providers": false, "share_contact_with_providers": true}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["phone"], Value::Null);
    assert_eq!(updated["consent"]["share_contact_with_providers"], true);
    assert_eq!(updated["nhs_number"], json!(nhs_number(1)));
    let stale = app
        .patch(&format!("/v1/practices/{a}/patients/{patient}"))
        .bearer_auth(&clinician)
        .header("If-Match", &etag)
        .json(&json!({"given_name": "Augusta"}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "etag_mismatch").await;
}

#[tokio::test]
async fn another_practice_and_non_practice_roles_get_404_for_patient_data() {
    let app = spawn_app().await;
    let fed = app.create_federation("pathway-isolation").await;
    let other_fed = app.create_federation("pathway-isolation-2").await;
    let [a, b] = fed.practices;
    let clinician_a = app.as_role(Role::Clinician, fed.id, Some(a));
    let patient = register_patient(&app, &clinician_a, a, 10).await;
    let referral = refer(&app, &clinician_a, a, patient).await;

    let clinician_b = app.as_role(Role::Clinician, fed.id, Some(b));
    let foreign_admin = app.as_role(Role::FederationAdmin, other_fed.id, None);
    let outsiders = [
        clinician_b.clone(),
        app.as_role(Role::PracticeAdmin, fed.id, Some(b)),
        app.as_role(Role::Volunteer, fed.id, Some(b)),
        app.as_role(Role::Commissioner, fed.id, None),
        app.as_role(Role::Provider, fed.id, None),
        app.as_service_account(fed.id, &[waymark_domain::ServiceScope::StatsRead])
            .await,
        foreign_admin.clone(),
        app.as_role(Role::Clinician, other_fed.id, Some(other_fed.practices[0])),
    ];
    let paths = [
        format!("/v1/practices/{a}/patients"),
        format!("/v1/practices/{a}/patients/{patient}"),
        format!("/v1/practices/{a}/referrals"),
        format!("/v1/practices/{a}/referrals/{referral}"),
        format!("/v1/practices/{a}/referrals/{referral}/history"),
        format!("/v1/practices/{a}/audit-events"),
        // Guessing: the right ids under the caller's own practice.
        format!("/v1/practices/{b}/patients/{patient}"),
        format!("/v1/practices/{b}/referrals/{referral}"),
    ];
    for token in &outsiders {
        for path in &paths {
            if path.starts_with(&format!("/v1/practices/{b}/")) && *token != clinician_b {
                continue;
            }
            let response = app.get(path).bearer_auth(token).send().await.unwrap();
            if *token == foreign_admin && path.ends_with("/audit-events") {
                // No federation administrator reads audit logs: refused for the role, whatever
                // the practice, which says nothing about the practice.
                assert_problem(response, 403, "forbidden").await;
                continue;
            }
            assert_problem(response, 404, "not_found").await;
        }
    }
    // The federation's administrator reads patient records across practices.
    let admin = app.as_role(Role::FederationAdmin, fed.id, None);
    let response = app
        .get(&format!("/v1/practices/{a}/patients/{patient}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn referrals_follow_the_state_machine_and_record_their_snomed_code() {
    let app = spawn_app().await;
    let fed = app.create_federation("pathway-referrals").await;
    let a = fed.practices[0];
    let clinician = app.as_role(Role::Clinician, fed.id, Some(a));
    let patient = register_patient(&app, &clinician, a, 20).await;

    let volunteer = app.as_role(Role::Volunteer, fed.id, Some(a));
    let denied = app
        .post(&format!("/v1/practices/{a}/patients/{patient}/referrals"))
        .bearer_auth(&volunteer)
        .json(&json!({"need_categories": ["housing"]}))
        .send()
        .await
        .unwrap();
    assert_problem(denied, 403, "forbidden").await;
    let unknown_patient = app
        .post(&format!(
            "/v1/practices/{a}/patients/{}/referrals",
            Uuid::now_v7()
        ))
        .bearer_auth(&clinician)
        .json(&json!({"need_categories": ["housing"]}))
        .send()
        .await
        .unwrap();
    assert_problem(unknown_patient, 404, "not_found").await;
    let no_needs = app
        .post(&format!("/v1/practices/{a}/patients/{patient}/referrals"))
        .bearer_auth(&clinician)
        .json(&json!({"need_categories": []}))
        .send()
        .await
        .unwrap();
    assert_problem(no_needs, 422, "validation_failed").await;

    let referral = refer(&app, &clinician, a, patient).await;
    let body: Value = app
        .get(&format!("/v1/practices/{a}/referrals/{referral}"))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["state"], "received");
    assert_eq!(body["urgency"], "soon");
    assert_eq!(body["snomed_ct"]["code"], "871731000000106");
    assert_eq!(
        body["next_states"],
        json!(["booked", "declined", "withdrawn"])
    );

    let illegal = transition(
        &app,
        &clinician,
        a,
        referral,
        json!({"to": "closed", "outcome": "needs_met"}),
    )
    .await;
    let problem = assert_problem(illegal, 409, "illegal_transition").await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("the referral is received"));
    let through_clinic = transition(&app, &clinician, a, referral, json!({"to": "booked"})).await;
    assert_problem(through_clinic, 422, "reached_through_clinic").await;
    let no_reason = transition(&app, &clinician, a, referral, json!({"to": "declined"})).await;
    let problem = assert_problem(no_reason, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "reason");

    let declined = transition(
        &app,
        &clinician,
        a,
        referral,
        json!({"to": "declined", "reason": "Prefers not to take part"}),
    )
    .await;
    assert_eq!(declined.status(), 200);
    let declined: Value = declined.json().await.unwrap();
    assert_eq!(declined["state"], "declined");
    assert_eq!(declined["snomed_ct"]["code"], "871711000000103");
    assert_eq!(declined["next_states"], json!([]));
    let after_final = transition(
        &app,
        &clinician,
        a,
        referral,
        json!({"to": "withdrawn", "reason": "x"}),
    )
    .await;
    let problem = assert_problem(after_final, 409, "illegal_transition").await;
    assert!(problem["detail"].as_str().unwrap().contains("declined"));

    let history: Value = app
        .get(&format!("/v1/practices/{a}/referrals/{referral}/history"))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let states: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["to_state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["received", "declined"]);
    assert_eq!(history[1]["reason"], "Prefers not to take part");

    let filtered: Value = app
        .get(&format!(
            "/v1/practices/{a}/referrals?state=declined&patient_id={patient}"
        ))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    let bad_state = app
        .get(&format!("/v1/practices/{a}/referrals?state=asleep"))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap();
    assert_problem(bad_state, 400, "invalid_query_parameter").await;
}

#[tokio::test]
async fn a_retried_referral_with_the_same_idempotency_key_creates_nothing_new() {
    let app = spawn_app().await;
    let fed = app.create_federation("pathway-idempotency").await;
    let a = fed.practices[0];
    let clinician = app.as_role(Role::Clinician, fed.id, Some(a));
    let patient = register_patient(&app, &clinician, a, 30).await;
    let path = format!("/v1/practices/{a}/patients/{patient}/referrals");
    let body = json!({"need_categories": ["debt_benefits"], "note": "Arrears letters"});
    let key = Uuid::now_v7().to_string();

    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = app
            .post(&path)
            .bearer_auth(&clinician)
            .header("Idempotency-Key", &key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        ids.push(id_of(response).await);
    }
    assert_eq!(ids[0], ids[1]);
    // Concurrent retries with a fresh key also make exactly one.
    let key2 = Uuid::now_v7().to_string();
    let attempts = (0..6).map(|_| {
        app.post(&path)
            .bearer_auth(&clinician)
            .header("Idempotency-Key", &key2)
            .json(&body)
            .send()
    });
    let responses = futures_util::future::join_all(attempts).await;
    let mut concurrent = Vec::new();
    for response in responses {
        let response = response.unwrap();
        assert_eq!(response.status(), 201);
        concurrent.push(id_of(response).await);
    }
    concurrent.dedup();
    assert_eq!(concurrent.len(), 1);

    let listed: Value = app
        .get(&format!("/v1/practices/{a}/referrals?patient_id={patient}"))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);

    let different = app
        .post(&path)
        .bearer_auth(&clinician)
        .header("Idempotency-Key", &key)
        .json(&json!({"need_categories": ["housing"]}))
        .send()
        .await
        .unwrap();
    assert_problem(different, 422, "idempotency_key_reused").await;
    let bad_key = app
        .post(&path)
        .bearer_auth(&clinician)
        .header("Idempotency-Key", "")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(bad_key, 400, "invalid_idempotency_key").await;
}

#[tokio::test]
async fn every_access_to_patient_data_is_audited_and_the_log_cannot_be_altered() {
    let app = spawn_app().await;
    let fed = app.create_federation("pathway-audit").await;
    let a = fed.practices[0];
    let clinician = app.as_role(Role::Clinician, fed.id, Some(a));
    let patient = register_patient(&app, &clinician, a, 40).await;
    let referral = refer(&app, &clinician, a, patient).await;
    let response = app
        .get(&format!("/v1/practices/{a}/patients/{patient}"))
        .bearer_auth(&clinician)
        .header("X-Request-Id", "audit-test-read")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let admin = app.as_role(Role::PracticeAdmin, fed.id, Some(a));
    let log: Value = app
        .get(&format!(
            "/v1/practices/{a}/audit-events?patient_id={patient}"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events: Vec<(&str, &str)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["resource_type"].as_str().unwrap(),
            )
        })
        .collect();
    // Newest first.
    assert_eq!(
        events,
        [
            ("read", "patient"),
            ("create", "referral"),
            ("create", "patient")
        ]
    );
    assert_eq!(log["items"][0]["request_id"], "audit-test-read");
    assert_eq!(log["items"][0]["actor_roles"], json!(["clinician"]));
    assert_eq!(log["items"][1]["resource_id"], json!(referral));

    let denied = app
        .get(&format!("/v1/practices/{a}/audit-events"))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap();
    assert_problem(denied, 403, "forbidden").await;

    // The service's own database role cannot change or remove the log.
    use sqlx::Executor;
    let mut conn = app.connect_as_service_role().await;
    for statement in [
        format!("BEGIN; SET LOCAL waymark.federation_id = '{}'; SET LOCAL waymark.practice_id = '{a}'; UPDATE audit_events SET action = 'read'; COMMIT", fed.id),
        format!("BEGIN; SET LOCAL waymark.federation_id = '{}'; SET LOCAL waymark.practice_id = '{a}'; DELETE FROM audit_events; COMMIT", fed.id),
        "TRUNCATE audit_events".to_owned(),
    ] {
        let result = conn.execute(statement.as_str()).await;
        assert!(result.is_err(), "{statement} must fail");
        let _ = conn.execute("ROLLBACK").await;
    }
}

#[tokio::test]
async fn a_referrals_read_account_reads_referrals_and_nothing_else_of_a_practice() {
    let app = spawn_app().await;
    let fed = app.create_federation("referrals-reader").await;
    let other_fed = app.create_federation("referrals-reader-2").await;
    let [a, b] = fed.practices;
    let mut made = Vec::new();
    for (practice, seed) in [(a, 60), (b, 61)] {
        let clinician = app.as_role(Role::Clinician, fed.id, Some(practice));
        let patient = register_patient(&app, &clinician, practice, seed).await;
        made.push((
            practice,
            patient,
            refer(&app, &clinician, practice, patient).await,
        ));
    }
    let reader = app
        .as_service_account(fed.id, &[waymark_domain::ServiceScope::ReferralsRead])
        .await;

    // Every practice's referrals, one by one and with their history.
    for (practice, patient, referral) in &made {
        let list: Value = app
            .get(&format!("/v1/practices/{practice}/referrals"))
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["items"][0]["id"], json!(referral), "{list}");
        assert_eq!(list["items"][0]["patient_id"], json!(patient));
        for path in [
            format!("/v1/practices/{practice}/referrals/{referral}"),
            format!("/v1/practices/{practice}/referrals/{referral}/history"),
        ] {
            let response = app.get(&path).bearer_auth(&reader).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
        }
        // Nothing else of the practice: refused for the scope, whatever the id.
        for path in [
            format!("/v1/practices/{practice}/patients"),
            format!("/v1/practices/{practice}/patients/{patient}"),
            format!("/v1/practices/{practice}/audit-events"),
            format!("/v1/practices/{practice}/referrals/{referral}/assessment"),
            format!("/v1/practices/{practice}/referrals/{referral}/onward-referrals"),
        ] {
            let response = app.get(&path).bearer_auth(&reader).send().await.unwrap();
            assert_problem(response, 403, "forbidden").await;
        }
        // Reading is all it may do.
        let change = transition(
            &app,
            &reader,
            *practice,
            *referral,
            json!({"to": "withdrawn", "reason": "test"}),
        )
        .await;
        assert_problem(change, 403, "forbidden").await;
    }
    // Another federation's practices are not there at all.
    let foreign = app
        .get(&format!(
            "/v1/practices/{}/referrals",
            other_fed.practices[0]
        ))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_problem(foreign, 404, "not_found").await;

    // Its reads are audited like anyone's, in its own name.
    let (practice, patient, referral) = made[0];
    let admin = app.as_role(Role::PracticeAdmin, fed.id, Some(practice));
    let log: Value = app
        .get(&format!(
            "/v1/practices/{practice}/audit-events?patient_id={patient}"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reads: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor_kind"] == "service_account")
        .collect();
    assert!(!reads.is_empty(), "{log}");
    assert!(reads
        .iter()
        .all(|e| e["action"] == "read" && e["resource_type"] == "referral"));
    assert!(reads.iter().any(|e| e["resource_id"] == json!(referral)));
}
