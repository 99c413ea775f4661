//! The whole pathway through HTTP, as each role does its part: clinic, assessment, wellbeing,
//! onward referral, the provider's view and answer, activities, safeguarding, case notes, GP
//! appointment counts and closing, with the audit log as the record of it all.

use crate::helpers::{assert_problem, id_of, spawn_app, TestApp};
use crate::pathway::{refer, register_patient, transition};
use chrono::{Duration, DurationRound, Utc};
use reqwest::Response;
use serde_json::{json, Value};
use sqlx::Connection;
use uuid::Uuid;
use waymark_domain::{FederationId, OrganisationId, Principal, PrincipalKind, Role};

pub struct Practice {
    pub federation: Uuid,
    pub id: Uuid,
    pub clinician: String,
    pub volunteer: String,
    pub admin: String,
}

pub async fn practice(app: &TestApp, slug: &str) -> Practice {
    let fed = app.create_federation(slug).await;
    let id = fed.practices[0];
    Practice {
        federation: fed.id,
        id,
        clinician: app.as_role(Role::Clinician, fed.id, Some(id)),
        volunteer: app.as_role(Role::Volunteer, fed.id, Some(id)),
        admin: app.as_role(Role::PracticeAdmin, fed.id, Some(id)),
    }
}

pub async fn json_of(response: Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let url = response.url().to_string();
    let body = response.text().await.unwrap();
    assert_eq!(actual, status, "{url}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

pub async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Response {
    app.post(path)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Records an activity under an onward referral as the provider, with a fresh Idempotency-Key.
pub async fn record_activity(app: &TestApp, token: &str, onward: &str, body: Value) -> Response {
    app.post(&format!(
        "/v1/provider/onward-referrals/{onward}/activities"
    ))
    .bearer_auth(token)
    .header("Idempotency-Key", Uuid::now_v7().to_string())
    .json(&body)
    .send()
    .await
    .unwrap()
}

pub async fn get(app: &TestApp, token: &str, path: &str) -> Response {
    app.get(path).bearer_auth(token).send().await.unwrap()
}

/// A service of a new organisation in the federation, and a provider token for it.
pub async fn provider_service(
    app: &TestApp,
    federation: Uuid,
    accepting: bool,
) -> (Uuid, String, Uuid) {
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let organisation = id_of(
        post(
            app,
            &admin,
            "/v1/directory/organisations",
            json!({"name": format!("Walks {}", Uuid::now_v7()), "charity_number": "1123456"}),
        )
        .await,
    )
    .await;
    let service = json_of(
        post(
            app,
            &admin,
            "/v1/directory/services",
            json!({
                "organisation_id": organisation, "name": "Health walks",
                "description": "Weekly guided walks", "need_categories": ["physical_activity"],
                "delivery_modes": ["in_person"], "accepting_referrals": accepting,
            }),
        )
        .await,
        201,
    )
    .await;
    json_of(
        post(
            app,
            &admin,
            "/v1/ledger/tariffs",
            json!({"service_id": service["id"], "activity_type": "session_attended", "unit_price_pence": 1500, "effective_from": (Utc::now() - Duration::days(400)).date_naive()}),
        )
        .await,
        201,
    )
    .await;
    let provider = app.token(&Principal {
        kind: PrincipalKind::User,
        subject: Uuid::now_v7(),
        federation_id: Some(FederationId::from(federation)),
        practice_id: None,
        organisation_id: Some(OrganisationId::from(organisation)),
        roles: vec![Role::Provider],
        scopes: vec![],
    });
    (
        service["id"].as_str().unwrap().parse().unwrap(),
        provider,
        organisation,
    )
}

/// A volunteer of the practice, cleared to run clinics (background check and training).
pub async fn cleared_volunteer(app: &TestApp, p: &Practice, name: &str) -> Uuid {
    let base = format!("/v1/practices/{}", p.id);
    let volunteer = id_of(
        post(
            app,
            &p.admin,
            &format!("{base}/volunteers"),
            json!({"display_name": name, "background_check_on": (Utc::now() - Duration::days(30)).date_naive()}),
        )
        .await,
    )
    .await;
    json_of(
        post(
            app,
            &p.admin,
            &format!("{base}/volunteers/{volunteer}/training"),
            json!({"course": "Scenario training", "completed_on": (Utc::now() - Duration::days(20)).date_naive(), "expires_on": (Utc::now() + Duration::days(300)).date_naive()}),
        )
        .await,
        201,
    )
    .await;
    volunteer
}

/// Brings a new referral of a new patient to `seen` through the clinic: a cleared volunteer, a
/// session next week, a booking and the attendance.
pub async fn seen_referral(app: &TestApp, p: &Practice, seed: u32) -> (Uuid, Uuid) {
    let patient = register_patient(app, &p.clinician, p.id, seed).await;
    let referral = refer(app, &p.clinician, p.id, patient).await;
    let base = format!("/v1/practices/{}", p.id);
    let volunteer = cleared_volunteer(app, p, &format!("Volunteer {seed}")).await;
    let starts = (Utc::now() + Duration::days(7))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let session = json_of(
        post(
            app,
            &p.admin,
            &format!("{base}/clinic-sessions"),
            json!({"starts_at": starts, "ends_at": starts + Duration::hours(1), "location": "Room 2", "volunteer_ids": [volunteer]}),
        )
        .await,
        201,
    )
    .await;
    let slot = session["slots"][0]["id"].as_str().unwrap().to_owned();
    json_of(
        post(
            app,
            &p.volunteer,
            &format!("{base}/clinic-slots/{slot}/booking"),
            json!({"referral_id": referral}),
        )
        .await,
        200,
    )
    .await;
    app.let_the_slot_begin(Uuid::parse_str(&slot).unwrap())
        .await;
    json_of(
        post(
            app,
            &p.volunteer,
            &format!("{base}/clinic-slots/{slot}/attendance"),
            json!({"attendance": "attended"}),
        )
        .await,
        200,
    )
    .await;
    (patient, referral)
}

#[tokio::test]
async fn the_whole_pathway_end_to_end_as_each_role() {
    let app = spawn_app().await;
    let p = practice(&app, "journey").await;
    let (service, provider, _) = provider_service(&app, p.federation, true).await;
    let (patient, referral) = seen_referral(&app, &p, 1).await;
    let base = format!("/v1/practices/{}/referrals/{referral}", p.id);

    // The volunteer assesses, with the baseline measure.
    let assessment = json_of(
        post(
            &app,
            &p.volunteer,
            &format!("{base}/assessment"),
            json!({
                "need_categories": ["physical_activity", "loneliness_isolation"],
                "what_matters": "Getting out of the house; meeting people",
                "baseline": {"swemwbs": [3, 3, 3, 3, 3, 3, 3], "ons4": {"life_satisfaction": 4, "worthwhile": 5, "happiness": 4, "anxiety": 7}},
            }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(assessment["baseline"]["swemwbs"]["raw"], 21);
    assert_eq!(assessment["baseline"]["swemwbs"]["metric"], 19.25);
    assert_eq!(assessment["baseline"]["ons4"]["anxiety"], 7);

    // Onward referral to the provider's service makes the referral active.
    let onward = json_of(
        post(
            &app,
            &p.volunteer,
            &format!("{base}/onward-referrals"),
            json!({"service_id": service, "note": "Would like a gentle start"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(onward["state"], "pending");
    let onward_id = onward["id"].as_str().unwrap().to_owned();
    let referral_now = json_of(get(&app, &p.clinician, &base).await, 200).await;
    assert_eq!(referral_now["state"], "active");

    // The provider sees it with the name (consented) but not the contact details (not).
    let inbox = json_of(
        get(
            &app,
            &provider,
            "/v1/provider/onward-referrals?state=pending",
        )
        .await,
        200,
    )
    .await;
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1);
    let seen_by_provider = &inbox["items"][0];
    assert_eq!(seen_by_provider["patient"]["given_name"], "Ada");
    assert_eq!(seen_by_provider["patient"]["phone"], Value::Null);
    assert_eq!(seen_by_provider["patient"]["email"], Value::Null);
    assert!(seen_by_provider.get("nhs_number").is_none());
    assert!(seen_by_provider["patient"].get("nhs_number").is_none());

    let early = record_activity(
        &app,
        &provider,
        &onward_id,
        json!({"activity_type": "session_attended", "delivered_on": Utc::now().date_naive()}),
    )
    .await;
    assert_problem(early, 409, "onward_referral_not_accepted").await;
    let accepted = json_of(
        post(
            &app,
            &provider,
            &format!("/v1/provider/onward-referrals/{onward_id}/transitions"),
            json!({"to": "accepted"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(accepted["state"], "accepted");
    let activity = json_of(
        record_activity(
            &app,
            &provider,
            &onward_id,
            json!({"activity_type": "session_attended", "delivered_on": Utc::now().date_naive(), "quantity": 2}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(activity["quantity"], 2);
    let activities = json_of(
        get(
            &app,
            &provider,
            &format!("/v1/provider/onward-referrals/{onward_id}/activities"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(activities.as_array().unwrap().len(), 1);

    // The provider raises a safeguarding concern; the practice sees it at once and resolves it.
    let concern = json_of(
        post(
            &app,
            &provider,
            &format!("/v1/provider/onward-referrals/{onward_id}/safeguarding-concerns"),
            json!({"summary": "Signs of self-neglect", "details": "Did not have a coat in the rain; said heating is off."}),
        )
        .await,
        201,
    )
    .await;
    let open = json_of(
        get(
            &app,
            &p.clinician,
            &format!("/v1/practices/{}/safeguarding-concerns", p.id),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(open["items"][0]["id"], concern["id"]);
    assert_eq!(open["items"][0]["raised_by_role"], "provider");
    let concern_path = format!(
        "/v1/practices/{}/safeguarding-concerns/{}",
        p.id,
        concern["id"].as_str().unwrap()
    );
    let resolved = json_of(
        post(
            &app,
            &p.admin,
            &format!("{concern_path}/resolution"),
            json!({"note": "GP visited; referred to adult social care"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(resolved["status"], "resolved");
    let again = post(
        &app,
        &p.admin,
        &format!("{concern_path}/resolution"),
        json!({"note": "again"}),
    )
    .await;
    assert_problem(again, 409, "concern_already_resolved").await;
    let open = json_of(
        get(
            &app,
            &p.clinician,
            &format!("/v1/practices/{}/safeguarding-concerns", p.id),
        )
        .await,
        200,
    )
    .await;
    assert!(open["items"].as_array().unwrap().is_empty());

    // Case notes for the practice's clinical and volunteer roles.
    json_of(
        post(
            &app,
            &p.volunteer,
            &format!("{base}/case-notes"),
            json!({"body": "Enjoyed the first walk.\nWants to try the choir."}),
        )
        .await,
        201,
    )
    .await;
    let notes = json_of(
        get(&app, &p.clinician, &format!("{base}/case-notes")).await,
        200,
    )
    .await;
    assert_eq!(notes["items"][0]["author_role"], "volunteer");

    // Follow-up measure, GP appointment counts, and the close with an outcome.
    let follow_up = json_of(
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
    assert_eq!(follow_up["swemwbs"]["raw"], 27);
    assert_eq!(follow_up["swemwbs"]["metric"], 24.11);
    let today = Utc::now().date_naive();
    json_of(
        app.request(
            reqwest::Method::PUT,
            &format!("{base}/gp-appointment-counts/before"),
        )
        .bearer_auth(&p.clinician)
        .json(&json!({"period_start": today - Duration::days(180), "period_end": today, "appointments": 9}))
        .send()
        .await
        .unwrap(),
        200,
    )
    .await;
    let closed = json_of(
        transition(
            &app,
            &p.clinician,
            p.id,
            referral,
            json!({"to": "closed", "outcome": "needs_met", "outcome_note": "Walking weekly; joined the choir"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["outcome"], "needs_met");
    assert!(closed["closed_at"].is_string());
    let measures = json_of(
        get(&app, &p.clinician, &format!("{base}/wellbeing-measures")).await,
        200,
    )
    .await;
    assert_eq!(measures.as_array().unwrap().len(), 2);

    // The audit log holds the provider's reads, naming its organisation.
    let log = json_of(
        get(
            &app,
            &p.admin,
            &format!(
                "/v1/practices/{}/audit-events?patient_id={patient}&limit=200",
                p.id
            ),
        )
        .await,
        200,
    )
    .await;
    let provider_events: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor_roles"] == json!(["provider"]))
        .collect();
    assert!(provider_events
        .iter()
        .any(|e| e["action"] == "read" && e["resource_type"] == "onward_referral"));
    assert!(provider_events
        .iter()
        .all(|e| e["actor_organisation_id"].is_string()));
    for kind in [
        "assessment",
        "wellbeing_measure",
        "case_note",
        "safeguarding_concern",
        "activity",
        "gp_appointment_count",
    ] {
        assert!(
            log["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["resource_type"] == kind),
            "no audit event for {kind}"
        );
    }
}

#[tokio::test]
async fn each_role_is_denied_what_it_must_not_do() {
    let app = spawn_app().await;
    let p = practice(&app, "journey-denials").await;
    let (service, provider, _) = provider_service(&app, p.federation, true).await;
    let (_, other_provider, _) = provider_service(&app, p.federation, true).await;
    let (patient, referral) = seen_referral(&app, &p, 2).await;
    let base = format!("/v1/practices/{}/referrals/{referral}", p.id);
    json_of(
        post(
            &app,
            &p.clinician,
            &format!("{base}/case-notes"),
            json!({"body": "Private"}),
        )
        .await,
        201,
    )
    .await;
    let onward = json_of(
        post(
            &app,
            &p.clinician,
            &format!("{base}/onward-referrals"),
            json!({"service_id": service}),
        )
        .await,
        201,
    )
    .await;
    let onward_id = onward["id"].as_str().unwrap();

    // Case notes: never providers, commissioners, or administrators.
    let commissioner = app.as_role(Role::Commissioner, p.federation, None);
    let federation_admin = app.as_role(Role::FederationAdmin, p.federation, None);
    for token in [&provider, &commissioner] {
        for path in [
            format!("{base}/case-notes"),
            format!("/v1/practices/{}/patients/{patient}", p.id),
            format!("{base}/onward-referrals"),
            format!("/v1/practices/{}/safeguarding-concerns", p.id),
        ] {
            assert_problem(get(&app, token, &path).await, 404, "not_found").await;
        }
    }
    assert_problem(
        get(&app, &p.admin, &format!("{base}/case-notes")).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        get(&app, &federation_admin, &format!("{base}/case-notes")).await,
        403,
        "forbidden",
    )
    .await;

    // Another provider sees nothing of this onward referral.
    assert_problem(
        get(
            &app,
            &other_provider,
            &format!("/v1/provider/onward-referrals/{onward_id}"),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let other_inbox = json_of(
        get(&app, &other_provider, "/v1/provider/onward-referrals").await,
        200,
    )
    .await;
    assert!(other_inbox["items"].as_array().unwrap().is_empty());
    assert_problem(
        post(
            &app,
            &other_provider,
            &format!("/v1/provider/onward-referrals/{onward_id}/transitions"),
            json!({"to": "accepted"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    // Practice staff do not use the provider's routes.
    assert_problem(
        get(&app, &p.clinician, "/v1/provider/onward-referrals").await,
        403,
        "forbidden",
    )
    .await;

    // Practice roles keep to their jobs.
    assert_problem(
        post(
            &app,
            &p.volunteer,
            &format!(
                "/v1/practices/{}/safeguarding-concerns/{}/resolution",
                p.id,
                Uuid::now_v7()
            ),
            json!({"note": "x"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        get(
            &app,
            &p.volunteer,
            &format!("/v1/practices/{}/safeguarding-concerns", p.id),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        post(
            &app,
            &p.admin,
            &format!("{base}/assessment"),
            json!({"need_categories": ["housing"], "what_matters": "x"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        post(
            &app,
            &p.volunteer,
            &format!("{base}/onward-referrals"),
            json!({"service_id": service, "kind": "teleport"}),
        )
        .await,
        422,
        "invalid_body",
    )
    .await;
}

#[tokio::test]
async fn onward_referrals_go_only_to_services_that_take_them_and_follow_their_states() {
    let app = spawn_app().await;
    let p = practice(&app, "journey-onward").await;
    let (closed_service, _, _) = provider_service(&app, p.federation, false).await;
    let (service, provider, _) = provider_service(&app, p.federation, true).await;

    // Not before the clinic.
    let patient = register_patient(&app, &p.clinician, p.id, 3).await;
    let unseen = refer(&app, &p.clinician, p.id, patient).await;
    assert_problem(
        post(
            &app,
            &p.volunteer,
            &format!("/v1/practices/{}/referrals/{unseen}/onward-referrals", p.id),
            json!({"service_id": service}),
        )
        .await,
        409,
        "referral_not_seen",
    )
    .await;

    let (_, referral) = seen_referral(&app, &p, 4).await;
    let path = format!(
        "/v1/practices/{}/referrals/{referral}/onward-referrals",
        p.id
    );
    assert_problem(
        post(
            &app,
            &p.volunteer,
            &path,
            json!({"service_id": closed_service}),
        )
        .await,
        422,
        "service_not_accepting_referrals",
    )
    .await;
    let unknown = post(
        &app,
        &p.volunteer,
        &path,
        json!({"service_id": Uuid::now_v7()}),
    )
    .await;
    let problem = assert_problem(unknown, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "service_id");
    // Signposting needs no acceptance and is never sent to the provider.
    let signposted = json_of(
        post(
            &app,
            &p.volunteer,
            &path,
            json!({"service_id": closed_service, "kind": "signposting"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(signposted["state"], "completed");
    let onward = json_of(
        post(&app, &p.volunteer, &path, json!({"service_id": service})).await,
        201,
    )
    .await;
    let onward_id = onward["id"].as_str().unwrap();
    let inbox = json_of(
        get(&app, &provider, "/v1/provider/onward-referrals").await,
        200,
    )
    .await;
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1);

    let transitions = format!("/v1/provider/onward-referrals/{onward_id}/transitions");
    let no_reason = post(&app, &provider, &transitions, json!({"to": "declined"})).await;
    let problem = assert_problem(no_reason, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "reason");
    let declined = json_of(
        post(
            &app,
            &provider,
            &transitions,
            json!({"to": "declined", "reason": "Group is full until spring"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(declined["decline_reason"], "Group is full until spring");
    let late = post(&app, &provider, &transitions, json!({"to": "accepted"})).await;
    let problem = assert_problem(late, 409, "illegal_transition").await;
    assert!(problem["detail"].as_str().unwrap().contains("declined"));
    // The practice sees the answer.
    let listed = json_of(get(&app, &p.clinician, &path).await, 200).await;
    let states: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["completed", "declined"]);
}

#[tokio::test]
async fn wellbeing_measures_are_validated_item_by_item() {
    let app = spawn_app().await;
    let p = practice(&app, "journey-wellbeing").await;
    let (_, referral) = seen_referral(&app, &p, 5).await;
    let path = format!(
        "/v1/practices/{}/referrals/{referral}/wellbeing-measures",
        p.id
    );

    let problem = assert_problem(
        post(&app, &p.volunteer, &path, json!({"timepoint": "baseline", "swemwbs": [1, 2, 6, 3, 0, 4, 5], "ons4": {"life_satisfaction": 11, "worthwhile": 5, "happiness": 5, "anxiety": -1}})).await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "swemwbs[2]",
            "swemwbs[4]",
            "ons4.life_satisfaction",
            "ons4.anxiety"
        ]
    );
    let short = post(
        &app,
        &p.volunteer,
        &path,
        json!({"timepoint": "baseline", "swemwbs": [1, 2, 3]}),
    )
    .await;
    let problem = assert_problem(short, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "wrong_count");
    let nothing = post(&app, &p.volunteer, &path, json!({"timepoint": "baseline"})).await;
    assert_problem(nothing, 422, "validation_failed").await;

    let early = post(
        &app,
        &p.volunteer,
        &path,
        json!({"timepoint": "follow_up", "swemwbs": [3, 3, 3, 3, 3, 3, 3]}),
    )
    .await;
    assert_problem(early, 409, "baseline_missing").await;
    let baseline = json_of(
        post(
            &app,
            &p.volunteer,
            &path,
            json!({"timepoint": "baseline", "swemwbs": [1, 1, 1, 1, 1, 1, 1]}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(baseline["swemwbs"]["metric"], 7.0);
    assert_eq!(baseline["ons4"], Value::Null);
    let twice = post(&app, &p.volunteer, &path, json!({"timepoint": "baseline", "ons4": {"life_satisfaction": 1, "worthwhile": 1, "happiness": 1, "anxiety": 1}})).await;
    assert_problem(twice, 409, "already_recorded").await;
}

#[tokio::test]
async fn gp_appointment_counts_sit_either_side_of_the_referral_and_import_all_or_nothing() {
    let app = spawn_app().await;
    let p = practice(&app, "journey-gp").await;
    let patient = register_patient(&app, &p.clinician, p.id, 6).await;
    let referral = refer(&app, &p.clinician, p.id, patient).await;
    // The referral was made 120 days ago, so there are days after it to count.
    let mut owner = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("UPDATE referrals SET created_at = now() - interval '120 days' WHERE id = $1")
        .bind(referral)
        .execute(&mut owner)
        .await
        .unwrap();
    let today = Utc::now().date_naive();
    let referred = today - Duration::days(120);
    let put = |window: &str, body: Value| {
        app.request(
            reqwest::Method::PUT,
            &format!(
                "/v1/practices/{}/referrals/{referral}/gp-appointment-counts/{window}",
                p.id
            ),
        )
        .bearer_auth(&p.clinician)
        .json(&body)
        .send()
    };
    let wrong_side = put(
        "before",
        json!({"period_start": referred, "period_end": referred + Duration::days(10), "appointments": 3}),
    )
    .await
    .unwrap();
    let problem = assert_problem(wrong_side, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "wrong_side_of_referral");
    let unknown_window = put(
        "during",
        json!({"period_start": today, "period_end": today, "appointments": 1}),
    )
    .await
    .unwrap();
    assert_problem(unknown_window, 400, "invalid_path_parameter").await;
    json_of(put("before", json!({"period_start": referred - Duration::days(90), "period_end": referred, "appointments": 6})).await.unwrap(), 200).await;
    // Entering a window again replaces it.
    let replaced = json_of(put("before", json!({"period_start": referred - Duration::days(90), "period_end": referred, "appointments": 5})).await.unwrap(), 200).await;
    assert_eq!(replaced["appointments"], 5);

    let import = format!("/v1/practices/{}/gp-appointment-counts/import", p.id);
    let rejected = post(
        &app,
        &p.admin,
        &import,
        json!({"counts": [
            {"referral_id": referral, "window": "after", "period_start": referred + Duration::days(1), "period_end": referred + Duration::days(90), "appointments": 2},
            {"referral_id": Uuid::now_v7(), "window": "after", "period_start": today, "period_end": today, "appointments": 1},
            {"referral_id": referral, "window": "after", "period_start": today, "period_end": today, "appointments": 5000},
            {"referral_id": referral, "window": "after", "period_start": today, "period_end": today + Duration::days(7), "appointments": 1},
        ]}),
    )
    .await;
    let problem = assert_problem(rejected, 422, "import_rejected").await;
    let rows: Vec<(u64, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [(2, "referral_id"), (3, "appointments"), (4, "period_end")]
    );
    let listed = json_of(
        get(
            &app,
            &p.clinician,
            &format!(
                "/v1/practices/{}/referrals/{referral}/gp-appointment-counts",
                p.id
            ),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "nothing was imported");

    let imported = json_of(
        post(&app, &p.admin, &import, json!({"counts": [
            {"referral_id": referral, "window": "after", "period_start": referred + Duration::days(1), "period_end": referred + Duration::days(90), "appointments": 2},
        ]}))
        .await,
        200,
    )
    .await;
    assert_eq!(imported["imported"], 1);
    let listed = json_of(
        get(
            &app,
            &p.clinician,
            &format!(
                "/v1/practices/{}/referrals/{referral}/gp-appointment-counts",
                p.id
            ),
        )
        .await,
        200,
    )
    .await;
    let windows: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["window"].as_str().unwrap(), c["source"].as_str().unwrap()))
        .collect();
    assert_eq!(windows, [("before", "entered"), ("after", "imported")]);
}

/// The database is the second layer: with the service's own role, a transaction scoped to one
/// practice sees none of another practice's pathway rows, a provider's scope sees only the
/// patients referred to it, and no scope at all sees nothing.
#[tokio::test]
async fn row_level_security_confines_pathway_rows_whatever_the_query_asks() {
    use sqlx::{Connection, Executor};
    let app = spawn_app().await;
    let p = practice(&app, "journey-rls").await;
    let other_practice = app.create_federation("journey-rls-other").await.practices[0];
    let (service, _, organisation) = provider_service(&app, p.federation, true).await;
    let (_, referral) = seen_referral(&app, &p, 7).await;
    register_patient(&app, &p.clinician, p.id, 8).await;
    json_of(
        post(
            &app,
            &p.volunteer,
            &format!(
                "/v1/practices/{}/referrals/{referral}/onward-referrals",
                p.id
            ),
            json!({"service_id": service}),
        )
        .await,
        201,
    )
    .await;
    json_of(
        post(
            &app,
            &p.clinician,
            &format!("/v1/practices/{}/referrals/{referral}/case-notes", p.id),
            json!({"body": "note"}),
        )
        .await,
        201,
    )
    .await;

    let mut conn = app.connect_as_service_role().await;
    let tables = crate::schema_rules::PRACTICE_TABLES;
    // The owner bypasses row-level security: it counts what there is.
    let mut owner = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    let scopes = [
        ("no tenant", String::from("SELECT 1"), false),
        (
            "the other practice",
            format!("SET LOCAL waymark.federation_id = '{}'; SET LOCAL waymark.practice_id = '{other_practice}'", p.federation),
            false,
        ),
        (
            "the practice",
            format!("SET LOCAL waymark.federation_id = '{}'; SET LOCAL waymark.practice_id = '{}'", p.federation, p.id),
            true,
        ),
    ];
    for table in tables {
        let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut owner)
            .await
            .unwrap();
        for (name, scope, visible) in &scopes {
            let mut tx = conn.begin().await.unwrap();
            for statement in scope.split("; ") {
                tx.execute(statement).await.unwrap();
            }
            let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            tx.rollback().await.unwrap();
            let expected = if *visible { total } else { 0 };
            assert_eq!(
                n, expected,
                "{name} sees {expected} of the {total} rows of {table}"
            );
        }
    }
    for table in [
        "patients",
        "referrals",
        "clinic_slots",
        "onward_referrals",
        "case_notes",
        "audit_events",
    ] {
        let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut owner)
            .await
            .unwrap();
        assert!(total > 0, "the test made rows of {table}");
    }

    // A provider's scope: only its onward referral's patient, and no case notes at all.
    let mut tx = conn.begin().await.unwrap();
    tx.execute(format!("SET LOCAL waymark.federation_id = '{}'", p.federation).as_str())
        .await
        .unwrap();
    tx.execute(format!("SET LOCAL waymark.organisation_id = '{organisation}'").as_str())
        .await
        .unwrap();
    for (table, expected) in [
        ("patients", 1),
        ("onward_referrals", 1),
        ("referrals", 0),
        ("case_notes", 0),
        ("assessments", 0),
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(n, expected, "a provider sees {expected} row(s) of {table}");
    }
    tx.rollback().await.unwrap();
}
