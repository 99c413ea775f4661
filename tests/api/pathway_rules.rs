//! The pathway's rules at its edges: what a referral's end takes with it, withdrawing onward
//! referrals, when attendance and bookings are allowed, how activities are recorded, the
//! database's own refusals (providers' writes, append-only logs), and audit completeness.

use crate::helpers::{assert_problem, spawn_app, TestApp};
use crate::journey::{
    cleared_volunteer, get, json_of, post, practice, provider_service, record_activity,
    seen_referral, Practice,
};
use crate::pathway::{refer, register_patient, transition};
use chrono::{Duration, DurationRound, Utc};
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use uuid::Uuid;

/// A cleared volunteer and a session next week with two 30-minute slots run by them; answers
/// the slot ids.
async fn clinic(app: &TestApp, p: &Practice, staffed: bool) -> Vec<Uuid> {
    let base = format!("/v1/practices/{}", p.id);
    let volunteer = cleared_volunteer(app, p, "Val").await;
    let starts = (Utc::now() + Duration::days(7))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let volunteers = if staffed { vec![volunteer] } else { vec![] };
    let session = json_of(
        post(
            app,
            &p.admin,
            &format!("{base}/clinic-sessions"),
            json!({"starts_at": starts, "ends_at": starts + Duration::hours(1), "location": "Room 1", "volunteer_ids": volunteers}),
        )
        .await,
        201,
    )
    .await;
    session["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Uuid::parse_str(s["id"].as_str().unwrap()).unwrap())
        .collect()
}

async fn book(app: &TestApp, p: &Practice, slot: Uuid, referral: Uuid) -> reqwest::Response {
    post(
        app,
        &p.volunteer,
        &format!("/v1/practices/{}/clinic-slots/{slot}/booking", p.id),
        json!({"referral_id": referral}),
    )
    .await
}

async fn onward(app: &TestApp, p: &Practice, referral: Uuid, service: Uuid) -> Value {
    json_of(
        post(
            app,
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
    .await
}

async fn accept(app: &TestApp, provider: &str, onward: &str) {
    json_of(
        post(
            app,
            provider,
            &format!("/v1/provider/onward-referrals/{onward}/transitions"),
            json!({"to": "accepted"}),
        )
        .await,
        200,
    )
    .await;
}

async fn onward_state(app: &TestApp, p: &Practice, referral: Uuid, id: &Value) -> Value {
    let list = json_of(
        get(
            app,
            &p.volunteer,
            &format!(
                "/v1/practices/{}/referrals/{referral}/onward-referrals",
                p.id
            ),
        )
        .await,
        200,
    )
    .await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == *id)
        .expect("listed")["state"]
        .clone()
}

#[tokio::test]
async fn a_referral_withdrawn_while_booked_frees_its_slot_for_someone_else() {
    let app = spawn_app().await;
    let p = practice(&app, "rules-release").await;
    let slots = clinic(&app, &p, true).await;
    let first = refer(
        &app,
        &p.clinician,
        p.id,
        register_patient(&app, &p.clinician, p.id, 1).await,
    )
    .await;
    let second = refer(
        &app,
        &p.clinician,
        p.id,
        register_patient(&app, &p.clinician, p.id, 2).await,
    )
    .await;
    json_of(book(&app, &p, slots[0], first).await, 200).await;
    assert_problem(book(&app, &p, slots[0], second).await, 409, "slot_taken").await;

    let withdrawn = transition(
        &app,
        &p.clinician,
        p.id,
        first,
        json!({"to": "withdrawn", "reason": "moved away"}),
    )
    .await;
    assert_eq!(withdrawn.status(), 200);
    let booked = json_of(book(&app, &p, slots[0], second).await, 200).await;
    assert_eq!(booked["referral_id"], json!(second));
}

#[tokio::test]
async fn attendance_waits_for_the_slot_and_booking_for_a_volunteer() {
    let app = spawn_app().await;
    let p = practice(&app, "rules-clinic-times").await;
    let referral = refer(
        &app,
        &p.clinician,
        p.id,
        register_patient(&app, &p.clinician, p.id, 1).await,
    )
    .await;
    let unstaffed = clinic(&app, &p, false).await;
    assert_problem(
        book(&app, &p, unstaffed[0], referral).await,
        409,
        "session_unstaffed",
    )
    .await;

    let slots = clinic(&app, &p, true).await;
    json_of(book(&app, &p, slots[0], referral).await, 200).await;
    let attendance = format!(
        "/v1/practices/{}/clinic-slots/{}/attendance",
        p.id, slots[0]
    );
    let missed = json!({"attendance": "did_not_attend"});
    let early = assert_problem(
        post(&app, &p.volunteer, &attendance, missed.clone()).await,
        409,
        "slot_not_started",
    )
    .await;
    assert!(early["detail"].as_str().unwrap().contains("begins at"));
    app.let_the_slot_begin(slots[0]).await;
    let missed = json_of(post(&app, &p.volunteer, &attendance, missed).await, 200).await;
    assert_eq!(missed["referral_state"], "did_not_attend");
}

#[tokio::test]
async fn of_two_slots_booked_for_one_referral_at_once_exactly_one_holds_it() {
    let app = spawn_app().await;
    let p = practice(&app, "rules-one-referral").await;
    let slots = clinic(&app, &p, true).await;
    let referral = refer(
        &app,
        &p.clinician,
        p.id,
        register_patient(&app, &p.clinician, p.id, 1).await,
    )
    .await;
    let (a, b) = tokio::join!(
        book(&app, &p, slots[0], referral),
        book(&app, &p, slots[1], referral)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 409],
        "one booking wins; the other is refused"
    );
    let loser = if a.status() == 409 { a } else { b };
    let problem: Value = loser.json().await.unwrap();
    assert_eq!(problem["code"], "illegal_transition");
    assert_eq!(problem["current_state"], "booked");
}

#[tokio::test]
async fn practices_withdraw_onward_referrals_and_a_referral_that_ends_takes_its_own_with_it() {
    let app = spawn_app().await;
    let p = practice(&app, "rules-onward").await;
    let (service, provider, _) = provider_service(&app, p.federation, true).await;

    // Withdrawn by the practice: the provider then records nothing under it.
    let (_, referral) = seen_referral(&app, &p, 1).await;
    let first = onward(&app, &p, referral, service).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    accept(&app, &provider, &first_id).await;
    let withdrawal = format!(
        "/v1/practices/{}/referrals/{referral}/onward-referrals/{first_id}/withdrawal",
        p.id
    );
    assert_problem(
        post(&app, &p.admin, &withdrawal, json!({})).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        post(&app, &provider, &withdrawal, json!({})).await,
        404,
        "not_found",
    )
    .await;
    let withdrawn = json_of(post(&app, &p.volunteer, &withdrawal, json!({})).await, 200).await;
    assert_eq!(withdrawn["state"], "withdrawn");
    let again = assert_problem(
        post(&app, &p.volunteer, &withdrawal, json!({})).await,
        409,
        "illegal_transition",
    )
    .await;
    assert_eq!(again["current_state"], "withdrawn");
    assert_problem(
        record_activity(
            &app,
            &provider,
            &first_id,
            json!({"activity_type": "session_attended", "delivered_on": Utc::now().date_naive()}),
        )
        .await,
        409,
        "onward_referral_not_accepted",
    )
    .await;

    // Closing ends only what the provider never answered; an accepted one goes on.
    let accepted = onward(&app, &p, referral, service).await;
    accept(&app, &provider, accepted["id"].as_str().unwrap()).await;
    let unanswered = onward(&app, &p, referral, service).await;
    let closed = transition(
        &app,
        &p.clinician,
        p.id,
        referral,
        json!({"to": "closed", "outcome": "needs_met"}),
    )
    .await;
    assert_eq!(closed.status(), 200);
    assert_eq!(
        onward_state(&app, &p, referral, &unanswered["id"]).await,
        "withdrawn"
    );
    assert_eq!(
        onward_state(&app, &p, referral, &accepted["id"]).await,
        "accepted"
    );

    // Withdrawing a referral ends its accepted onward referrals too.
    let (_, other) = seen_referral(&app, &p, 2).await;
    let taken = onward(&app, &p, other, service).await;
    accept(&app, &provider, taken["id"].as_str().unwrap()).await;
    let withdrawn = transition(
        &app,
        &p.clinician,
        p.id,
        other,
        json!({"to": "withdrawn", "reason": "patient asked to stop"}),
    )
    .await;
    assert_eq!(withdrawn.status(), 200);
    assert_eq!(
        onward_state(&app, &p, other, &taken["id"]).await,
        "withdrawn"
    );
}

#[tokio::test]
async fn activities_need_an_idempotency_key_and_cannot_predate_their_onward_referral() {
    let app = spawn_app().await;
    let p = practice(&app, "rules-activity").await;
    let (service, provider, _) = provider_service(&app, p.federation, true).await;
    let (_, referral) = seen_referral(&app, &p, 1).await;
    let id = onward(&app, &p, referral, service).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    accept(&app, &provider, &id).await;
    let today = Utc::now().date_naive();
    let unkeyed = post(
        &app,
        &provider,
        &format!("/v1/provider/onward-referrals/{id}/activities"),
        json!({"activity_type": "session_attended", "delivered_on": today}),
    )
    .await;
    assert_problem(unkeyed, 400, "idempotency_key_required").await;
    let early = assert_problem(
        record_activity(
            &app,
            &provider,
            &id,
            json!({"activity_type": "session_attended", "delivered_on": today - Duration::days(3)}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(early["errors"][0]["field"], "delivered_on");
    assert_eq!(early["errors"][0]["code"], "before_onward_referral");

    // A retry with the same key returns the first activity and charges nothing more.
    let key = Uuid::now_v7().to_string();
    let send = || {
        app.post(&format!("/v1/provider/onward-referrals/{id}/activities"))
            .bearer_auth(&provider)
            .header("Idempotency-Key", &key)
            .json(&json!({"activity_type": "session_attended", "delivered_on": today}))
            .send()
    };
    let first = json_of(send().await.unwrap(), 201).await;
    let retry = json_of(send().await.unwrap(), 201).await;
    assert_eq!(first["id"], retry["id"]);
    let listed = json_of(
        get(
            &app,
            &provider,
            &format!("/v1/provider/onward-referrals/{id}/activities"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn dates_beyond_what_can_be_stored_are_refused_as_the_clients_doing() {
    let app = spawn_app().await;
    let p = practice(&app, "rules-dates").await;
    let response = post(
        &app,
        &p.admin,
        &format!("/v1/practices/{}/volunteers", p.id),
        json!({"display_name": "Ancient", "background_check_on": "-5000-01-01"}),
    )
    .await;
    let status = response.status().as_u16();
    assert!((400..500).contains(&status), "answered {status}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn a_list_of_patients_audits_every_patient_it_shows() {
    let app = spawn_app().await;
    let p = practice(&app, "rules-audit-list").await;
    for seed in 1..=3 {
        register_patient(&app, &p.clinician, p.id, seed).await;
    }
    let page = json_of(
        get(
            &app,
            &p.volunteer,
            &format!("/v1/practices/{}/patients?limit=2", p.id),
        )
        .await,
        200,
    )
    .await;
    let shown: Vec<&Value> = page["items"].as_array().unwrap().iter().collect();
    assert_eq!(shown.len(), 2);
    let log = json_of(
        get(
            &app,
            &p.admin,
            &format!("/v1/practices/{}/audit-events?limit=200", p.id),
        )
        .await,
        200,
    )
    .await;
    let reads: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "read" && e["actor_roles"] == json!(["volunteer"]))
        .collect();
    assert_eq!(
        reads.len(),
        2,
        "one read per patient shown, none for the other"
    );
    for patient in shown {
        assert!(reads.iter().any(|e| e["patient_id"] == patient["id"]));
    }
}

/// What the service's own role could try with a provider's tenant set, were a query ever to go
/// wrong: none of it gets through the database.
#[tokio::test]
async fn a_providers_transaction_cannot_reach_other_patients_or_rewrite_what_it_was_sent() {
    let app = spawn_app().await;
    let p = practice(&app, "rules-provider-rls").await;
    let (service, provider, organisation) = provider_service(&app, p.federation, true).await;
    let (_, referral) = seen_referral(&app, &p, 1).await;
    let other_patient = register_patient(&app, &p.clinician, p.id, 2).await;
    let id = onward(&app, &p, referral, service).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    accept(&app, &provider, &id).await;
    let concern = json_of(
        post(
            &app,
            &provider,
            &format!("/v1/provider/onward-referrals/{id}/safeguarding-concerns"),
            json!({"summary": "Worried", "details": "Seemed unwell"}),
        )
        .await,
        201,
    )
    .await;

    let mut conn = app.connect_as_service_role().await;
    let scope = format!(
        "SET LOCAL waymark.federation_id = '{}'; SET LOCAL waymark.organisation_id = '{organisation}'",
        p.federation
    );
    let attempts = [
        format!("UPDATE onward_referrals SET patient_id = '{other_patient}' WHERE id = '{id}'"),
        format!(
            "INSERT INTO onward_referrals (federation_id, practice_id, id, referral_id, patient_id, service_id, organisation_id, kind, state, created_by) \
             VALUES ('{}', '{}', '{}', '{referral}', '{other_patient}', '{service}', '{organisation}', 'referral', 'accepted', '{}')",
            p.federation, p.id, Uuid::now_v7(), Uuid::now_v7()
        ),
        format!(
            "UPDATE safeguarding_concerns SET status = 'resolved', resolution = 'done' WHERE id = '{}'",
            concern["id"].as_str().unwrap()
        ),
        format!("UPDATE activities SET quantity = 100 WHERE onward_referral_id = '{id}'"),
        format!("UPDATE charges SET amount_pence = 1, unit_pence = 1 WHERE organisation_id = '{organisation}'"),
    ];
    for attempt in &attempts {
        let mut tx = conn.begin().await.unwrap();
        for statement in scope.split("; ") {
            tx.execute(statement).await.unwrap();
        }
        let result = tx.execute(attempt.as_str()).await;
        let changed = result.as_ref().map(|r| r.rows_affected()).unwrap_or(0);
        assert_eq!(changed, 0, "{attempt} must change nothing: {result:?}");
        tx.rollback().await.unwrap();
    }
    // And the patient it was sent stays the only one it sees.
    let mut tx = conn.begin().await.unwrap();
    for statement in scope.split("; ") {
        tx.execute(statement).await.unwrap();
    }
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM patients")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 1);
    tx.rollback().await.unwrap();
}

/// The audit log and the ledger's transfers and entries refuse change even to the schema's
/// owner, who is not held by row-level security: the triggers, not only the grants, keep them.
#[tokio::test]
async fn append_only_tables_refuse_change_even_to_their_owner() {
    let app = spawn_app().await;
    let p = practice(&app, "rules-append-only").await;
    register_patient(&app, &p.clinician, p.id, 1).await;
    let admin = app.as_role(waymark_domain::Role::FederationAdmin, p.federation, None);
    json_of(
        app.post("/v1/ledger/top-ups")
            .bearer_auth(&admin)
            .header("Idempotency-Key", "grant-1")
            .json(&json!({"amount_pence": 5000, "reference": "grant"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let mut owner = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    for table in ["audit_events", "ledger_transfers", "ledger_entries"] {
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut owner)
            .await
            .unwrap();
        assert!(rows > 0, "{table} has rows to protect");
        for statement in [
            format!("UPDATE {table} SET created_at = now()").replace(
                "audit_events SET created_at",
                "audit_events SET occurred_at",
            ),
            format!("DELETE FROM {table}"),
            format!("TRUNCATE {table} CASCADE"),
        ] {
            let refused = owner.execute(statement.as_str()).await;
            assert!(refused.is_err(), "{statement} must be refused");
        }
        let after: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut owner)
            .await
            .unwrap();
        assert_eq!(after, rows);
    }
}
