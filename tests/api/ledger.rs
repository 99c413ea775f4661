//! The payment ledger through HTTP: tariffs, charges from activities, approval against the fund,
//! reversals, payment runs and statements; idempotency, concurrency, roles, append-only storage
//! and a randomised run checking the ledger's invariants after every step.

use crate::helpers::{assert_problem, spawn_app, TestApp};
use crate::journey::{get, json_of, post, practice, provider_service, record_activity};
use crate::ledger_rules::{accepted_onward, deliver};
use chrono::{Duration, Utc};
use rand::{Rng, SeedableRng};
use reqwest::Response;
use serde_json::{json, Value};
use uuid::Uuid;
use waymark_domain::Role;

/// A federation with a provider whose service has a 1500p `session_attended` tariff, and an
/// accepted onward referral to it, ready for activities.
struct World {
    app: TestApp,
    federation: Uuid,
    admin: String,
    provider: String,
    organisation: Uuid,
    service: Uuid,
    onward: String,
}

async fn world(slug: &str) -> World {
    let app = spawn_app().await;
    let p = practice(&app, slug).await;
    let (service, provider, organisation) = provider_service(&app, p.federation, true).await;
    let onward = accepted_onward(&app, &p, service, &provider, 1).await;
    World {
        admin: app.as_role(Role::FederationAdmin, p.federation, None),
        federation: p.federation,
        app,
        provider,
        organisation,
        service,
        onward,
    }
}

impl World {
    /// Records an activity and answers its pending charge.
    async fn deliver(&self, activity_type: &str, days_ago: i64, quantity: i64) -> Value {
        deliver(
            &self.app,
            &self.admin,
            &self.provider,
            &self.onward,
            json!({"activity_type": activity_type, "delivered_on": Utc::now().date_naive() - Duration::days(days_ago), "quantity": quantity}),
        )
        .await
    }

    async fn money(&self, path: &str, key: &str, body: Value) -> Response {
        self.app
            .post(path)
            .bearer_auth(&self.admin)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn top_up(&self, pence: i64) {
        json_of(
            self.money(
                "/v1/ledger/top-ups",
                &Uuid::now_v7().to_string(),
                json!({"amount_pence": pence, "reference": "grant"}),
            )
            .await,
            201,
        )
        .await;
    }

    async fn approve(&self, charge: &Value) -> Response {
        self.money(
            &format!(
                "/v1/ledger/charges/{}/decision",
                charge["id"].as_str().unwrap()
            ),
            &Uuid::now_v7().to_string(),
            json!({"decision": "approve"}),
        )
        .await
    }

    async fn balance(&self, kind: &str) -> i64 {
        let accounts = json_of(
            get(&self.app, &self.admin, "/v1/ledger/accounts").await,
            200,
        )
        .await;
        accounts
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == kind)
            .map(|a| a["balance"]["pence"].as_i64().unwrap())
            .sum()
    }

    async fn assert_balanced(&self) {
        let reconciliation = json_of(
            get(&self.app, &self.admin, "/v1/ledger/reconciliation").await,
            200,
        )
        .await;
        assert_eq!(reconciliation["balanced"], true, "{reconciliation}");
        assert_eq!(reconciliation["sum_of_balances"]["pence"], 0);
    }

    async fn charge(&self, id: &Value) -> Value {
        json_of(
            get(
                &self.app,
                &self.admin,
                &format!("/v1/ledger/charges/{}", id.as_str().unwrap()),
            )
            .await,
            200,
        )
        .await
    }
}

#[tokio::test]
async fn activities_are_priced_by_the_tariff_in_force_on_the_day_they_were_delivered() {
    let w = world("ledger-tariffs").await;
    let today = Utc::now().date_naive();
    let tariff = |unit: i64, from_days_ago: i64, to_days_ago: Option<i64>| {
        json!({
            "service_id": w.service, "activity_type": "course_completed", "unit_price_pence": unit,
            "effective_from": today - Duration::days(from_days_ago),
            "effective_to": to_days_ago.map(|d| today - Duration::days(d)),
        })
    };
    let old = json_of(
        post(
            &w.app,
            &w.admin,
            "/v1/ledger/tariffs",
            tariff(1000, 100, Some(31)),
        )
        .await,
        201,
    )
    .await;
    json_of(
        post(
            &w.app,
            &w.admin,
            "/v1/ledger/tariffs",
            tariff(1250, 30, None),
        )
        .await,
        201,
    )
    .await;
    assert_problem(
        post(
            &w.app,
            &w.admin,
            "/v1/ledger/tariffs",
            tariff(900, 40, Some(35)),
        )
        .await,
        409,
        "tariff_overlaps",
    )
    .await;
    let invalid = post(&w.app, &w.admin, "/v1/ledger/tariffs", json!({"service_id": w.service, "activity_type": "Course!", "unit_price_pence": 0, "effective_from": today, "effective_to": today - Duration::days(1)})).await;
    let problem = assert_problem(invalid, 422, "validation_failed").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 3);

    let before = w.deliver("course_completed", 40, 2).await;
    assert_eq!(before["unit_pence"], 1000);
    assert_eq!(before["amount_pence"], 2000);
    let after = w.deliver("course_completed", 3, 1).await;
    assert_eq!(after["unit_pence"], 1250);
    // No tariff for that day: the provider is told, and nothing is recorded or charged.
    let unpriced = record_activity(
        &w.app,
        &w.provider,
        &w.onward,
        json!({"activity_type": "course_completed", "delivered_on": today - Duration::days(200)}),
    )
    .await;
    assert_problem(unpriced, 422, "no_tariff").await;

    // A tariff cannot end before an activity it priced.
    let old_id = old["id"].as_str().unwrap();
    let read = w
        .app
        .get(&format!("/v1/ledger/tariffs/{old_id}"))
        .bearer_auth(&w.admin)
        .send()
        .await
        .unwrap();
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    let too_early = w
        .app
        .post(&format!("/v1/ledger/tariffs/{old_id}/end"))
        .bearer_auth(&w.admin)
        .header("If-Match", &etag)
        .json(&json!({"effective_to": today - Duration::days(50)}))
        .send()
        .await
        .unwrap();
    assert_problem(too_early, 409, "tariff_in_use").await;
    // Ending is conditional, as the document says: 428 without If-Match, 412 when stale.
    let end = |if_match: Option<&'static str>| {
        let mut request = w
            .app
            .post(&format!("/v1/ledger/tariffs/{old_id}/end"))
            .bearer_auth(&w.admin);
        if let Some(tag) = if_match {
            request = request.header("If-Match", tag);
        }
        request
            .json(&json!({"effective_to": today - Duration::days(31)}))
            .send()
    };
    assert_problem(end(None).await.unwrap(), 428, "if_match_required").await;
    assert_problem(end(Some("\"999\"")).await.unwrap(), 412, "etag_mismatch").await;
    // Providers see their own tariffs and may not set them.
    let own = json_of(get(&w.app, &w.provider, "/v1/ledger/tariffs").await, 200).await;
    assert_eq!(own["items"].as_array().unwrap().len(), 3);
    assert_problem(
        post(
            &w.app,
            &w.provider,
            "/v1/ledger/tariffs",
            tariff(1, 1, None),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn approval_pays_from_the_fund_which_refuses_an_overdraft_unless_allowed() {
    let w = world("ledger-fund").await;
    w.top_up(1000).await;
    let charge = w.deliver("session_attended", 1, 1).await;
    assert_eq!(charge["amount_pence"], 1500);

    let short = w.approve(&charge).await;
    let problem = assert_problem(short, 409, "insufficient_funds").await;
    assert_eq!(problem["shortfall_pence"], 500);
    assert_eq!(w.charge(&charge["id"]).await["status"], "pending");
    assert_eq!(w.balance("fund").await, 1000);
    assert_eq!(w.balance("payable").await, 0);

    let settings = w
        .app
        .get("/v1/ledger/settings")
        .bearer_auth(&w.admin)
        .send()
        .await
        .unwrap();
    let etag = settings.headers()["etag"].to_str().unwrap().to_owned();
    let allowed = w
        .app
        .patch("/v1/ledger/settings")
        .bearer_auth(&w.admin)
        .header("If-Match", &etag)
        .json(&json!({"fund_overdraft_allowed": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(allowed, 200).await["fund_overdraft_allowed"], true);
    let approved = json_of(w.approve(&charge).await, 200).await;
    assert_eq!(approved["charges"][0]["status"], "approved");
    assert_eq!(w.balance("fund").await, -500);
    assert_eq!(w.balance("payable").await, 1500);
    assert_eq!(w.balance("commissioner").await, -1000);
    w.assert_balanced().await;
}

#[tokio::test]
async fn whole_numbers_are_integers_however_they_are_written() {
    let w = world("ledger-whole-numbers").await;
    let key = Uuid::now_v7().to_string();
    let written = json_of(
        w.money(
            "/v1/ledger/top-ups",
            &key,
            json!({"amount_pence": 2500.0, "reference": "ICB tranche 1"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(w.balance("fund").await, 2500);
    // The same request spelled as a plain integer is a retry of it.
    let retry = w
        .money(
            "/v1/ledger/top-ups",
            &key,
            json!({"amount_pence": 2500, "reference": "ICB tranche 1"}),
        )
        .await;
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(retry, 201).await, written);
    let exponent = w
        .app
        .post("/v1/ledger/top-ups")
        .bearer_auth(&w.admin)
        .header("Idempotency-Key", Uuid::now_v7().to_string())
        .header("Content-Type", "application/json")
        .body(r#"{"amount_pence": 7.5e2, "reference": "ICB tranche 2"}"#)
        .send()
        .await
        .unwrap();
    json_of(exponent, 201).await;
    assert_eq!(w.balance("fund").await, 3250);

    let fraction = w
        .money(
            "/v1/ledger/top-ups",
            &Uuid::now_v7().to_string(),
            json!({"amount_pence": 2500.5, "reference": "ICB tranche 3"}),
        )
        .await;
    let problem = assert_problem(fraction, 422, "invalid_body").await;
    assert_eq!(problem["errors"][0]["field"], "amount_pence");
    assert!(
        problem["detail"].as_str().unwrap().contains("2500.5"),
        "{problem}"
    );
    assert_eq!(w.balance("fund").await, 3250);
}

#[tokio::test]
async fn money_moving_requests_need_an_idempotency_key_and_replay_the_first_response() {
    let w = world("ledger-idempotency").await;
    let missing = w
        .app
        .post("/v1/ledger/top-ups")
        .bearer_auth(&w.admin)
        .json(&json!({"amount_pence": 100, "reference": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(missing, 400, "idempotency_key_required").await;

    let key = Uuid::now_v7().to_string();
    let body = json!({"amount_pence": 250_000, "reference": "ICB tranche 1"});
    let first = json_of(w.money("/v1/ledger/top-ups", &key, body.clone()).await, 201).await;
    let retry = w.money("/v1/ledger/top-ups", &key, body).await;
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(retry, 201).await, first);
    assert_eq!(w.balance("fund").await, 250_000);
    let other = w
        .money(
            "/v1/ledger/top-ups",
            &key,
            json!({"amount_pence": 1, "reference": "ICB tranche 1"}),
        )
        .await;
    assert_problem(other, 422, "idempotency_key_reused").await;

    // Concurrent retries of one approval: one posting.
    let charge = w.deliver("session_attended", 1, 1).await;
    let key = Uuid::now_v7().to_string();
    let path = format!(
        "/v1/ledger/charges/{}/decision",
        charge["id"].as_str().unwrap()
    );
    let attempts = (0..5).map(|_| w.money(&path, &key, json!({"decision": "approve"})));
    let responses = futures_util::future::join_all(attempts).await;
    let mut transfers = Vec::new();
    for response in responses {
        transfers.push(json_of(response, 200).await["transfer_id"].clone());
    }
    transfers.dedup();
    assert_eq!(transfers.len(), 1);
    assert_eq!(w.balance("payable").await, 1500);
    w.assert_balanced().await;
}

#[tokio::test]
async fn decisions_are_all_or_nothing_and_follow_the_charge_state_machine() {
    let w = world("ledger-decisions").await;
    w.top_up(100_000).await;
    let charges: Vec<Value> =
        futures_util::future::join_all((0..3).map(|_| w.deliver("session_attended", 2, 1))).await;
    json_of(w.approve(&charges[0]).await, 200).await;
    let ids: Vec<&Value> = charges.iter().map(|c| &c["id"]).collect();
    let mixed = w
        .money(
            "/v1/ledger/charges/decisions",
            &Uuid::now_v7().to_string(),
            json!({"decision": "approve", "charge_ids": ids}),
        )
        .await;
    let problem = assert_problem(mixed, 409, "illegal_transition").await;
    assert!(problem["detail"].as_str().unwrap().contains("approved"));
    assert_eq!(w.charge(&charges[1]["id"]).await["status"], "pending");
    assert_eq!(w.balance("payable").await, 1500);

    let no_reason = w
        .money(
            "/v1/ledger/charges/decisions",
            &Uuid::now_v7().to_string(),
            json!({"decision": "reject", "charge_ids": [charges[1]["id"]]}),
        )
        .await;
    assert_problem(no_reason, 422, "validation_failed").await;
    let rejected = json_of(
        w.money("/v1/ledger/charges/decisions", &Uuid::now_v7().to_string(), json!({"decision": "reject", "charge_ids": [charges[1]["id"]], "reason": "Not a funded activity"}))
            .await,
        200,
    )
    .await;
    assert_eq!(rejected["transfer_id"], Value::Null);
    assert_eq!(rejected["charges"][0]["status"], "rejected");
    let late = w.approve(&charges[1]).await;
    assert_problem(late, 409, "illegal_transition").await;
    let approved = json_of(
        w.money(
            "/v1/ledger/charges/decisions",
            &Uuid::now_v7().to_string(),
            json!({"decision": "approve", "charge_ids": [charges[2]["id"]]}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(approved["amount_pence"], 1500);
    let unknown = w
        .money(
            "/v1/ledger/charges/decisions",
            &Uuid::now_v7().to_string(),
            json!({"decision": "approve", "charge_ids": [Uuid::now_v7()]}),
        )
        .await;
    assert_problem(unknown, 422, "validation_failed").await;
    w.assert_balanced().await;
}

#[tokio::test]
async fn reversals_take_back_unpaid_approvals_and_payment_runs_pay_each_charge_once() {
    let w = world("ledger-runs").await;
    w.top_up(100_000).await;
    let old = w.deliver("session_attended", 10, 2).await;
    let recent = w.deliver("session_attended", 1, 1).await;
    let reversed = w.deliver("session_attended", 5, 1).await;
    for charge in [&old, &recent, &reversed] {
        json_of(w.approve(charge).await, 200).await;
    }
    let reversal_path = format!(
        "/v1/ledger/charges/{}/reversal",
        reversed["id"].as_str().unwrap()
    );
    let reversal = json_of(
        w.money(
            &reversal_path,
            &Uuid::now_v7().to_string(),
            json!({"reason": "Recorded twice"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(reversal["charges"][0]["status"], "reversed");
    assert_eq!(w.balance("payable").await, 4500);

    let cut_off = Utc::now().date_naive() - Duration::days(3);
    let key = Uuid::now_v7().to_string();
    let run = json_of(
        w.money("/v1/ledger/payment-runs", &key, json!({"cut_off": cut_off}))
            .await,
        201,
    )
    .await;
    assert_eq!(run["total_pence"], 3000);
    assert_eq!(run["charge_count"], 1);
    assert_eq!(
        run["remittances"][0]["organisation_id"],
        json!(w.organisation)
    );
    let retry = json_of(
        w.money("/v1/ledger/payment-runs", &key, json!({"cut_off": cut_off}))
            .await,
        201,
    )
    .await;
    assert_eq!(retry, run);
    let again = json_of(
        w.money(
            "/v1/ledger/payment-runs",
            &Uuid::now_v7().to_string(),
            json!({"cut_off": cut_off}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(again["total_pence"], 0);
    assert_eq!(w.balance("paid_out").await, 3000);
    assert_eq!(w.balance("payable").await, 1500);
    assert_eq!(w.charge(&old["id"]).await["status"], "paid");
    let paid_reversal = w
        .money(
            &format!(
                "/v1/ledger/charges/{}/reversal",
                old["id"].as_str().unwrap()
            ),
            &Uuid::now_v7().to_string(),
            json!({"reason": "x"}),
        )
        .await;
    assert_problem(paid_reversal, 409, "illegal_transition").await;
    let future = w
        .money(
            "/v1/ledger/payment-runs",
            &Uuid::now_v7().to_string(),
            json!({"cut_off": Utc::now().date_naive() + Duration::days(1)}),
        )
        .await;
    assert_problem(future, 422, "validation_failed").await;

    // The remittance lists the activity paid; the provider sees it, and its statement.
    let remittance_id = run["remittances"][0]["id"].as_str().unwrap();
    let remittance = json_of(
        get(
            &w.app,
            &w.provider,
            &format!("/v1/ledger/remittances/{remittance_id}"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(remittance["charges"][0]["id"], old["id"]);
    assert_eq!(remittance["charges"][0]["quantity"], 2);
    let today = Utc::now().date_naive();
    let statement = json_of(
        get(
            &w.app,
            &w.provider,
            &format!(
                "/v1/ledger/statements/{}?from={}&to={today}",
                w.organisation,
                today - Duration::days(1)
            ),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(statement["opening_balance_pence"], 0);
    assert_eq!(statement["closing_balance_pence"], 1500);
    let kinds: Vec<&str> = statement["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "charge_approval").count(), 3);
    assert!(kinds.contains(&"charge_reversal") && kinds.contains(&"payment"));
    let sum: i64 = statement["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount_pence"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 1500);
    let csv = w
        .app
        .get(&format!(
            "/v1/ledger/statements/{}?from={}&to={today}&format=csv",
            w.organisation,
            today - Duration::days(1)
        ))
        .bearer_auth(&w.provider)
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("posted_at,kind,amount_pence"));
    assert!(csv.contains(",closing_balance,1500,,,,,,,,,\n"), "{csv}");
    assert!(
        csv.trim_end().ends_with(",closing_owed_back,0,,,,,,,,,"),
        "{csv}"
    );
    w.assert_balanced().await;
}

#[tokio::test]
async fn concurrent_approvals_never_overdraw_the_fund_and_concurrent_runs_never_pay_twice() {
    let w = world("ledger-concurrency").await;
    w.top_up(12 * 1500).await;
    let mut charges = Vec::new();
    for _ in 0..20 {
        charges.push(w.deliver("session_attended", 2, 1).await);
    }
    let responses = futures_util::future::join_all(charges.iter().map(|c| w.approve(c))).await;
    let (mut approved, mut short) = (0, 0);
    for response in responses {
        match response.status().as_u16() {
            200 => approved += 1,
            409 => {
                assert_problem(response, 409, "insufficient_funds").await;
                short += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((approved, short), (12, 8));
    assert_eq!(w.balance("fund").await, 0);
    w.assert_balanced().await;

    // The same charge approved by several requests at once: one wins.
    w.top_up(1500).await;
    let pending = json_of(
        get(&w.app, &w.admin, "/v1/ledger/charges?status=pending").await,
        200,
    )
    .await;
    let one = pending["items"][0].clone();
    let races = futures_util::future::join_all((0..5).map(|_| w.approve(&one))).await;
    let wins = races.iter().filter(|r| r.status() == 200).count();
    assert_eq!(wins, 1);

    // Two payment runs at once pay every approved charge exactly once between them.
    let cut_off = Utc::now().date_naive();
    let (key_a, key_b) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let (a, b) = tokio::join!(
        w.money(
            "/v1/ledger/payment-runs",
            &key_a,
            json!({"cut_off": cut_off})
        ),
        w.money(
            "/v1/ledger/payment-runs",
            &key_b,
            json!({"cut_off": cut_off})
        ),
    );
    let (a, b) = (json_of(a, 201).await, json_of(b, 201).await);
    let paid = a["charge_count"].as_i64().unwrap() + b["charge_count"].as_i64().unwrap();
    assert_eq!(paid, 13);
    assert_eq!(
        a["total_pence"].as_i64().unwrap() + b["total_pence"].as_i64().unwrap(),
        13 * 1500
    );
    assert_eq!(w.balance("paid_out").await, 13 * 1500);
    assert_eq!(w.balance("payable").await, 0);
    w.assert_balanced().await;
}

#[tokio::test]
async fn only_administrators_move_money_and_providers_see_only_their_own() {
    let w = world("ledger-roles").await;
    w.top_up(10_000).await;
    let charge = w.deliver("session_attended", 1, 1).await;
    let charge_id = charge["id"].as_str().unwrap();
    let (_, other_provider, other_organisation) =
        provider_service(&w.app, w.federation, true).await;
    let commissioner = w.app.as_role(Role::Commissioner, w.federation, None);
    let service_account = w
        .app
        .as_service_account(w.federation, &[waymark_domain::ServiceScope::StatsRead])
        .await;

    for token in [&w.provider, &commissioner, &service_account] {
        let attempt = w
            .app
            .post(&format!("/v1/ledger/charges/{charge_id}/decision"))
            .bearer_auth(token)
            .header("Idempotency-Key", Uuid::now_v7().to_string())
            .json(&json!({"decision": "approve"}))
            .send()
            .await
            .unwrap();
        assert_problem(attempt, 403, "forbidden").await;
    }
    for token in [&commissioner, &service_account] {
        assert_problem(
            get(&w.app, token, "/v1/ledger/charges").await,
            403,
            "forbidden",
        )
        .await;
    }
    let own = json_of(get(&w.app, &w.provider, "/v1/ledger/charges").await, 200).await;
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    let theirs = json_of(
        get(&w.app, &other_provider, "/v1/ledger/charges").await,
        200,
    )
    .await;
    assert!(theirs["items"].as_array().unwrap().is_empty());
    assert_problem(
        get(
            &w.app,
            &other_provider,
            &format!("/v1/ledger/charges/{charge_id}"),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let today = Utc::now().date_naive();
    assert_problem(
        get(
            &w.app,
            &other_provider,
            &format!(
                "/v1/ledger/statements/{}?from={today}&to={today}",
                w.organisation
            ),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    json_of(
        get(
            &w.app,
            &other_provider,
            &format!("/v1/ledger/statements/{other_organisation}?from={today}&to={today}"),
        )
        .await,
        200,
    )
    .await;
    assert_problem(
        get(&w.app, &w.provider, "/v1/ledger/accounts").await,
        403,
        "forbidden",
    )
    .await;

    // Another federation's administrator finds nothing.
    let other = w.app.create_federation("ledger-roles-elsewhere").await;
    let foreign_admin = w.app.as_role(Role::FederationAdmin, other.id, None);
    assert_problem(
        get(
            &w.app,
            &foreign_admin,
            &format!("/v1/ledger/charges/{charge_id}"),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let foreign = w
        .app
        .post(&format!("/v1/ledger/charges/{charge_id}/decision"))
        .bearer_auth(&foreign_admin)
        .header("Idempotency-Key", Uuid::now_v7().to_string())
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .unwrap();
    assert_problem(foreign, 404, "not_found").await;
}

#[tokio::test]
async fn ledger_rows_are_append_only_and_the_database_refuses_an_unbalanced_transfer() {
    use sqlx::{Connection, Executor};
    let w = world("ledger-append-only").await;
    w.top_up(5_000).await;
    let mut conn = w.app.connect_as_service_role().await;
    let scope = format!(
        "SET LOCAL waymark.federation_id = '{}'; SET LOCAL waymark.federation_wide = 'on'",
        w.federation
    );
    for statement in [
        "UPDATE ledger_entries SET amount_pence = 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transfers SET amount_pence = 1",
        "DELETE FROM ledger_transfers",
    ] {
        let mut tx = conn.begin().await.unwrap();
        for s in scope.split("; ") {
            tx.execute(s).await.unwrap();
        }
        assert!(
            tx.execute(statement).await.is_err(),
            "{statement} must fail"
        );
        tx.rollback().await.unwrap();
    }
    let accounts: Vec<(Uuid, String)> = {
        let mut tx = conn.begin().await.unwrap();
        for s in scope.split("; ") {
            tx.execute(s).await.unwrap();
        }
        let rows = sqlx::query_as("SELECT id, kind FROM ledger_accounts ORDER BY kind")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        rows
    };
    let (commissioner, fund) = (accounts[0].0, accounts[1].0);
    let mut tx = conn.begin().await.unwrap();
    for s in scope.split("; ") {
        tx.execute(s).await.unwrap();
    }
    let transfer = Uuid::now_v7();
    sqlx::query("INSERT INTO ledger_transfers (federation_id, id, kind, amount_pence, created_by) VALUES ($1, $2, 'top_up', 100, $2)")
        .bind(w.federation)
        .bind(transfer)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("INSERT INTO ledger_entries (federation_id, transfer_id, account_id, side, amount_pence) VALUES ($1, $2, $3, 'debit', 100), ($1, $2, $4, 'credit', 90)")
        .bind(w.federation)
        .bind(transfer)
        .bind(commissioner)
        .bind(fund)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert!(
        tx.commit().await.is_err(),
        "an unbalanced transfer must not commit"
    );
    w.assert_balanced().await;
}

/// Random sequences of activities, approvals, rejections, reversals, top-ups and payment runs,
/// through the API, with the ledger's invariants checked after every step.
#[tokio::test]
async fn random_operations_keep_the_ledgers_invariants() {
    let w = world("ledger-random").await;
    let mut clawed_back = 0;
    for seed in [7u64, 1_234, 99_991] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut charge_ids: Vec<Value> = Vec::new();
        for _ in 0..30 {
            match rng.gen_range(0..8) {
                0 | 1 => charge_ids.push(
                    w.deliver(
                        "session_attended",
                        rng.gen_range(0..20),
                        rng.gen_range(1..4),
                    )
                    .await["id"]
                        .clone(),
                ),
                2 if !charge_ids.is_empty() => {
                    let id = &charge_ids[rng.gen_range(0..charge_ids.len())];
                    let r = w.approve(&json!({"id": id})).await;
                    assert!([200, 409].contains(&r.status().as_u16()));
                }
                3 if !charge_ids.is_empty() => {
                    let id = charge_ids[rng.gen_range(0..charge_ids.len())]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    let r = w
                        .money(
                            &format!("/v1/ledger/charges/{id}/decision"),
                            &Uuid::now_v7().to_string(),
                            json!({"decision": "reject", "reason": "random"}),
                        )
                        .await;
                    assert!([200, 409].contains(&r.status().as_u16()));
                }
                4 if !charge_ids.is_empty() => {
                    let id = charge_ids[rng.gen_range(0..charge_ids.len())]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    let r = w
                        .money(
                            &format!("/v1/ledger/charges/{id}/reversal"),
                            &Uuid::now_v7().to_string(),
                            json!({"reason": "random"}),
                        )
                        .await;
                    assert!([200, 409].contains(&r.status().as_u16()));
                }
                5 => w.top_up(rng.gen_range(1..6_000)).await,
                6 if !charge_ids.is_empty() => {
                    let id = charge_ids[rng.gen_range(0..charge_ids.len())]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    let body = if rng.gen_bool(0.5) {
                        json!({"reason": "random"})
                    } else {
                        json!({"reason": "random", "amount_pence": rng.gen_range(1..2_000)})
                    };
                    let r = w
                        .money(
                            &format!("/v1/ledger/charges/{id}/clawbacks"),
                            &Uuid::now_v7().to_string(),
                            body,
                        )
                        .await;
                    assert!(
                        [201, 409, 422].contains(&r.status().as_u16()),
                        "{}",
                        r.status()
                    );
                    clawed_back += usize::from(r.status() == 201);
                }
                _ => {
                    let cut_off = Utc::now().date_naive() - Duration::days(rng.gen_range(0..15));
                    json_of(
                        w.money(
                            "/v1/ledger/payment-runs",
                            &Uuid::now_v7().to_string(),
                            json!({"cut_off": cut_off}),
                        )
                        .await,
                        201,
                    )
                    .await;
                }
            }
            w.assert_balanced().await;
            assert!(
                w.balance("fund").await >= 0,
                "the fund never goes below zero"
            );
            let charges = json_of(
                get(&w.app, &w.admin, "/v1/ledger/charges?limit=200").await,
                200,
            )
            .await;
            let sum_of = |status: &str| -> i64 {
                charges["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["status"] == status)
                    .map(|c| c["amount_pence"].as_i64().unwrap())
                    .sum()
            };
            assert_eq!(
                w.balance("payable").await,
                sum_of("approved"),
                "payables are the approved, unpaid charges"
            );
            let clawbacks = json_of(
                get(&w.app, &w.admin, "/v1/ledger/clawbacks?limit=200").await,
                200,
            )
            .await;
            let clawed = |field: &str| -> i64 {
                clawbacks["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c[field].as_i64().unwrap())
                    .sum()
            };
            assert_eq!(
                w.balance("paid_out").await,
                sum_of("paid") - clawed("recovered_pence"),
                "paid out is the paid charges, each once, less what was recovered"
            );
            assert_eq!(
                -w.balance("recoverable").await,
                clawed("outstanding_pence"),
                "providers owe back what is clawed back and not yet recovered"
            );
        }
    }
    let remittances = json_of(
        get(&w.app, &w.admin, "/v1/ledger/remittances?limit=200").await,
        200,
    )
    .await;
    assert_eq!(remittances["next_cursor"], Value::Null);
    let remitted: i64 = remittances["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount_pence"].as_i64().unwrap())
        .sum();
    assert_eq!(remitted, w.balance("paid_out").await);
    assert!(clawed_back > 0, "the operations included clawbacks");
}

#[tokio::test]
async fn a_ledger_read_account_reads_the_whole_ledger_and_moves_no_money() {
    let w = world("ledger-reader").await;
    w.top_up(10_000).await;
    let charge = w.deliver("session_attended", 5, 1).await;
    json_of(w.approve(&charge).await, 200).await;
    let cut_off = Utc::now().date_naive() - Duration::days(1);
    json_of(
        w.money(
            "/v1/ledger/payment-runs",
            &Uuid::now_v7().to_string(),
            json!({"cut_off": cut_off}),
        )
        .await,
        201,
    )
    .await;
    let reader = w
        .app
        .as_service_account(w.federation, &[waymark_domain::ServiceScope::LedgerRead])
        .await;
    let today = Utc::now().date_naive();
    // It sees what the federation's administrators see.
    for path in [
        "/v1/ledger/accounts".to_owned(),
        "/v1/ledger/transfers".to_owned(),
        "/v1/ledger/reconciliation".to_owned(),
        "/v1/ledger/charges".to_owned(),
        "/v1/ledger/payment-runs".to_owned(),
        "/v1/ledger/remittances".to_owned(),
        "/v1/ledger/tariffs".to_owned(),
        "/v1/ledger/clawbacks".to_owned(),
        "/v1/ledger/settings".to_owned(),
        format!(
            "/v1/ledger/statements/{}?from={}&to={today}",
            w.organisation,
            today - Duration::days(30)
        ),
    ] {
        let as_reader = json_of(get(&w.app, &reader, &path).await, 200).await;
        let as_admin = json_of(get(&w.app, &w.admin, &path).await, 200).await;
        assert_eq!(as_reader, as_admin, "{path}");
    }
    let transfers = json_of(get(&w.app, &reader, "/v1/ledger/transfers").await, 200).await;
    assert_eq!(
        transfers["items"].as_array().unwrap().len(),
        3,
        "{transfers}"
    );

    // Reading is all it does.
    for (path, body) in [
        (
            "/v1/ledger/top-ups".to_owned(),
            json!({"amount_pence": 100, "reference": "grant"}),
        ),
        (
            format!(
                "/v1/ledger/charges/{}/decision",
                charge["id"].as_str().unwrap()
            ),
            json!({"decision": "reject", "reason": "no"}),
        ),
        (
            "/v1/ledger/payment-runs".to_owned(),
            json!({"cut_off": cut_off}),
        ),
    ] {
        let attempt = w
            .app
            .post(&path)
            .bearer_auth(&reader)
            .header("Idempotency-Key", Uuid::now_v7().to_string())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(attempt, 403, "forbidden").await;
    }
    let settings = w
        .app
        .patch("/v1/ledger/settings")
        .bearer_auth(&reader)
        .header("If-Match", "\"1\"")
        .json(&json!({"fund_overdraft_allowed": true}))
        .send()
        .await
        .unwrap();
    assert_problem(settings, 403, "forbidden").await;
}

#[tokio::test]
async fn the_transfers_export_lists_every_entry_and_each_transfer_balances() {
    use crate::exports::csv_rows;
    let w = world("ledger-export").await;
    w.top_up(10_000).await;
    let charge = w.deliver("session_attended", 5, 1).await;
    json_of(w.approve(&charge).await, 200).await;
    json_of(
        w.money(
            "/v1/ledger/payment-runs",
            &Uuid::now_v7().to_string(),
            json!({"cut_off": Utc::now().date_naive() - Duration::days(1)}),
        )
        .await,
        201,
    )
    .await;
    let listed = json_of(get(&w.app, &w.admin, "/v1/ledger/transfers").await, 200).await;
    let mut listed: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    listed.sort();

    let rows = csv_rows(get(&w.app, &w.admin, "/v1/ledger/transfers/export").await).await;
    let mut by_transfer: std::collections::BTreeMap<&str, (i64, i64, i64)> = Default::default();
    for row in &rows {
        let amount: i64 = row["amount_pence"].parse().unwrap();
        let entry = by_transfer.entry(row["transfer_id"].as_str()).or_insert((
            row["transfer_amount_pence"].parse().unwrap(),
            0,
            0,
        ));
        match row["side"].as_str() {
            "debit" => entry.1 += amount,
            "credit" => entry.2 += amount,
            other => panic!("side {other}"),
        }
    }
    assert_eq!(by_transfer.keys().copied().collect::<Vec<_>>(), listed);
    for (transfer, (amount, debits, credits)) in &by_transfer {
        assert_eq!((debits, credits), (amount, amount), "{transfer}");
    }
    let kinds: std::collections::BTreeSet<&str> = rows.iter().map(|r| r["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        ["charge_approval", "payment", "top_up"]
            .into_iter()
            .collect()
    );

    // A ledger:read account exports the same; a provider may not export the whole ledger.
    let reader = w
        .app
        .as_service_account(w.federation, &[waymark_domain::ServiceScope::LedgerRead])
        .await;
    let as_reader = csv_rows(get(&w.app, &reader, "/v1/ledger/transfers/export").await).await;
    assert_eq!(as_reader, rows);
    assert_problem(
        get(&w.app, &w.provider, "/v1/ledger/transfers/export").await,
        403,
        "forbidden",
    )
    .await;
    let tomorrow = Utc::now().date_naive() + Duration::days(1);
    let none = csv_rows(
        get(
            &w.app,
            &w.admin,
            &format!("/v1/ledger/transfers/export?from={tomorrow}"),
        )
        .await,
    )
    .await;
    assert!(none.is_empty());
    assert_problem(
        get(
            &w.app,
            &w.admin,
            &format!(
                "/v1/ledger/transfers/export?from={tomorrow}&to={}",
                Utc::now().date_naive()
            ),
        )
        .await,
        400,
        "invalid_query_parameter",
    )
    .await;
}
