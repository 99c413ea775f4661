//! Volunteers and clinics through HTTP: volunteer records and training, who is cleared to run a
//! clinic, sessions split into slots, booking referrals (also concurrently), attendance, and who
//! may do each of these.

use crate::helpers::{assert_problem, id_of, spawn_app, TestApp, PASSWORD};
use crate::pathway::{refer, register_patient, transition};
use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;
use waymark_domain::Role;

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// `days` from today (negative: ago) at `hour:minute` UTC.
fn at(days: i64, hour: u32, minute: u32) -> DateTime<Utc> {
    let day = if days >= 0 {
        today() + Days::new(days as u64)
    } else {
        today() - Days::new(days.unsigned_abs())
    };
    day.and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap())
        .and_utc()
}

fn day(days: i64) -> String {
    at(days, 0, 0).date_naive().to_string()
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(actual, status, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// A volunteer checked `checked_days_ago`, with training from `trained_days_ago` that expires
/// in `expires_in_days` (never when `None`).
async fn volunteer(
    app: &TestApp,
    token: &str,
    practice: Uuid,
    name: &str,
    checked_days_ago: i64,
    trained_days_ago: i64,
    expires_in_days: Option<i64>,
) -> Uuid {
    let created = app
        .post(&format!("/v1/practices/{practice}/volunteers"))
        .bearer_auth(token)
        .json(&json!({"display_name": name, "background_check_on": day(-checked_days_ago)}))
        .send()
        .await
        .unwrap();
    let id = id_of(created).await;
    let trained = app
        .post(&format!(
            "/v1/practices/{practice}/volunteers/{id}/training"
        ))
        .bearer_auth(token)
        .json(&json!({
            "course": "Safeguarding adults level 2",
            "completed_on": day(-trained_days_ago),
            "expires_on": expires_in_days.map(day),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(trained.status(), 201, "{}", trained.text().await.unwrap());
    id
}

async fn create_session(
    app: &TestApp,
    token: &str,
    practice: Uuid,
    body: Value,
) -> reqwest::Response {
    app.post(&format!("/v1/practices/{practice}/clinic-sessions"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A session from `starts_at` to `ends_at` run by `volunteer`; answers its body.
async fn session(
    app: &TestApp,
    token: &str,
    practice: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    volunteer: Uuid,
) -> Value {
    let response = create_session(
        app,
        token,
        practice,
        json!({"starts_at": starts_at, "ends_at": ends_at, "location": "Rosebery Medical Centre, room 2", "volunteer_ids": [volunteer]}),
    )
    .await;
    json_of(response, 201).await
}

fn slot_ids(session: &Value) -> Vec<Uuid> {
    session["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

async fn book(
    app: &TestApp,
    token: &str,
    practice: Uuid,
    slot: Uuid,
    referral: Uuid,
) -> reqwest::Response {
    app.post(&format!(
        "/v1/practices/{practice}/clinic-slots/{slot}/booking"
    ))
    .bearer_auth(token)
    .json(&json!({"referral_id": referral}))
    .send()
    .await
    .unwrap()
}

async fn attend(
    app: &TestApp,
    token: &str,
    practice: Uuid,
    slot: Uuid,
    attendance: &str,
) -> reqwest::Response {
    app.post(&format!(
        "/v1/practices/{practice}/clinic-slots/{slot}/attendance"
    ))
    .bearer_auth(token)
    .json(&json!({"attendance": attendance}))
    .send()
    .await
    .unwrap()
}

async fn referral_state(app: &TestApp, token: &str, practice: Uuid, referral: Uuid) -> Value {
    let referral = app
        .get(&format!("/v1/practices/{practice}/referrals/{referral}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    json_of(referral, 200).await["state"].clone()
}

#[tokio::test]
async fn volunteers_are_kept_with_their_training_and_clearance() {
    let app = spawn_app().await;
    let fed = app.create_federation("clinics-volunteers").await;
    let a = fed.practices[0];
    let admin = app.as_role(Role::PracticeAdmin, fed.id, Some(a));
    let path = format!("/v1/practices/{a}/volunteers");

    let bad = app
        .post(&path)
        .bearer_auth(&admin)
        .json(&json!({"display_name": " ", "email": "ann", "phone": "call me"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(bad, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["display_name", "email", "phone"]);

    let created = app
        .post(&path)
        .bearer_auth(&admin)
        .json(&json!({"display_name": " Ann Jones ", "email": "Ann@Example.org", "phone": "01509 123456", "background_check_on": day(-365)}))
        .send()
        .await
        .unwrap();
    assert!(created.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(&path));
    assert!(created.headers().contains_key("etag"));
    let created = json_of(created, 201).await;
    assert_eq!(created["display_name"], "Ann Jones");
    assert_eq!(created["email"], "ann@example.org");
    assert_eq!(created["active"], true);
    assert_eq!(created["clearance"]["cleared"], false);
    assert_eq!(created["clearance"]["code"], "no_training");
    assert_eq!(created["clinic_hours"], 0.0);
    let id = created["id"].as_str().unwrap().to_owned();

    let training_path = format!("{path}/{id}/training");
    let bad = app
        .post(&training_path)
        .bearer_auth(&admin)
        .json(&json!({"course": "", "completed_on": day(-10), "expires_on": day(-10)}))
        .send()
        .await
        .unwrap();
    assert_problem(bad, 422, "validation_failed").await;
    let training = app
        .post(&training_path)
        .bearer_auth(&admin)
        .json(&json!({"course": "Safeguarding adults level 2", "completed_on": day(-30), "expires_on": day(335)}))
        .send()
        .await
        .unwrap();
    let training = json_of(training, 201).await;
    assert_eq!(training["course"], "Safeguarding adults level 2");
    assert_eq!(training["volunteer_id"], json!(id));

    // The practice's clinicians and volunteers read the record; it shows today's clearance.
    let clinician = app.as_role(Role::Clinician, fed.id, Some(a));
    let read = app
        .get(&format!("{path}/{id}"))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap();
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    let read = json_of(read, 200).await;
    assert_eq!(read["training"].as_array().unwrap().len(), 1);
    assert_eq!(read["clearance"], json!({"on": day(0), "cleared": true}));
    let listed = app
        .get(&path)
        .bearer_auth(app.as_role(Role::Volunteer, fed.id, Some(a)))
        .send()
        .await
        .unwrap();
    let listed = json_of(listed, 200).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], json!(id));

    // Updates need If-Match; an inactive volunteer is not cleared.
    let unconditional = app
        .patch(&format!("{path}/{id}"))
        .bearer_auth(&admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_problem(unconditional, 428, "if_match_required").await;
    let updated = app
        .patch(&format!("{path}/{id}"))
        .bearer_auth(&admin)
        .header("If-Match", &etag)
        .json(&json!({"active": false, "phone": null}))
        .send()
        .await
        .unwrap();
    let updated = json_of(updated, 200).await;
    assert_eq!(updated["active"], false);
    assert_eq!(updated["phone"], Value::Null);
    assert_eq!(updated["email"], "ann@example.org");
    assert_eq!(updated["clearance"]["code"], "inactive");
    let stale = app
        .patch(&format!("{path}/{id}"))
        .bearer_auth(&admin)
        .header("If-Match", &etag)
        .json(&json!({"active": true}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "etag_mismatch").await;

    // Only administrators keep the records.
    let denied = app
        .post(&path)
        .bearer_auth(&clinician)
        .json(&json!({"display_name": "Bob"}))
        .send()
        .await
        .unwrap();
    assert_problem(denied, 403, "forbidden").await;
    let federation_admin = app.as_role(Role::FederationAdmin, fed.id, None);
    let by_federation = app
        .post(&path)
        .bearer_auth(&federation_admin)
        .json(&json!({"display_name": "Bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_federation.status(), 201);
}

#[tokio::test]
async fn a_volunteer_may_be_linked_to_a_volunteer_account_of_the_practice_once() {
    let app = spawn_app().await;
    let fed = app.create_federation("clinics-accounts").await;
    let [a, b] = fed.practices;
    let admin = app.as_role(Role::PracticeAdmin, fed.id, Some(a));
    let account = |roles: Value, practice: Uuid| {
        json!({"email": format!("{}@example.org", Uuid::now_v7()), "display_name": "Staff",
               "password": PASSWORD, "roles": roles, "practice_id": practice})
    };
    let volunteer_user = id_of(
        app.create_user(&admin, account(json!(["volunteer"]), a))
            .await,
    )
    .await;
    let clinician_user = id_of(
        app.create_user(&admin, account(json!(["clinician"]), a))
            .await,
    )
    .await;
    let admin_b = app.as_role(Role::PracticeAdmin, fed.id, Some(b));
    let elsewhere = id_of(
        app.create_user(&admin_b, account(json!(["volunteer"]), b))
            .await,
    )
    .await;
    let path = format!("/v1/practices/{a}/volunteers");
    let with_user = |user: Uuid| json!({"display_name": "Cat", "user_id": user});

    for (user, code) in [
        (Uuid::now_v7(), "not_found"),
        (elsewhere, "not_found"),
        (clinician_user, "not_a_volunteer"),
    ] {
        let response = app
            .post(&path)
            .bearer_auth(&admin)
            .json(&with_user(user))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "user_id");
        assert_eq!(problem["errors"][0]["code"], code);
    }
    let linked = app
        .post(&path)
        .bearer_auth(&admin)
        .json(&with_user(volunteer_user))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(linked, 201).await["user_id"], json!(volunteer_user));
    let again = app
        .post(&path)
        .bearer_auth(&admin)
        .json(&with_user(volunteer_user))
        .send()
        .await
        .unwrap();
    assert_problem(again, 409, "already_exists").await;
}

#[tokio::test]
async fn sessions_are_split_into_slots_and_validated() {
    let app = spawn_app().await;
    let fed = app.create_federation("clinics-sessions").await;
    let a = fed.practices[0];
    let admin = app.as_role(Role::PracticeAdmin, fed.id, Some(a));
    let ann = volunteer(&app, &admin, a, "Ann", 365, 30, None).await;

    let response = create_session(
        &app,
        &admin,
        a,
        json!({"starts_at": at(7, 9, 0), "ends_at": at(7, 11, 0), "location": "Hall", "volunteer_ids": [ann]}),
    )
    .await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created = json_of(response, 201).await;
    assert_eq!(created["slot_minutes"], 30);
    assert_eq!(created["free_slots"], 4);
    let slots = created["slots"].as_array().unwrap();
    let times: Vec<(DateTime<Utc>, DateTime<Utc>)> = slots
        .iter()
        .map(|s| {
            (
                s["starts_at"].as_str().unwrap().parse().unwrap(),
                s["ends_at"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        times,
        [
            (at(7, 9, 0), at(7, 9, 30)),
            (at(7, 9, 30), at(7, 10, 0)),
            (at(7, 10, 0), at(7, 10, 30)),
            (at(7, 10, 30), at(7, 11, 0)),
        ]
    );
    assert!(slots
        .iter()
        .all(|s| s["referral_id"].is_null() && s["attendance"].is_null()));
    assert_eq!(
        created["volunteers"],
        json!([{"id": ann, "display_name": "Ann"}])
    );
    let read = app.get(&location).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(json_of(read, 200).await, created);

    // Other slot lengths leave out the time at the end that is shorter than a slot.
    let longer = create_session(
        &app,
        &admin,
        a,
        json!({"starts_at": at(8, 9, 0), "ends_at": at(8, 11, 0), "location": "Hall", "slot_minutes": 45, "volunteer_ids": []}),
    )
    .await;
    let longer = json_of(longer, 201).await;
    assert_eq!(longer["slots"].as_array().unwrap().len(), 2);
    assert_eq!(
        longer["slots"][1]["ends_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        at(8, 10, 30)
    );

    let backwards = create_session(
        &app,
        &admin,
        a,
        json!({"starts_at": at(7, 11, 0), "ends_at": at(7, 9, 0), "location": " ", "slot_minutes": 5, "volunteer_ids": [ann, ann]}),
    )
    .await;
    let problem = assert_problem(backwards, 422, "validation_failed").await;
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("location", "required"),
            ("slot_minutes", "out_of_range"),
            ("ends_at", "out_of_range"),
            ("volunteer_ids[1]", "duplicate"),
        ]
    );
    let unknown = create_session(
        &app,
        &admin,
        a,
        json!({"starts_at": at(7, 9, 0), "ends_at": at(7, 10, 0), "location": "Hall", "volunteer_ids": [ann, Uuid::now_v7()]}),
    )
    .await;
    let problem = assert_problem(unknown, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "volunteer_ids[1]");
    assert_eq!(problem["errors"][0]["code"], "not_found");

    // The list runs by start time, filtered to [from, to), in pages.
    let list = |query: String| {
        let app = &app;
        let admin = &admin;
        async move {
            let response = app
                .get(&format!("/v1/practices/{a}/clinic-sessions{query}"))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap();
            json_of(response, 200).await
        }
    };
    let all = list(String::new()).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    assert_eq!(all["items"][0]["id"], created["id"]);
    assert_eq!(all["items"][0]["slot_count"], 4);
    assert_eq!(all["items"][0]["free_slots"], 4);
    let first_page = list("?limit=1".to_owned()).await;
    let cursor = first_page["next_cursor"].as_str().unwrap().to_owned();
    let second_page = list(format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(second_page["items"][0]["id"], longer["id"]);
    assert!(second_page["next_cursor"].is_null());
    let from = at(8, 0, 0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let filtered = list(format!("?from={from}")).await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["items"][0]["id"], longer["id"]);
    let before = list(format!("?to={from}")).await;
    assert_eq!(before["items"][0]["id"], created["id"]);
    let bad = app
        .get(&format!("/v1/practices/{a}/clinic-sessions?from=tomorrow"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(bad, 400, "invalid_query_parameter").await;
}

#[tokio::test]
async fn volunteers_whose_check_or_training_has_lapsed_on_the_day_cannot_run_a_clinic() {
    let app = spawn_app().await;
    let fed = app.create_federation("clinics-clearance").await;
    let a = fed.practices[0];
    let admin = app.as_role(Role::PracticeAdmin, fed.id, Some(a));
    let cleared = volunteer(&app, &admin, a, "Cleared", 365, 30, None).await;
    // Checked a little over three years ago: lapsed.
    let old_check = volunteer(&app, &admin, a, "Old check", 3 * 365 + 5, 30, None).await;
    // Training that expired last month.
    let expired = volunteer(&app, &admin, a, "Expired", 365, 400, Some(-30)).await;
    // Current today, but expired by the day of the clinic.
    let expiring = volunteer(&app, &admin, a, "Expiring", 365, 300, Some(3)).await;

    for (who, name, reason) in [
        (old_check, "Old check", "background check lapsed"),
        (expired, "Expired", "training expired"),
        (expiring, "Expiring", "training expired"),
    ] {
        let response = create_session(
            &app,
            &admin,
            a,
            json!({"starts_at": at(7, 9, 0), "ends_at": at(7, 11, 0), "location": "Hall", "volunteer_ids": [cleared, who]}),
        )
        .await;
        let problem = assert_problem(response, 409, "volunteer_not_cleared").await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains(&who.to_string()) && detail.contains(name) && detail.contains(reason),
            "{detail}"
        );
    }
    let read = app
        .get(&format!("/v1/practices/{a}/volunteers/{expiring}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(read, 200).await["clearance"]["cleared"], true);
    let read = app
        .get(&format!("/v1/practices/{a}/volunteers/{old_check}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let clearance = json_of(read, 200).await["clearance"].clone();
    assert_eq!(clearance["cleared"], false);
    assert_eq!(clearance["code"], "background_check_lapsed");
    assert!(clearance["reason"]
        .as_str()
        .unwrap()
        .contains("background check lapsed"));
    let nothing_made = app
        .get(&format!("/v1/practices/{a}/clinic-sessions"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(nothing_made, 200).await["items"],
        json!([]),
        "a refused session leaves nothing behind"
    );

    // Assigning to an existing session applies the same rule.
    let s = session(&app, &admin, a, at(7, 9, 0), at(7, 11, 0), cleared).await;
    let assign_path = format!(
        "/v1/practices/{a}/clinic-sessions/{}/volunteers",
        s["id"].as_str().unwrap()
    );
    let assign = |volunteer: Uuid| {
        app.post(&assign_path)
            .bearer_auth(&admin)
            .json(&json!({"volunteer_id": volunteer}))
            .send()
    };
    let refused = assign(expired).await.unwrap();
    let problem = assert_problem(refused, 409, "volunteer_not_cleared").await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("training expired"));
    assert_problem(assign(cleared).await.unwrap(), 409, "already_exists").await;
    let unknown = assign(Uuid::now_v7()).await.unwrap();
    let problem = assert_problem(unknown, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "volunteer_id");
    let second = volunteer(&app, &admin, a, "Second", 100, 50, None).await;
    let assigned = json_of(assign(second).await.unwrap(), 201).await;
    assert_eq!(assigned["volunteers"].as_array().unwrap().len(), 2);

    let remove = || {
        app.request(reqwest::Method::DELETE, &format!("{assign_path}/{second}"))
            .bearer_auth(&admin)
            .send()
    };
    assert_eq!(remove().await.unwrap().status(), 204);
    assert_problem(remove().await.unwrap(), 404, "not_found").await;
}

#[tokio::test]
async fn clinic_hours_count_sessions_that_have_ended() {
    let app = spawn_app().await;
    let fed = app.create_federation("clinics-hours").await;
    let a = fed.practices[0];
    let admin = app.as_role(Role::PracticeAdmin, fed.id, Some(a));
    let ann = volunteer(&app, &admin, a, "Ann", 700, 600, None).await;
    let other = volunteer(&app, &admin, a, "Other", 700, 600, None).await;
    session(&app, &admin, a, at(-10, 9, 0), at(-10, 11, 30), ann).await;
    session(&app, &admin, a, at(-3, 14, 0), at(-3, 15, 0), ann).await;
    session(&app, &admin, a, at(-2, 14, 0), at(-2, 17, 0), other).await;
    session(&app, &admin, a, at(5, 9, 0), at(5, 11, 0), ann).await;
    let read = app
        .get(&format!("/v1/practices/{a}/volunteers/{ann}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(read, 200).await["clinic_hours"], 3.5);
}

#[tokio::test]
async fn booking_moves_a_received_referral_to_booked_and_attendance_moves_it_on() {
    let app = spawn_app().await;
    let fed = app.create_federation("clinics-booking").await;
    let a = fed.practices[0];
    let admin = app.as_role(Role::PracticeAdmin, fed.id, Some(a));
    let clinician = app.as_role(Role::Clinician, fed.id, Some(a));
    let volunteer_token = app.as_role(Role::Volunteer, fed.id, Some(a));
    let ann = volunteer(&app, &admin, a, "Ann", 365, 30, None).await;
    let s = session(&app, &admin, a, at(7, 9, 0), at(7, 11, 0), ann).await;
    let slots = slot_ids(&s);
    let patient = register_patient(&app, &clinician, a, 500).await;
    let first = refer(&app, &clinician, a, patient).await;
    let second = refer(&app, &clinician, a, patient).await;

    let booked = json_of(book(&app, &clinician, a, slots[0], first).await, 200).await;
    assert_eq!(booked["id"], json!(slots[0]));
    assert_eq!(booked["referral_id"], json!(first));
    assert!(booked["booked_at"].is_string());
    assert_eq!(referral_state(&app, &clinician, a, first).await, "booked");

    assert_problem(
        book(&app, &volunteer_token, a, slots[0], second).await,
        409,
        "slot_taken",
    )
    .await;
    let twice = assert_problem(
        book(&app, &clinician, a, slots[1], first).await,
        409,
        "illegal_transition",
    )
    .await;
    assert!(twice["detail"]
        .as_str()
        .unwrap()
        .contains("the referral is booked"));
    let declined = refer(&app, &clinician, a, patient).await;
    let response = transition(
        &app,
        &clinician,
        a,
        declined,
        json!({"to": "declined", "reason": "Prefers not to"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let problem = assert_problem(
        book(&app, &clinician, a, slots[1], declined).await,
        409,
        "illegal_transition",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("declined"));
    assert_problem(
        book(&app, &clinician, a, Uuid::now_v7(), second).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        book(&app, &clinician, a, slots[1], Uuid::now_v7()).await,
        404,
        "not_found",
    )
    .await;
    let past = session(&app, &admin, a, at(-1, 9, 0), at(-1, 10, 0), ann).await;
    assert_problem(
        book(&app, &clinician, a, slot_ids(&past)[0], second).await,
        409,
        "slot_in_past",
    )
    .await;
    assert_eq!(
        referral_state(&app, &clinician, a, second).await,
        "received"
    );

    // The booking is in the audit log as an update of the referral.
    let log = app
        .get(&format!(
            "/v1/practices/{a}/audit-events?patient_id={patient}"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let log = json_of(log, 200).await;
    assert!(log["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "update"
            && e["resource_id"] == json!(first)
            && e["actor_roles"] == json!(["clinician"])));

    // Attendance: only on a booked slot, once it has begun, once, and by volunteers or
    // administrators.
    assert_problem(
        attend(&app, &volunteer_token, a, slots[1], "attended").await,
        409,
        "slot_not_booked",
    )
    .await;
    assert_problem(
        attend(&app, &volunteer_token, a, slots[0], "attended").await,
        409,
        "slot_not_started",
    )
    .await;
    app.let_the_slot_begin(slots[0]).await;
    assert_problem(
        attend(&app, &clinician, a, slots[0], "attended").await,
        403,
        "forbidden",
    )
    .await;
    let invalid = attend(&app, &volunteer_token, a, slots[0], "late").await;
    assert_eq!(invalid.status(), 422);
    let attended = json_of(
        attend(&app, &volunteer_token, a, slots[0], "attended").await,
        200,
    )
    .await;
    assert_eq!(attended["referral_state"], "seen");
    assert_eq!(attended["slot"]["attendance"], "attended");
    assert!(attended["slot"]["attendance_recorded_at"].is_string());
    assert_eq!(referral_state(&app, &clinician, a, first).await, "seen");
    let again = assert_problem(
        attend(&app, &volunteer_token, a, slots[0], "did_not_attend").await,
        409,
        "attendance_already_recorded",
    )
    .await;
    assert!(again["detail"].as_str().unwrap().contains("attended"));

    assert_eq!(
        book(&app, &clinician, a, slots[1], second).await.status(),
        200
    );
    app.let_the_slot_begin(slots[1]).await;
    let missed = json_of(
        attend(&app, &admin, a, slots[1], "did_not_attend").await,
        200,
    )
    .await;
    assert_eq!(missed["referral_state"], "did_not_attend");
    assert_eq!(
        referral_state(&app, &clinician, a, second).await,
        "did_not_attend"
    );

    let read = app
        .get(&format!(
            "/v1/practices/{a}/clinic-sessions/{}",
            s["id"].as_str().unwrap()
        ))
        .bearer_auth(&volunteer_token)
        .send()
        .await
        .unwrap();
    let read = json_of(read, 200).await;
    assert_eq!(read["free_slots"], 2);
    assert_eq!(read["slots"][0]["referral_id"], json!(first));
    assert_eq!(read["slots"][1]["attendance"], "did_not_attend");
}

#[tokio::test]
async fn of_several_concurrent_bookings_of_one_slot_exactly_one_succeeds() {
    let app = spawn_app().await;
    let fed = app.create_federation("clinics-race").await;
    let a = fed.practices[0];
    let admin = app.as_role(Role::PracticeAdmin, fed.id, Some(a));
    let clinician = app.as_role(Role::Clinician, fed.id, Some(a));
    let ann = volunteer(&app, &admin, a, "Ann", 365, 30, None).await;
    let s = session(&app, &admin, a, at(7, 9, 0), at(7, 10, 0), ann).await;
    let slot = slot_ids(&s)[0];
    let mut referrals = Vec::new();
    for seed in 0..6 {
        let patient = register_patient(&app, &clinician, a, 600 + seed).await;
        referrals.push(refer(&app, &clinician, a, patient).await);
    }

    let attempts = referrals
        .iter()
        .map(|referral| book(&app, &clinician, a, slot, *referral));
    let responses = futures_util::future::join_all(attempts).await;
    let mut winners = Vec::new();
    for (referral, response) in referrals.iter().zip(responses) {
        match response.status().as_u16() {
            200 => winners.push(*referral),
            _ => {
                assert_problem(response, 409, "slot_taken").await;
            }
        }
    }
    assert_eq!(winners.len(), 1, "exactly one booking wins");
    let winner = winners[0];

    let read = app
        .get(&format!(
            "/v1/practices/{a}/clinic-sessions/{}",
            s["id"].as_str().unwrap()
        ))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap();
    let read = json_of(read, 200).await;
    assert_eq!(read["slots"][0]["referral_id"], json!(winner));
    for referral in &referrals {
        let expected = if *referral == winner {
            "booked"
        } else {
            "received"
        };
        assert_eq!(
            referral_state(&app, &clinician, a, *referral).await,
            expected
        );
    }
}

#[tokio::test]
async fn only_the_right_roles_of_the_practice_reach_its_clinics() {
    let app = spawn_app().await;
    let fed = app.create_federation("clinics-roles").await;
    let [a, b] = fed.practices;
    let admin = app.as_role(Role::PracticeAdmin, fed.id, Some(a));
    let clinician = app.as_role(Role::Clinician, fed.id, Some(a));
    let ann = volunteer(&app, &admin, a, "Ann", 365, 30, None).await;
    let body = json!({"starts_at": at(7, 9, 0), "ends_at": at(7, 11, 0), "location": "Hall", "volunteer_ids": [ann]});

    assert_problem(
        create_session(&app, &clinician, a, body.clone()).await,
        403,
        "forbidden",
    )
    .await;
    let volunteer_token = app.as_role(Role::Volunteer, fed.id, Some(a));
    assert_problem(
        create_session(&app, &volunteer_token, a, body.clone()).await,
        403,
        "forbidden",
    )
    .await;
    let federation_admin = app.as_role(Role::FederationAdmin, fed.id, None);
    let s = json_of(
        create_session(&app, &federation_admin, a, body.clone()).await,
        201,
    )
    .await;
    let session_id = s["id"].as_str().unwrap();
    let slot = slot_ids(&s)[0];
    let patient = register_patient(&app, &clinician, a, 700).await;
    let referral = refer(&app, &clinician, a, patient).await;
    // Federation administrators schedule clinics but do no clinical work.
    assert_problem(
        book(&app, &federation_admin, a, slot, referral).await,
        403,
        "forbidden",
    )
    .await;

    let outsiders = [
        app.as_role(Role::Commissioner, fed.id, None),
        app.as_role(Role::PracticeAdmin, fed.id, Some(b)),
        app.as_role(Role::Clinician, fed.id, Some(b)),
        app.as_service_account(fed.id, &[waymark_domain::ServiceScope::StatsRead])
            .await,
        app.as_role(
            Role::FederationAdmin,
            app.create_federation("clinics-roles-2").await.id,
            None,
        ),
    ];
    let reads = [
        format!("/v1/practices/{a}/volunteers"),
        format!("/v1/practices/{a}/volunteers/{ann}"),
        format!("/v1/practices/{a}/clinic-sessions"),
        format!("/v1/practices/{a}/clinic-sessions/{session_id}"),
    ];
    for token in &outsiders {
        for path in &reads {
            let response = app.get(path).bearer_auth(token).send().await.unwrap();
            assert_problem(response, 404, "not_found").await;
        }
    }
    let admin_b = app.as_role(Role::PracticeAdmin, fed.id, Some(b));
    assert_problem(
        create_session(&app, &admin_b, a, body.clone()).await,
        404,
        "not_found",
    )
    .await;
    let clinician_b = app.as_role(Role::Clinician, fed.id, Some(b));
    assert_problem(
        book(&app, &clinician_b, a, slot, referral).await,
        404,
        "not_found",
    )
    .await;
    // The right ids under the caller's own practice are not found either.
    assert_problem(
        book(&app, &clinician_b, b, slot, referral).await,
        404,
        "not_found",
    )
    .await;
    let guess = app
        .get(&format!("/v1/practices/{b}/clinic-sessions/{session_id}"))
        .bearer_auth(&admin_b)
        .send()
        .await
        .unwrap();
    assert_problem(guess, 404, "not_found").await;
    let ann_elsewhere = create_session(
        &app,
        &admin_b,
        b,
        json!({"starts_at": at(7, 9, 0), "ends_at": at(7, 11, 0), "location": "Hall", "volunteer_ids": [ann]}),
    )
    .await;
    let problem = assert_problem(ann_elsewhere, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "volunteer_ids[0]");
}
