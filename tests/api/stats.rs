//! Commissioner statistics against a small federation built through the API, every figure
//! worked out by hand below; disclosure control, secondary suppression and stricter policies;
//! the same answers before and after the deltas are folded; CSV against JSON; isolation between
//! federations; and that nothing a commissioner can reach is a patient-level route.

use crate::helpers::{assert_problem, spawn_app_with, TestApp};
use crate::journey::{
    cleared_volunteer, get, json_of, post, provider_service, record_activity, Practice,
};
use crate::ledger_rules::key;
use crate::pathway::{nhs_number, transition};
use chrono::{Datelike, Duration, DurationRound, Months, NaiveDate, Utc};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use uuid::Uuid;
use waymark_domain::pathway::wellbeing::Swemwbs;
use waymark_domain::{Role, ServiceScope};

/// The federation the figures below are worked out for.
struct Counted {
    app: TestApp,
    federation: Uuid,
    practice_a: Uuid,
    practice_b: Uuid,
    /// The patients of a0–a11, in order.
    patients_a: Vec<Uuid>,
    clinician_a: String,
    commissioner: String,
    admin: String,
    /// The day every referral of practice A number i was made: `first_day + i`.
    first_day: NaiveDate,
}

const DNA: usize = 9;

fn first_of_last_month() -> NaiveDate {
    let today = Utc::now().date_naive();
    (today - Months::new(1)).with_day(1).unwrap()
}

fn end_of_month(day: NaiveDate) -> NaiveDate {
    (day.with_day(1).unwrap() + Months::new(1)) - Duration::days(1)
}

/// A period of whole months from last month to the one eight days from now, which holds every
/// referral (made last month), charge (delivered today) and clinic session (made for tomorrow).
fn period() -> String {
    let to = end_of_month(Utc::now().date_naive() + Duration::days(8));
    format!("from={}&to={to}", first_of_last_month())
}

/// A date of birth half a year past a birthday, so that a referral made weeks ago falls in the
/// same year of age.
fn born_aged(age: i64) -> NaiveDate {
    Utc::now().date_naive() - Duration::days(age * 365 + age / 4 + 180)
}

async fn register(
    app: &TestApp,
    token: &str,
    practice: Uuid,
    seed: u32,
    age: i64,
    sex: Option<&str>,
) -> Uuid {
    let response = post(
        app,
        token,
        &format!("/v1/practices/{practice}/patients"),
        json!({
            "nhs_number": nhs_number(seed), "given_name": "Sam", "family_name": format!("Counted{seed}"),
            "date_of_birth": born_aged(age), "sex": sex,
            "consent": {"share_name_with_providers": false, "share_contact_with_providers": false},
        }),
    )
    .await;
    let patient = json_of(response, 201).await;
    patient["id"].as_str().unwrap().parse().unwrap()
}

async fn refer(app: &TestApp, token: &str, practice: Uuid, patient: Uuid, needs: &[&str]) -> Uuid {
    let referral = json_of(
        post(
            app,
            token,
            &format!("/v1/practices/{practice}/patients/{patient}/referrals"),
            json!({"need_categories": needs, "urgency": "routine"}),
        )
        .await,
        201,
    )
    .await;
    referral["id"].as_str().unwrap().parse().unwrap()
}

/// Moves referrals back in time to the days they are counted under, as the owner: the service
/// dates everything now. The statistics deltas already written for them are written again from
/// their facts, as they would have been had the referrals been made on those days.
async fn made_on(app: &TestApp, federation: Uuid, referrals: &[(Uuid, NaiveDate)]) {
    let mut owner = PgConnection::connect(&app.database_url).await.unwrap();
    let mut tx = sqlx::Connection::begin(&mut owner).await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    for (referral, day) in referrals {
        for sql in [
            // In UTC wall-clock time: Citus refuses STABLE functions of columns in an UPDATE.
            "UPDATE referrals SET created_at = ($2::date + ((created_at AT TIME ZONE 'UTC') \
             - date_trunc('day', created_at AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC' \
             WHERE federation_id = $3 AND id = $1",
            "UPDATE referral_state_changes SET changed_at = ($2::date + ((changed_at AT TIME ZONE 'UTC') \
             - date_trunc('day', changed_at AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC' \
             WHERE federation_id = $3 AND referral_id = $1",
            "UPDATE stats_referrals SET referred_on = $2 WHERE federation_id = $3 AND referral_id = $1",
        ] {
            sqlx::query(sql)
                .bind(referral)
                .bind(day)
                .bind(federation)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
    }
    sqlx::query("DELETE FROM stats_referral_deltas WHERE federation_id = $1")
        .bind(federation)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO stats_referral_deltas SELECT c.* FROM stats_referrals f, \
         LATERAL waymark_stats_contribution(ROW(f.*)::stats_fact, 1, gen_random_uuid()) c WHERE f.federation_id = $1",
    )
    .bind(federation)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Practice A: twelve referrals (a0–a11), made on consecutive days of last month.
/// - Needs: a0–a5 loneliness; a6–a11 loneliness and physical activity. Ages: a0–a7 30, a8–a11 70.
/// - Sex: a0–a9 female, a10 and a11 male.
/// - a0–a9 booked into one clinic; a0–a8 attended (seen), a9 did not; a10 declined; a11 waits.
/// - a0–a7 referred on to one service; its provider accepted a0–a6 (engaged), recorded eight
///   charged activities (a0 twice), all approved: 8 charges, £135.
/// - Wellbeing pairs for a0–a7; GP appointments 5 before and 3 after for a0–a8.
/// - a0–a5 and a8 closed, a7 withdrawn, a6 still active.
///
/// Practice B: three referrals for debt and benefits, age 40, sex not recorded, made on the first
/// three days.
async fn counted_federation(slug: &str) -> Counted {
    let app = spawn_app_with(&[("WAYMARK_STATS_FOLD_INTERVAL_MS", "0")]).await;
    let fed = app.create_federation(slug).await;
    let [practice_a, practice_b] = fed.practices;
    let p = Practice {
        federation: fed.id,
        id: practice_a,
        clinician: app.as_role(Role::Clinician, fed.id, Some(practice_a)),
        volunteer: app.as_role(Role::Volunteer, fed.id, Some(practice_a)),
        admin: app.as_role(Role::PracticeAdmin, fed.id, Some(practice_a)),
    };
    let clinician_b = app.as_role(Role::Clinician, fed.id, Some(practice_b));
    let admin = app.as_role(Role::FederationAdmin, fed.id, None);
    let first_day = first_of_last_month();

    let mut a = Vec::new();
    let mut patients_a = Vec::new();
    for i in 0..12u32 {
        let patient = register(
            &app,
            &p.clinician,
            practice_a,
            1000 + 10 * i,
            if i < 8 { 30 } else { 70 },
            Some(if i < 10 { "female" } else { "male" }),
        )
        .await;
        patients_a.push(patient);
        let needs: &[&str] = if i < 6 {
            &["loneliness_isolation"]
        } else {
            &["loneliness_isolation", "physical_activity"]
        };
        a.push(refer(&app, &p.clinician, practice_a, patient, needs).await);
    }
    let mut b = Vec::new();
    for i in 0..3u32 {
        let patient = register(&app, &clinician_b, practice_b, 2000 + 10 * i, 40, None).await;
        b.push(refer(&app, &clinician_b, practice_b, patient, &["debt_benefits"]).await);
    }
    let days: Vec<(Uuid, NaiveDate)> = a
        .iter()
        .enumerate()
        .map(|(i, r)| (*r, first_day + Duration::days(i as i64)))
        .chain(
            b.iter()
                .enumerate()
                .map(|(i, r)| (*r, first_day + Duration::days(i as i64))),
        )
        .collect();
    made_on(&app, fed.id, &days).await;

    // One four-hour clinic tomorrow, of sixteen slots, run by two volunteers.
    let base = format!("/v1/practices/{practice_a}");
    let volunteers = [
        cleared_volunteer(&app, &p, "Volunteer one").await,
        cleared_volunteer(&app, &p, "Volunteer two").await,
    ];
    let starts = (Utc::now() + Duration::days(1))
        .duration_trunc(Duration::hours(1))
        .unwrap();
    let session = json_of(
        post(
            &app,
            &p.admin,
            &format!("{base}/clinic-sessions"),
            json!({"starts_at": starts, "ends_at": starts + Duration::hours(4), "location": "Room 1",
                   "slot_minutes": 15, "volunteer_ids": volunteers}),
        )
        .await,
        201,
    )
    .await;
    let slots: Vec<String> = session["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(slots.len(), 16);
    for (i, referral) in a.iter().enumerate().take(10) {
        json_of(
            post(
                &app,
                &p.volunteer,
                &format!("{base}/clinic-slots/{}/booking", slots[i]),
                json!({"referral_id": referral}),
            )
            .await,
            200,
        )
        .await;
    }
    for (i, slot) in slots.iter().enumerate().take(10) {
        app.let_the_slot_begin(Uuid::parse_str(slot).unwrap()).await;
        let attendance = if i == DNA {
            "did_not_attend"
        } else {
            "attended"
        };
        json_of(
            post(
                &app,
                &p.volunteer,
                &format!("{base}/clinic-slots/{slot}/attendance"),
                json!({"attendance": attendance}),
            )
            .await,
            200,
        )
        .await;
    }
    json_of(
        transition(
            &app,
            &p.clinician,
            practice_a,
            a[10],
            json!({"to": "declined", "reason": "Prefers not to"}),
        )
        .await,
        200,
    )
    .await;

    // Onward referrals, the provider's answers and activities, and the approvals.
    let (service, provider, _) = provider_service(&app, fed.id, true).await;
    let mut onward = Vec::new();
    for referral in &a[..8] {
        let made = json_of(
            post(
                &app,
                &p.volunteer,
                &format!("{base}/referrals/{referral}/onward-referrals"),
                json!({"service_id": service}),
            )
            .await,
            201,
        )
        .await;
        onward.push(made["id"].as_str().unwrap().to_owned());
    }
    for o in &onward[..7] {
        json_of(
            post(
                &app,
                &provider,
                &format!("/v1/provider/onward-referrals/{o}/transitions"),
                json!({"to": "accepted"}),
            )
            .await,
            200,
        )
        .await;
    }
    let today = Utc::now().date_naive();
    for (i, o) in onward[..7].iter().chain([&onward[0]]).enumerate() {
        let quantity = if i == 7 { 2 } else { 1 };
        json_of(
            record_activity(&app, &provider, o, json!({"activity_type": "session_attended", "delivered_on": today, "quantity": quantity})).await,
            201,
        )
        .await;
    }
    json_of(
        app.post("/v1/ledger/top-ups")
            .bearer_auth(&admin)
            .header("Idempotency-Key", key())
            .json(&json!({"amount_pence": 100_000, "reference": "grant"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let pending = json_of(
        get(&app, &admin, "/v1/ledger/charges?status=pending&limit=200").await,
        200,
    )
    .await;
    let pending = pending["items"].as_array().unwrap().clone();
    assert_eq!(pending.len(), 8);
    for charge in &pending {
        json_of(
            app.post(&format!(
                "/v1/ledger/charges/{}/decision",
                charge["id"].as_str().unwrap()
            ))
            .bearer_auth(&admin)
            .header("Idempotency-Key", key())
            .json(&json!({"decision": "approve"}))
            .send()
            .await
            .unwrap(),
            200,
        )
        .await;
    }

    // Wellbeing pairs and GP appointment counts.
    for (i, referral) in a[..8].iter().enumerate() {
        let path = format!("{base}/referrals/{referral}/wellbeing-measures");
        let follow_up_swemwbs = if i < 6 {
            vec![3; 7]
        } else {
            vec![2, 2, 2, 2, 2, 2, 3]
        };
        for (timepoint, swemwbs, ons4) in [
            (
                "baseline",
                vec![2; 7],
                json!({"life_satisfaction": 4, "worthwhile": 5, "happiness": 5, "anxiety": 7}),
            ),
            (
                "follow_up",
                follow_up_swemwbs,
                json!({"life_satisfaction": 6, "worthwhile": 5, "happiness": if i < 4 { 6 } else { 5 }, "anxiety": 4}),
            ),
        ] {
            json_of(
                post(
                    &app,
                    &p.volunteer,
                    &path,
                    json!({"timepoint": timepoint, "swemwbs": swemwbs, "ons4": ons4}),
                )
                .await,
                201,
            )
            .await;
        }
    }
    for (i, referral) in a[..9].iter().enumerate() {
        let referred_on = first_day + Duration::days(i as i64);
        for (window, start, end, appointments) in [
            ("before", referred_on - Duration::days(90), referred_on, 5),
            ("after", referred_on + Duration::days(1), today, 3),
        ] {
            json_of(
                app.request(reqwest::Method::PUT, &format!("{base}/referrals/{referral}/gp-appointment-counts/{window}"))
                    .bearer_auth(&p.clinician)
                    .json(&json!({"period_start": start, "period_end": end, "appointments": appointments}))
                    .send()
                    .await
                    .unwrap(),
                200,
            )
            .await;
        }
    }
    for referral in a[..6].iter().chain([&a[8]]) {
        json_of(
            transition(
                &app,
                &p.clinician,
                practice_a,
                *referral,
                json!({"to": "closed", "outcome": "needs_met"}),
            )
            .await,
            200,
        )
        .await;
    }
    json_of(
        transition(
            &app,
            &p.clinician,
            practice_a,
            a[7],
            json!({"to": "withdrawn", "reason": "Moved away"}),
        )
        .await,
        200,
    )
    .await;

    Counted {
        commissioner: app.as_role(Role::Commissioner, fed.id, None),
        admin,
        federation: fed.id,
        practice_a,
        practice_b,
        patients_a,
        clinician_a: p.clinician,
        first_day,
        app,
    }
}

impl Counted {
    async fn stats(&self, token: &str, path: &str) -> Value {
        json_of(
            get(&self.app, token, &format!("/v1/stats/{path}")).await,
            200,
        )
        .await
    }

    /// Corrects patient a`i`'s record as their practice would.
    async fn correct_patient(&self, i: usize, change: Value) {
        let path = format!(
            "/v1/practices/{}/patients/{}",
            self.practice_a, self.patients_a[i]
        );
        let etag = get(&self.app, &self.clinician_a, &path).await.headers()["etag"]
            .to_str()
            .unwrap()
            .to_owned();
        let response = self
            .app
            .patch(&path)
            .bearer_auth(&self.clinician_a)
            .header("If-Match", etag)
            .json(&change)
            .send()
            .await
            .unwrap();
        json_of(response, 200).await;
    }

    async fn fold(&self) {
        let pool = sqlx::PgPool::connect(&self.app.service_database_url)
            .await
            .unwrap();
        waymark_persistence::stats::compaction::fold_all(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

/// A figure: its value, or why it is hidden.
fn shown(figure: &Value) -> Value {
    assert!(figure.get("value").is_some(), "not a figure: {figure}");
    if figure["suppression"].is_null() {
        figure["value"].clone()
    } else {
        figure["suppression"].clone()
    }
}

fn by<'a>(items: &'a Value, key: &str, value: &str) -> &'a Value {
    items
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item[key] == value)
        .unwrap_or_else(|| panic!("no {key} {value} in {items}"))
}

/// Every figure of an answer, by where it is, with the answer's own `as_of` and coverage left
/// out: what must not change when the deltas are folded.
fn figures_of(answer: &Value) -> Value {
    let mut answer = answer.clone();
    answer.as_object_mut().unwrap().remove("as_of");
    answer
}

const ENDPOINTS: [&str; 6] = [
    "referrals",
    "funnel",
    "wellbeing",
    "gp-appointments",
    "spend",
    "volunteer-hours",
];

#[tokio::test]
async fn every_figure_matches_the_hand_counted_federation_before_and_after_folding() {
    let f = counted_federation("stats-counted").await;
    let period = period();
    let c = &f.commissioner;

    let mut before_fold = BTreeMap::new();
    for endpoint in ENDPOINTS {
        before_fold.insert(endpoint, f.stats(c, &format!("{endpoint}?{period}")).await);
    }
    f.fold().await;
    let mut deltas = PgConnection::connect(&f.app.database_url).await.unwrap();
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM stats_referral_deltas")
        .fetch_one(&mut deltas)
        .await
        .unwrap();
    assert_eq!(waiting, 0, "the fold leaves no deltas");
    for endpoint in ENDPOINTS {
        let after = f.stats(c, &format!("{endpoint}?{period}")).await;
        assert_eq!(
            figures_of(&before_fold[endpoint]),
            figures_of(&after),
            "{endpoint}"
        );
    }

    // Referrals: A made 12 (shown as 10), B 3 (suppressed), 15 in all; all last month.
    let r = f.stats(c, &format!("referrals?{period}")).await;
    assert_eq!(r["bucket"], "month");
    assert_eq!(r["buckets"][0], json!(f.first_day));
    assert!(r["as_of"].is_string());
    assert_eq!(
        r["disclosure"],
        json!({"suppress_up_to": 7, "round_to": 5, "secondary_suppression": false})
    );
    let a = by(&r["by_practice"], "practice_id", &f.practice_a.to_string());
    let b = by(&r["by_practice"], "practice_id", &f.practice_b.to_string());
    assert_eq!(shown(&a["referrals"][0]), 10);
    assert_eq!(shown(&a["referrals"][1]), 0);
    assert_eq!(shown(&a["total"]), 10);
    assert_eq!(shown(&b["referrals"][0]), "small_count");
    assert_eq!(shown(&b["total"]), "small_count");
    assert_eq!(shown(&r["bucket_totals"][0]), 15);
    assert_eq!(shown(&r["total"]), 15);
    let need = |code: &str| shown(&by(&r["by_need_category"], "need_category", code)["total"]);
    assert_eq!(need("loneliness_isolation"), 10);
    assert_eq!(need("physical_activity"), "small_count");
    assert_eq!(need("debt_benefits"), "small_count");
    assert_eq!(need("housing"), 0);
    assert_eq!(r["by_need_category"].as_array().unwrap().len(), 12);

    // The funnel: 15 referred, 10 booked, 9 seen, 8 referred on, 7 engaged, 7 closed; one each
    // declined, did not attend and withdrawn. a0–a8 were seen today, 0 to 8 days after the
    // first day: the median is a4's wait.
    let fun = f.stats(c, &format!("funnel?{period}")).await;
    let stage = |list: &str, code: &str| by(&fun[list], "stage", code).clone();
    let expect = [
        ("stages", "referred", json!(15), json!(100.0)),
        ("stages", "booked", json!(10), json!(66.7)),
        ("stages", "seen", json!(10), json!(66.7)),
        ("stages", "onward_referred", json!(10), json!(66.7)),
        (
            "stages",
            "engaged",
            json!("small_count"),
            json!("small_count"),
        ),
        (
            "stages",
            "closed",
            json!("small_count"),
            json!("small_count"),
        ),
        (
            "exits",
            "declined",
            json!("small_count"),
            json!("small_count"),
        ),
        (
            "exits",
            "did_not_attend",
            json!("small_count"),
            json!("small_count"),
        ),
        (
            "exits",
            "withdrawn",
            json!("small_count"),
            json!("small_count"),
        ),
    ];
    for (list, code, count, percent) in expect {
        let s = stage(list, code);
        assert_eq!(shown(&s["referrals"]), count, "{code}");
        assert_eq!(shown(&s["percent_of_referred"]), percent, "{code}");
    }
    let today = Utc::now().date_naive();
    let waits: Vec<i64> = (0..9)
        .map(|i| (today - (f.first_day + Duration::days(i))).num_days())
        .collect();
    assert_eq!(shown(&fun["first_contacts"]), 10);
    assert_eq!(
        shown(&fun["median_days_to_first_contact"]),
        json!(waits[4] as f64)
    );
    let mean = waits.iter().sum::<i64>() as f64 / 9.0;
    assert_eq!(
        shown(&fun["mean_days_to_first_contact"]),
        json!((mean * 10.0).round() / 10.0)
    );
    assert_eq!(shown(&fun["by_bucket"][0]["stages"][0]["referrals"]), 15);
    assert_eq!(shown(&fun["by_bucket"][1]["stages"][0]["referrals"]), 0);

    // Wellbeing: eight pairs. SWEMWBS rose from raw 14 to 21 for six and to 15 for two.
    let w = f.stats(c, &format!("wellbeing?{period}")).await;
    let measure = |code: &str| by(&w["measures"], "measure", code).clone();
    let metric = |raw: u8| i64::from(Swemwbs::metric_hundredths(raw).unwrap());
    let change = 6 * (metric(21) - metric(14)) + 2 * (metric(15) - metric(14));
    let mean_change = (change as f64 / 8.0).round() / 100.0;
    assert!(metric(21) - metric(14) >= 300 && metric(15) - metric(14) < 300);
    let swemwbs = measure("swemwbs");
    assert_eq!(shown(&swemwbs["pairs"]), 10);
    assert_eq!(shown(&swemwbs["mean_change"]), json!(mean_change));
    assert_eq!(shown(&swemwbs["improved"]), "small_count");
    assert_eq!(shown(&swemwbs["percent_improved"]), "small_count");
    assert_eq!(swemwbs["meaningful_change"], 3.0);
    for (code, mean, improved, percent) in [
        (
            "ons4_life_satisfaction",
            json!(2.0),
            json!(10),
            json!(100.0),
        ),
        ("ons4_worthwhile", json!(0.0), json!(0), json!(0.0)),
        (
            "ons4_happiness",
            json!(0.5),
            json!("small_count"),
            json!("small_count"),
        ),
        ("ons4_anxiety", json!(-3.0), json!(10), json!(100.0)),
    ] {
        let m = measure(code);
        assert_eq!(shown(&m["pairs"]), 10, "{code}");
        assert_eq!(shown(&m["mean_change"]), mean, "{code}");
        assert_eq!(shown(&m["improved"]), improved, "{code}");
        assert_eq!(shown(&m["percent_improved"]), percent, "{code}");
    }
    assert_eq!(measure("ons4_anxiety")["higher_is_better"], false);

    // GP appointments: nine patients, 5 before and 3 after each.
    let gp = f.stats(c, &format!("gp-appointments?{period}")).await;
    assert_eq!(shown(&gp["patients"]), 10);
    assert_eq!(shown(&gp["mean_before"]), 5.0);
    assert_eq!(shown(&gp["mean_after"]), 3.0);
    assert_eq!(shown(&gp["mean_change"]), -2.0);
    assert_eq!(shown(&gp["appointments_avoided"]), 18);

    // Spend: eight charges, £135; nine people supported; 18 appointments at £48.
    let s = f.stats(c, &format!("spend?{period}")).await;
    assert_eq!(shown(&s["total"]["charges"]), 10);
    assert_eq!(shown(&s["total"]["amount_pence"]), 13_500);
    let this_month = s["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .position(|d| *d == json!(today.with_day(1).unwrap()))
        .unwrap();
    assert_eq!(shown(&s["by_bucket"][this_month]["amount_pence"]), 13_500);
    assert_eq!(shown(&s["by_bucket"][0]["amount_pence"]), 0);
    assert_eq!(s["by_provider"].as_array().unwrap().len(), 1);
    assert_eq!(
        shown(&s["by_provider"][0]["services"][0]["amount_pence"]),
        13_500
    );
    assert_eq!(s["by_provider"][0]["services"][0]["name"], "Health walks");
    assert_eq!(shown(&s["value"]["people_supported"]), 10);
    assert_eq!(shown(&s["value"]["cost_per_person_pence"]), 1_500.0);
    assert_eq!(shown(&s["value"]["appointments_avoided"]), 18);
    assert_eq!(s["value"]["gp_consultation_pence"], 4_800);
    assert_eq!(shown(&s["value"]["estimated_savings_pence"]), 86_400);

    // Volunteer hours: one four-hour session run by two volunteers.
    let v = f.stats(c, &format!("volunteer-hours?{period}")).await;
    assert_eq!(v["sessions"], 1);
    assert_eq!(v["volunteer_hours"], 8.0);
    assert_eq!(
        by(&v["by_practice"], "practice_id", &f.practice_a.to_string())["volunteer_hours"],
        8.0
    );
    assert_eq!(
        by(&v["by_practice"], "practice_id", &f.practice_b.to_string())["volunteer_hours"],
        0.0
    );

    // Filters: the 25–34 band is a0–a7; loneliness is all of A; practice B alone.
    let band = f.stats(c, &format!("funnel?{period}&age_band=25_34")).await;
    assert_eq!(shown(&band["stages"][0]["referrals"]), 10);
    assert_eq!(shown(&band["stages"][2]["referrals"]), 10);
    assert_eq!(band["age_band"], "25_34");
    let lonely = f
        .stats(
            c,
            &format!("funnel?{period}&need_category=physical_activity"),
        )
        .await;
    assert_eq!(shown(&lonely["stages"][0]["referrals"]), "small_count");
    let only_b = f
        .stats(
            c,
            &format!("referrals?{period}&practice_ids={}", f.practice_b),
        )
        .await;
    assert_eq!(only_b["by_practice"].as_array().unwrap().len(), 1);
    assert_eq!(shown(&only_b["total"]), "small_count");
    let both = f
        .stats(
            c,
            &format!(
                "referrals?{period}&practice_ids={},{}",
                f.practice_b, f.practice_a
            ),
        )
        .await;
    assert_eq!(shown(&both["total"]), 15);

    // Weekly buckets hold the same referrals.
    let first_monday =
        f.first_day - Duration::days(i64::from(f.first_day.weekday().num_days_from_monday()));
    let weeks = f
        .stats(
            c,
            &format!(
                "referrals?bucket=week&from={first_monday}&to={}",
                first_monday + Duration::days(27)
            ),
        )
        .await;
    assert_eq!(weeks["buckets"].as_array().unwrap().len(), 4);
    assert_eq!(shown(&weeks["total"]), 15);

    // Sex: a0–a9 female, a10 and a11 male, B's three not recorded; with the age band too.
    let referred = |answer: &Value| shown(&by(&answer["stages"], "stage", "referred")["referrals"]);
    let female = f.stats(c, &format!("funnel?{period}&sex=female")).await;
    assert_eq!(female["sex"], "female");
    assert_eq!(referred(&female), 10);
    assert_eq!(
        shown(&by(&female["stages"], "stage", "seen")["referrals"]),
        10
    );
    for (filter, expected) in [
        ("sex=male", json!("small_count")),
        ("sex=not_known", json!("small_count")),
        ("sex=indeterminate", json!(0)),
        ("age_band=25_34&sex=female", json!(10)),
        ("age_band=65_74&sex=female", json!("small_count")),
        ("age_band=25_34&sex=male", json!(0)),
    ] {
        let answer = f.stats(c, &format!("funnel?{period}&{filter}")).await;
        assert_eq!(referred(&answer), expected, "{filter}");
    }
    let female_wellbeing = f.stats(c, &format!("wellbeing?{period}&sex=female")).await;
    assert_eq!(
        shown(&by(&female_wellbeing["measures"], "measure", "swemwbs")["pairs"]),
        10
    );
    let by_sex = f.stats(c, &format!("referrals?{period}&sex=female")).await;
    assert_eq!(shown(&by_sex["total"]), 10);
    assert_eq!(
        shown(
            &by(
                &by_sex["by_practice"],
                "practice_id",
                &f.practice_b.to_string()
            )["total"]
        ),
        0
    );

    // Corrections move a patient's referrals: a0–a5 are men, and a0 was born forty years
    // earlier than recorded. Male: a0–a5, a10, a11; the 25–34 band: a1–a7; 65–74: a0, a8–a11.
    for i in 0..6 {
        f.correct_patient(i, json!({"sex": "male"})).await;
    }
    f.correct_patient(0, json!({"date_of_birth": born_aged(70)}))
        .await;
    let corrected = [
        ("sex=male", json!(10)),
        ("sex=female", json!("small_count")),
        ("age_band=25_34", json!("small_count")),
        ("age_band=65_74", json!("small_count")),
        ("age_band=25_34&sex=male", json!("small_count")),
        ("age_band=25_34&sex=female", json!("small_count")),
    ];
    let mut unfolded = Vec::new();
    for (filter, expected) in corrected.clone() {
        let answer = f.stats(c, &format!("funnel?{period}&{filter}")).await;
        assert_eq!(referred(&answer), expected, "{filter}, before folding");
        unfolded.push(answer);
    }
    f.fold().await;
    for ((filter, _), before) in corrected.iter().zip(&unfolded) {
        let after = f.stats(c, &format!("funnel?{period}&{filter}")).await;
        assert_eq!(
            figures_of(before),
            figures_of(&after),
            "{filter}, after folding"
        );
    }
    let rows_by_cell: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT age_band, sex, sum(referrals)::bigint FROM stats_referral_rollups
         WHERE federation_id = $1 AND bucket_kind = 'month' AND need_category = 'all'
           AND practice_id = $2 AND age_band <> 'all' AND sex <> 'all'
         GROUP BY 1, 2 HAVING sum(referrals) <> 0 ORDER BY 1, 2",
    )
    .bind(f.federation)
    .bind(f.practice_a)
    .fetch_all(&mut deltas)
    .await
    .unwrap();
    assert_eq!(
        rows_by_cell,
        vec![
            ("25_34".to_owned(), "female".to_owned(), 2),
            ("25_34".to_owned(), "male".to_owned(), 5),
            ("65_74".to_owned(), "female".to_owned(), 2),
            ("65_74".to_owned(), "male".to_owned(), 3),
        ],
        "practice A's referrals by age band and sex, exactly"
    );
}

#[tokio::test]
async fn secondary_suppression_and_a_stricter_threshold_are_the_federations_choice() {
    let f = counted_federation("stats-secondary").await;
    let period = period();
    let settings_path = "/v1/stats/settings";
    let current = get(&f.app, &f.admin, settings_path).await;
    let etag = current.headers()["etag"].to_str().unwrap().to_owned();
    let current = json_of(current, 200).await;
    assert_eq!(
        current,
        json!({"suppress_up_to": 7, "round_to": 5, "secondary_suppression": false, "gp_consultation_pence": 4800})
    );

    let put = |token: &str, etag: Option<&str>, body: Value| {
        let mut request = f
            .app
            .request(reqwest::Method::PUT, settings_path)
            .bearer_auth(token)
            .json(&body);
        if let Some(etag) = etag {
            request = request.header("If-Match", etag);
        }
        request.send()
    };
    let body = json!({"suppress_up_to": 7, "round_to": 5, "secondary_suppression": true, "gp_consultation_pence": 5000});
    assert_problem(
        put(&f.commissioner, Some(&etag), body.clone())
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        put(&f.admin, None, body.clone()).await.unwrap(),
        428,
        "if_match_required",
    )
    .await;
    let looser = json!({"suppress_up_to": 5, "round_to": 1, "secondary_suppression": false, "gp_consultation_pence": -1});
    let refused = assert_problem(
        put(&f.admin, Some(&etag), looser).await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["suppress_up_to", "round_to", "gp_consultation_pence"]
    );
    let changed = put(&f.admin, Some(&etag), body.clone()).await.unwrap();
    let new_etag = changed.headers()["etag"].to_str().unwrap().to_owned();
    json_of(changed, 200).await;
    assert_problem(
        put(&f.admin, Some(&etag), body).await.unwrap(),
        412,
        "etag_mismatch",
    )
    .await;

    // B's 3 is suppressed; alone in its column, it would be 15 − A's cell: so A's cell goes,
    // and then A's row total, which A's one non-zero cell no longer hides.
    let r = f
        .stats(&f.commissioner, &format!("referrals?{period}"))
        .await;
    assert_eq!(r["disclosure"]["secondary_suppression"], true);
    let a = by(&r["by_practice"], "practice_id", &f.practice_a.to_string());
    let b = by(&r["by_practice"], "practice_id", &f.practice_b.to_string());
    assert_eq!(shown(&a["referrals"][0]), "secondary");
    assert_eq!(shown(&a["total"]), "secondary");
    assert_eq!(shown(&b["referrals"][0]), "small_count");
    assert_eq!(shown(&b["total"]), "small_count");
    assert_eq!(shown(&r["bucket_totals"][0]), 15);
    assert_eq!(shown(&r["total"]), 15);
    let s = f.stats(&f.commissioner, &format!("spend?{period}")).await;
    assert_eq!(shown(&s["value"]["estimated_savings_pence"]), 90_000);

    // Suppressing up to 10 hides the nine seen, and their median wait.
    let stricter = json!({"suppress_up_to": 10, "round_to": 10, "secondary_suppression": false, "gp_consultation_pence": 4800});
    json_of(put(&f.admin, Some(&new_etag), stricter).await.unwrap(), 200).await;
    let fun = f.stats(&f.commissioner, &format!("funnel?{period}")).await;
    assert_eq!(shown(&fun["stages"][0]["referrals"]), 20);
    assert_eq!(shown(&fun["stages"][1]["referrals"]), "small_count");
    assert_eq!(shown(&fun["median_days_to_first_contact"]), "small_base");
    let gp = f
        .stats(&f.commissioner, &format!("gp-appointments?{period}"))
        .await;
    assert_eq!(shown(&gp["mean_change"]), "small_base");
}

/// The CSV rows of an answer, each as (figure, bucket, group, key) → (value, suppression).
fn csv_rows(body: &str) -> Vec<[String; 7]> {
    let mut lines = body.lines();
    assert_eq!(
        lines.next(),
        Some("as_of,figure,bucket_start,group,key,value,suppression")
    );
    lines
        .map(|line| {
            let cells: Vec<String> = line.split(',').map(str::to_owned).collect();
            assert_eq!(cells.len(), 7, "{line}");
            cells.try_into().unwrap()
        })
        .collect()
}

/// Every figure object of a JSON answer as (value, suppression), in any order.
fn json_figures(value: &Value, into: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if map.contains_key("suppression") => {
            let value = match &map["value"] {
                Value::Null => String::new(),
                v => v.to_string(),
            };
            let why = map["suppression"].as_str().unwrap_or_default().to_owned();
            into.push((value, why));
        }
        Value::Object(map) => map.values().for_each(|v| json_figures(v, into)),
        Value::Array(items) => items.iter().for_each(|v| json_figures(v, into)),
        _ => {}
    }
}

#[tokio::test]
async fn csv_answers_hold_the_json_answers_figures() {
    let f = counted_federation("stats-csv").await;
    let period = period();
    for endpoint in ENDPOINTS {
        let json = f
            .stats(&f.commissioner, &format!("{endpoint}?{period}"))
            .await;
        let response = f
            .app
            .get(&format!("/v1/stats/{endpoint}?{period}"))
            .bearer_auth(&f.commissioner)
            .header("Accept", "text/csv")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        assert!(response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(endpoint));
        let rows = csv_rows(&response.text().await.unwrap());
        let mut expected = Vec::new();
        json_figures(&json, &mut expected);
        let mut found: Vec<(String, String)> = rows
            .iter()
            .filter(|r| endpoint != "volunteer-hours" && r[1] != "gp_consultation_pence")
            .map(|r| {
                // Floats print alike in both: JSON's 66.7 and Rust's 66.7, 0.0 as 0.0 and 0.
                let value = r[5]
                    .parse::<f64>()
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                (value, r[6].clone())
            })
            .collect();
        let mut expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(v, s)| {
                (
                    v.parse::<f64>().map(|v| v.to_string()).unwrap_or_default(),
                    s,
                )
            })
            .collect();
        found.sort();
        expected.sort();
        if endpoint == "volunteer-hours" {
            assert!(expected.is_empty());
            let total = rows
                .iter()
                .find(|r| r[1] == "volunteer_hours" && r[2].is_empty() && r[3].is_empty())
                .unwrap();
            assert_eq!(
                total[5].parse::<f64>().unwrap(),
                json["volunteer_hours"].as_f64().unwrap()
            );
            continue;
        }
        assert_eq!(found, expected, "{endpoint}");
        // Each answer is its own snapshot, read after the JSON one, named on every row.
        let as_of = chrono::DateTime::parse_from_rfc3339(&rows[0][0]).unwrap();
        let json_as_of =
            chrono::DateTime::parse_from_rfc3339(json["as_of"].as_str().unwrap()).unwrap();
        assert!(as_of >= json_as_of, "{endpoint}");
        assert!(
            rows.iter().all(|r| r[0] == rows[0][0]),
            "{endpoint}: one as_of"
        );
    }
    // Keyed: the referrals table, cell by cell.
    let json = f
        .stats(&f.commissioner, &format!("referrals?{period}"))
        .await;
    let csv = f
        .app
        .get(&format!("/v1/stats/referrals?{period}&format=csv"))
        .bearer_auth(&f.commissioner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows = csv_rows(&csv);
    for practice in json["by_practice"].as_array().unwrap() {
        let id = practice["practice_id"].as_str().unwrap();
        for (i, bucket) in json["buckets"].as_array().unwrap().iter().enumerate() {
            let row = rows
                .iter()
                .find(|r| r[3] == "practice" && r[4] == id && r[2] == bucket.as_str().unwrap())
                .expect("a row per practice and bucket");
            let cell = &practice["referrals"][i];
            assert_eq!(
                row[5],
                cell["value"]
                    .as_u64()
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            );
            assert_eq!(row[6], cell["suppression"].as_str().unwrap_or_default());
        }
    }
}

#[tokio::test]
async fn statistics_are_for_their_readers_and_their_federation_only() {
    let f = counted_federation("stats-readers").await;
    let period = period();
    let other = f.app.create_federation("stats-readers-other").await;
    let app = &f.app;
    let practice = f.practice_a;
    for (token, status) in [
        (f.commissioner.clone(), 200),
        (f.admin.clone(), 200),
        (
            app.as_service_account(f.federation, &[ServiceScope::StatsRead])
                .await,
            200,
        ),
        (
            app.as_service_account(f.federation, &[ServiceScope::DirectoryWrite])
                .await,
            403,
        ),
        (
            app.as_role(Role::Clinician, f.federation, Some(practice)),
            403,
        ),
        (
            app.as_role(Role::PracticeAdmin, f.federation, Some(practice)),
            403,
        ),
        (
            app.as_role(Role::Volunteer, f.federation, Some(practice)),
            403,
        ),
        (app.as_role(Role::Provider, f.federation, None), 403),
        (app.platform_admin(), 403),
    ] {
        for endpoint in ENDPOINTS.iter().chain(&["settings"]) {
            let response = get(
                app,
                &token,
                &format!(
                    "/v1/stats/{endpoint}?{}",
                    if *endpoint == "settings" { "" } else { &period }
                ),
            )
            .await;
            assert_eq!(response.status(), status, "{endpoint}");
        }
    }
    let anonymous = app.get("/v1/stats/referrals").send().await.unwrap();
    assert_problem(anonymous, 401, "unauthorized").await;

    // Another federation's commissioner counts only its own: nothing.
    let theirs = app.as_role(Role::Commissioner, other.id, None);
    let r = f.stats(&theirs, &format!("referrals?{period}")).await;
    assert_eq!(shown(&r["total"]), 0);
    assert_eq!(r["by_practice"].as_array().unwrap().len(), 2);
    let s = f.stats(&theirs, &format!("spend?{period}")).await;
    assert_eq!(shown(&s["total"]["amount_pence"]), 0);
    assert!(s["by_provider"].as_array().unwrap().is_empty());
    let v = f.stats(&theirs, &format!("volunteer-hours?{period}")).await;
    assert_eq!(v["volunteer_hours"], 0.0);
    // Naming this federation's practices is refused the same as naming none that exists.
    let foreign = get(
        app,
        &theirs,
        &format!("/v1/stats/referrals?practice_ids={practice}"),
    )
    .await;
    let refused = assert_problem(foreign, 400, "invalid_query_parameter").await;
    let nowhere = get(
        app,
        &theirs,
        &format!("/v1/stats/referrals?practice_ids={}", Uuid::now_v7()),
    )
    .await;
    let nowhere = assert_problem(nowhere, 400, "invalid_query_parameter").await;
    assert_eq!(
        refused["detail"]
            .as_str()
            .unwrap()
            .replace(&practice.to_string(), "…"),
        nowhere["detail"]
            .as_str()
            .unwrap()
            .split("practice ")
            .next()
            .unwrap()
            .to_owned()
            + "practice … in this federation"
    );
}

#[tokio::test]
async fn questions_are_checked() {
    let app = spawn_app_with(&[("WAYMARK_STATS_FOLD_INTERVAL_MS", "0")]).await;
    let fed = app.create_federation("stats-questions").await;
    let c = app.as_role(Role::Commissioner, fed.id, None);
    for query in [
        "bucket=day",
        "from=2026-01-02&to=2026-01-31",
        "from=2026-01-01&to=2026-01-30",
        "from=2026-03-01&to=2026-02-28",
        "from=2023-01-01&to=2026-12-31",
        "bucket=week&from=2026-11-03&to=2026-11-30",
        "practice_ids=not-a-uuid",
        "practice_ids=",
        "need_category=gardening",
        "age_band=30_40",
        "sex=woman",
        "sex=",
        "format=xml",
        "colour=blue",
        "from=yesterday",
    ] {
        let response = get(&app, &c, &format!("/v1/stats/funnel?{query}")).await;
        assert_problem(response, 400, "invalid_query_parameter").await;
    }
    for endpoint in ["spend", "volunteer-hours"] {
        for filter in ["need_category=housing", "age_band=0_17", "sex=female"] {
            let response = get(&app, &c, &format!("/v1/stats/{endpoint}?{filter}")).await;
            assert_problem(response, 400, "invalid_query_parameter").await;
        }
    }
    // The default: the twelve months ending with this one, every figure present and empty.
    let r = json_of(get(&app, &c, "/v1/stats/funnel").await, 200).await;
    assert_eq!(r["buckets"].as_array().unwrap().len(), 12);
    assert_eq!(r["to"], json!(end_of_month(Utc::now().date_naive())));
    assert_eq!(shown(&r["stages"][0]["referrals"]), 0);
    assert_eq!(shown(&r["median_days_to_first_contact"]), Value::Null);
    let w = json_of(get(&app, &c, "/v1/stats/referrals?bucket=week").await, 200).await;
    assert_eq!(w["buckets"].as_array().unwrap().len(), 13);
}

/// Every route under a practice, a provider or the ledger reads or writes patient- or
/// activity-level rows; a commissioner, and a service account that may read statistics, is
/// refused each one.
#[tokio::test]
async fn commissioners_reach_no_patient_level_route() {
    let app = spawn_app_with(&[("WAYMARK_STATS_FOLD_INTERVAL_MS", "0")]).await;
    let fed = app.create_federation("stats-no-rows").await;
    let practice = fed.practices[0];
    let doc = waymark_http::application::document();
    let doc = serde_json::to_value(&doc).unwrap();
    let readers = [
        app.as_role(Role::Commissioner, fed.id, None),
        app.as_service_account(fed.id, &[ServiceScope::StatsRead])
            .await,
    ];
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let patient_level = path.starts_with("/v1/practices/{practice_id}/")
            || path.starts_with("/v1/provider/")
            || path.starts_with("/v1/ledger/");
        if !patient_level {
            continue;
        }
        let concrete = path
            .replace("{practice_id}", &practice.to_string())
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    Uuid::now_v7().to_string()
                } else {
                    segment.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            for token in &readers {
                let response = app
                    .request(method.clone(), &concrete)
                    .bearer_auth(token)
                    .header("Idempotency-Key", key())
                    .header("If-Match", "\"1\"")
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body = response.text().await.unwrap();
                // A body and a query are read before the route decides who may use it, so a
                // request may be refused for its (empty) body or missing query first; either
                // way nothing was done or read.
                let refused_unread = (status == 400 || status == 422)
                    && (body.contains("\"invalid_body\"")
                        || body.contains("\"invalid_query_parameter\""));
                // Practice routes answer 404 to anyone outside the practice, as if nothing were
                // there (README, The pathway); the rest 403.
                assert!(
                    status == 403 || status == 404 || refused_unread,
                    "{method} {path} answered a statistics reader {status}: {body}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 80, "only {checked} routes checked");
}

#[tokio::test]
async fn the_databases_age_bands_are_the_domains() {
    let app = spawn_app_with(&[("WAYMARK_STATS_FOLD_INTERVAL_MS", "0")]).await;
    let mut owner = PgConnection::connect(&app.database_url).await.unwrap();
    let mut born = Vec::new();
    let mut on = Vec::new();
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    for year in (1900..2026).step_by(3) {
        for birthday in [day(year, 1, 1), day(year, 6, 15), day(year, 12, 31)] {
            for offset in [-1i64, 0, 1, 200] {
                for age in [0, 17, 18, 24, 25, 64, 65, 84, 85, 99] {
                    let anniversary = day(year + age, birthday.month(), birthday.day());
                    born.push(birthday);
                    on.push(anniversary + Duration::days(offset));
                }
            }
        }
    }
    // Leap days: a 29 February birthday comes of age on 1 March.
    for (b, o) in [
        (day(2000, 2, 29), day(2018, 2, 28)),
        (day(2000, 2, 29), day(2018, 3, 1)),
        (day(2004, 2, 29), day(2022, 3, 1)),
    ] {
        born.push(b);
        on.push(o);
    }
    let bands: Vec<String> = sqlx::query_scalar(
        "SELECT waymark_age_band(b, o) FROM unnest($1::date[], $2::date[]) WITH ORDINALITY AS t (b, o, n) ORDER BY n",
    )
    .bind(&born)
    .bind(&on)
    .fetch_all(&mut owner)
    .await
    .unwrap();
    for ((b, o), band) in born.iter().zip(&on).zip(&bands) {
        assert_eq!(
            waymark_domain::stats::AgeBand::at(*b, *o).code(),
            band,
            "born {b}, on {o}"
        );
    }
    assert!(bands.len() > 4_000);
}

/// One referral of a generated federation, read as the owner straight from the pathway's own
/// tables, for the figures to be counted again here.
#[derive(sqlx::FromRow)]
struct Lived {
    referred_on: NaiveDate,
    states: Vec<String>,
    seen_on: Option<NaiveDate>,
    onward: bool,
    engaged: bool,
    swemwbs_before: Option<i16>,
    swemwbs_after: Option<i16>,
    gp_before: Option<i32>,
    gp_after: Option<i32>,
    sex: String,
}

#[tokio::test]
async fn a_generated_federations_figures_are_its_rows_counted_again() {
    let app = spawn_app_with(&[("WAYMARK_STATS_FOLD_INTERVAL_MS", "0")]).await;
    let summary: Value = serde_json::from_str(&app.run_cli(&[
        "seed-synthetic",
        "--federation",
        "stats-generated",
        "--practices",
        "3",
        "--referrals",
        "900",
        "--seed",
        "11",
    ]))
    .unwrap();
    let federation: Uuid = summary["federation_id"].as_str().unwrap().parse().unwrap();
    let mut owner = PgConnection::connect(&app.database_url).await.unwrap();
    let waiting: i64 =
        sqlx::query_scalar("SELECT count(*) FROM stats_referral_deltas WHERE federation_id = $1")
            .bind(federation)
            .fetch_one(&mut owner)
            .await
            .unwrap();
    assert_eq!(
        waiting, 0,
        "a load builds its statistics whole, leaving no deltas"
    );
    let lived: Vec<Lived> = sqlx::query_as(
        "SELECT (r.created_at AT TIME ZONE 'UTC')::date AS referred_on,
                array(SELECT s.to_state FROM referral_state_changes s
                      WHERE s.federation_id = r.federation_id AND s.referral_id = r.id) AS states,
                (SELECT min(s.changed_at AT TIME ZONE 'UTC')::date FROM referral_state_changes s
                 WHERE s.federation_id = r.federation_id AND s.referral_id = r.id AND s.to_state = 'seen') AS seen_on,
                EXISTS (SELECT 1 FROM onward_referrals o WHERE o.federation_id = r.federation_id
                        AND o.referral_id = r.id AND o.kind = 'referral') AS onward,
                EXISTS (SELECT 1 FROM onward_referrals o WHERE o.federation_id = r.federation_id
                        AND o.referral_id = r.id AND o.kind = 'referral' AND o.responded_at IS NOT NULL
                        AND o.decline_reason IS NULL) AS engaged,
                (SELECT w.swemwbs_metric_hundredths FROM wellbeing_measures w WHERE w.federation_id = r.federation_id
                 AND w.referral_id = r.id AND w.timepoint = 'baseline') AS swemwbs_before,
                (SELECT w.swemwbs_metric_hundredths FROM wellbeing_measures w WHERE w.federation_id = r.federation_id
                 AND w.referral_id = r.id AND w.timepoint = 'follow_up') AS swemwbs_after,
                (SELECT g.appointments FROM gp_appointment_counts g WHERE g.federation_id = r.federation_id
                 AND g.referral_id = r.id AND g.appointment_window = 'before') AS gp_before,
                (SELECT g.appointments FROM gp_appointment_counts g WHERE g.federation_id = r.federation_id
                 AND g.referral_id = r.id AND g.appointment_window = 'after') AS gp_after,
                (SELECT coalesce(p.sex, 'not_known') FROM patients p WHERE p.federation_id = r.federation_id
                 AND p.id = r.patient_id) AS sex
         FROM referrals r WHERE r.federation_id = $1",
    )
    .bind(federation)
    .fetch_all(&mut owner)
    .await
    .unwrap();
    assert_eq!(lived.len(), 900);

    // Whole months from the first referral's to this one hold them all.
    let c = app.as_role(Role::Commissioner, federation, None);
    let first = lived
        .iter()
        .map(|l| l.referred_on)
        .min()
        .unwrap()
        .with_day(1)
        .unwrap();
    let period = format!("from={first}&to={}", end_of_month(Utc::now().date_naive()));
    let fun = json_of(
        get(&app, &c, &format!("/v1/stats/funnel?{period}")).await,
        200,
    )
    .await;
    let policy = waymark_domain::stats::DisclosurePolicy::NHS_DIGITAL;
    let count = |n: usize| -> Value {
        match policy.count(n as u64) {
            waymark_domain::stats::Cell::Shown(v) => json!(v),
            waymark_domain::stats::Cell::Suppressed(why) => json!(why.as_str()),
        }
    };
    let reached = |state: &str| {
        lived
            .iter()
            .filter(|l| l.states.iter().any(|s| s == state))
            .count()
    };
    for (stage, n) in [
        ("referred", lived.len()),
        ("booked", reached("booked")),
        ("seen", reached("seen")),
        ("onward_referred", lived.iter().filter(|l| l.onward).count()),
        ("engaged", lived.iter().filter(|l| l.engaged).count()),
        ("closed", reached("closed")),
        ("declined", reached("declined")),
        ("did_not_attend", reached("did_not_attend")),
        ("withdrawn", reached("withdrawn")),
    ] {
        let list = if ["declined", "did_not_attend", "withdrawn"].contains(&stage) {
            "exits"
        } else {
            "stages"
        };
        assert_eq!(
            shown(&by(&fun[list], "stage", stage)["referrals"]),
            count(n),
            "{stage}"
        );
    }
    for sex in ["female", "male", "indeterminate", "not_known"] {
        let of_sex = json_of(
            get(&app, &c, &format!("/v1/stats/funnel?{period}&sex={sex}")).await,
            200,
        )
        .await;
        assert_eq!(
            shown(&by(&of_sex["stages"], "stage", "referred")["referrals"]),
            count(lived.iter().filter(|l| l.sex == sex).count()),
            "{sex}"
        );
    }
    assert!(
        lived.iter().filter(|l| l.sex == "female").count()
            > lived.iter().filter(|l| l.sex == "male").count(),
        "the generator records sex, more women than men"
    );

    let mut waits: Vec<i64> = lived
        .iter()
        .filter_map(|l| l.seen_on.map(|d| (d - l.referred_on).num_days()))
        .collect();
    waits.sort();
    let median = (waits[(waits.len() - 1) / 2] + waits[waits.len() / 2]) as f64 / 2.0;
    assert_eq!(shown(&fun["median_days_to_first_contact"]), json!(median));

    let pairs: Vec<i64> = lived
        .iter()
        .filter_map(|l| Some(i64::from(l.swemwbs_after?) - i64::from(l.swemwbs_before?)))
        .collect();
    let w = json_of(
        get(&app, &c, &format!("/v1/stats/wellbeing?{period}")).await,
        200,
    )
    .await;
    let swemwbs = by(&w["measures"], "measure", "swemwbs");
    assert_eq!(shown(&swemwbs["pairs"]), count(pairs.len()));
    let mean = pairs.iter().sum::<i64>() as f64 / pairs.len() as f64 / 100.0;
    assert!(
        (swemwbs["mean_change"]["value"].as_f64().unwrap() - mean).abs() < 0.006,
        "{swemwbs} vs {mean}"
    );
    assert_eq!(
        shown(&swemwbs["improved"]),
        count(pairs.iter().filter(|c| **c >= 300).count())
    );

    let gp: Vec<(i64, i64)> = lived
        .iter()
        .filter_map(|l| Some((i64::from(l.gp_before?), i64::from(l.gp_after?))))
        .collect();
    let g = json_of(
        get(&app, &c, &format!("/v1/stats/gp-appointments?{period}")).await,
        200,
    )
    .await;
    assert_eq!(shown(&g["patients"]), count(gp.len()));
    assert_eq!(
        shown(&g["appointments_avoided"]),
        json!(gp.iter().map(|(b, a)| b - a).sum::<i64>())
    );

    let (charges, pence): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status IN ('approved', 'paid')),
                coalesce(sum(amount_pence) FILTER (WHERE status IN ('approved', 'paid')), 0)::bigint
                  - coalesce((SELECT sum(amount_pence) FROM clawbacks WHERE federation_id = $1), 0)::bigint
         FROM charges WHERE federation_id = $1",
    )
    .bind(federation)
    .fetch_one(&mut owner)
    .await
    .unwrap();
    let s = json_of(
        get(&app, &c, &format!("/v1/stats/spend?{period}")).await,
        200,
    )
    .await;
    assert_eq!(shown(&s["total"]["charges"]), count(charges as usize));
    assert_eq!(shown(&s["total"]["amount_pence"]), json!(pence));

    // Built again with every trigger live, as a migration that changes how statistics are kept
    // builds them, the figures are the same: the facts' removal leaves no deltas behind.
    sqlx::query("SELECT waymark_stats_rebuild($1)")
        .bind(federation)
        .execute(&mut owner)
        .await
        .unwrap();
    let rebuilt = json_of(
        get(&app, &c, &format!("/v1/stats/funnel?{period}")).await,
        200,
    )
    .await;
    assert_eq!(figures_of(&fun), figures_of(&rebuilt));
}
