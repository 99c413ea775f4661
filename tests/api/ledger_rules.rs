//! The payment ledger's rules as a client meets them: concurrent and overlapping approvals post
//! each charge once, concurrent approvers beyond what the fund holds are refused exactly, another federation finds none of ours, each role reaches only what it may,
//! `Idempotency-Key`s replay the first answer and refuse another request, statements itemise
//! bulk approvals (and their CSV keeps text from becoming formulas), and dates beyond what the
//! database stores answer 4xx, never 500.

use crate::helpers::{assert_problem, spawn_app, TestApp};
use crate::journey::{
    get, json_of, post, practice, provider_service, record_activity, seen_referral, Practice,
};
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use reqwest::Response;
use serde_json::{json, Value};
use sqlx::Connection;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;
use waymark_domain::Role;

/// A provider organisation with a service (a 1500p `session_attended` tariff) and an accepted
/// onward referral to it, ready for activities.
pub(crate) struct Provider {
    pub(crate) token: String,
    pub(crate) organisation: Uuid,
    pub(crate) service: Uuid,
    pub(crate) onward: String,
}

/// A federation with one practice and one provider.
pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) practice: Practice,
    pub(crate) federation: Uuid,
    pub(crate) admin: String,
    pub(crate) provider: Provider,
}

/// Makes an onward referral from a new seen referral of `practice` to `service`, dates it 330
/// days back (activities are priced up to 300 days back, and cannot predate it) and has the
/// provider accept it.
pub(crate) async fn accepted_onward(
    app: &TestApp,
    practice: &Practice,
    service: Uuid,
    provider: &str,
    seed: u32,
) -> String {
    let (_, referral) = seen_referral(app, practice, seed).await;
    let onward = json_of(
        post(
            app,
            &practice.volunteer,
            &format!(
                "/v1/practices/{}/referrals/{referral}/onward-referrals",
                practice.id
            ),
            json!({"service_id": service}),
        )
        .await,
        201,
    )
    .await;
    let onward = onward["id"].as_str().unwrap().to_owned();
    // The service cannot change an onward referral's history, so the fixture does, as the
    // owner with triggers off (by SET LOCAL, which Citus passes on to the workers).
    let mut owner = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    let mut tx = owner.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE onward_referrals SET created_at = now() - interval '330 days' WHERE id = $1",
    )
    .bind(Uuid::parse_str(&onward).unwrap())
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    owner.close().await.ok();
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
    onward
}

pub(crate) async fn world(slug: &str) -> World {
    let app = spawn_app().await;
    let practice = practice(&app, slug).await;
    let federation = practice.federation;
    let provider = new_provider(&app, &practice, 1).await;
    World {
        admin: app.as_role(Role::FederationAdmin, federation, None),
        app,
        practice,
        federation,
        provider,
    }
}

pub(crate) async fn new_provider(app: &TestApp, practice: &Practice, seed: u32) -> Provider {
    let (service, token, organisation) = provider_service(app, practice.federation, true).await;
    let onward = accepted_onward(app, practice, service, &token, seed).await;
    Provider {
        token,
        organisation,
        service,
        onward,
    }
}

pub(crate) fn key() -> String {
    Uuid::now_v7().to_string()
}

pub(crate) fn id(value: &Value) -> &str {
    value["id"].as_str().expect("an id")
}

/// Records an activity under `onward` as the provider `token`, and answers the pending charge
/// the federation administrator `admin` finds for it.
pub(crate) async fn deliver(
    app: &TestApp,
    admin: &str,
    token: &str,
    onward: &str,
    activity: Value,
) -> Value {
    let activity = json_of(record_activity(app, token, onward, activity).await, 201).await;
    let charges = json_of(
        get(app, admin, "/v1/ledger/charges?status=pending&limit=200").await,
        200,
    )
    .await;
    charges["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["activity_id"] == activity["id"])
        .cloned()
        .expect("a pending charge for the activity")
}

pub(crate) fn today() -> NaiveDate {
    Utc::now().date_naive()
}

impl World {
    /// Records an activity as `provider` and answers its pending charge.
    pub(crate) async fn deliver(
        &self,
        provider: &Provider,
        activity_type: &str,
        days_ago: i64,
        quantity: i64,
    ) -> Value {
        deliver(
            &self.app,
            &self.admin,
            &provider.token,
            &provider.onward,
            json!({"activity_type": activity_type, "delivered_on": today() - Duration::days(days_ago), "quantity": quantity}),
        )
        .await
    }

    /// A money-moving POST as `token`, under `key`.
    pub(crate) async fn money_as(
        &self,
        token: &str,
        path: &str,
        key: &str,
        body: Value,
    ) -> Response {
        self.app
            .post(path)
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn money(&self, path: &str, key: &str, body: Value) -> Response {
        self.money_as(&self.admin, path, key, body).await
    }

    pub(crate) async fn top_up(&self, pence: i64) {
        json_of(
            self.money(
                "/v1/ledger/top-ups",
                &key(),
                json!({"amount_pence": pence, "reference": "grant"}),
            )
            .await,
            201,
        )
        .await;
    }

    pub(crate) async fn approve(&self, charge: &Value) -> Response {
        self.money(
            &format!("/v1/ledger/charges/{}/decision", id(charge)),
            &key(),
            json!({"decision": "approve"}),
        )
        .await
    }

    pub(crate) async fn approve_all(&self, ids: &[&str], key: &str) -> Response {
        self.money(
            "/v1/ledger/charges/decisions",
            key,
            json!({"decision": "approve", "charge_ids": ids}),
        )
        .await
    }

    pub(crate) async fn pay(&self, cut_off: NaiveDate) -> Value {
        json_of(
            self.money(
                "/v1/ledger/payment-runs",
                &key(),
                json!({"cut_off": cut_off}),
            )
            .await,
            201,
        )
        .await
    }

    pub(crate) async fn accounts(&self) -> Vec<Value> {
        json_of(
            get(&self.app, &self.admin, "/v1/ledger/accounts").await,
            200,
        )
        .await
        .as_array()
        .unwrap()
        .clone()
    }

    pub(crate) async fn balance(&self, kind: &str) -> i64 {
        self.accounts()
            .await
            .iter()
            .filter(|a| a["kind"] == kind)
            .map(|a| a["balance"]["pence"].as_i64().unwrap())
            .sum()
    }

    pub(crate) async fn payable_of(&self, organisation: Uuid) -> i64 {
        self.accounts()
            .await
            .iter()
            .filter(|a| a["kind"] == "payable" && a["organisation_id"] == json!(organisation))
            .map(|a| a["balance"]["pence"].as_i64().unwrap())
            .sum()
    }

    pub(crate) async fn reconciliation(&self) -> Value {
        json_of(
            get(&self.app, &self.admin, "/v1/ledger/reconciliation").await,
            200,
        )
        .await
    }

    pub(crate) async fn assert_balanced(&self) {
        let reconciliation = self.reconciliation().await;
        assert_eq!(reconciliation["balanced"], true, "{reconciliation}");
        assert_eq!(reconciliation["sum_of_balances"]["pence"], 0);
    }

    pub(crate) async fn transfers(&self) -> Vec<Value> {
        json_of(
            get(&self.app, &self.admin, "/v1/ledger/transfers?limit=200").await,
            200,
        )
        .await["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    pub(crate) async fn charge(&self, id: &str) -> Value {
        json_of(
            get(&self.app, &self.admin, &format!("/v1/ledger/charges/{id}")).await,
            200,
        )
        .await
    }

    /// What the money looks like: every account's debits, credits and balance, the
    /// reconciliation and every transfer.
    pub(crate) async fn money_snapshot(&self) -> (BTreeMap<String, Value>, Value, Vec<Value>) {
        let accounts = self
            .accounts()
            .await
            .into_iter()
            .map(|a| (a["id"].as_str().unwrap().to_owned(), a))
            .collect();
        (
            accounts,
            self.reconciliation().await,
            self.transfers().await,
        )
    }
}

/// Asserts a client error (4xx) as problem+json, and answers its body.
async fn assert_client_error(response: Response) -> Value {
    let status = response.status().as_u16();
    let url = response.url().to_string();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.text().await.unwrap();
    assert!((400..500).contains(&status), "{url}: {status} {body}");
    assert_eq!(content_type, "application/problem+json", "{url}: {body}");
    let body: Value = serde_json::from_str(&body).expect("a problem body");
    assert!(body["code"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(body["status"], status);
    body
}

/// The records of a CSV document (RFC 4180: quoted fields may hold commas, quotes and line
/// breaks).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[tokio::test]
async fn parallel_approvals_of_one_charge_pay_it_once_and_the_others_hear_it_is_approved() {
    let w = world("rules-one-charge").await;
    w.top_up(10_000).await;
    let charge = w.deliver(&w.provider, "session_attended", 1, 1).await;

    let responses = futures_util::future::join_all((0..6).map(|_| w.approve(&charge))).await;
    let mut winners = Vec::new();
    let mut losers = 0;
    for response in responses {
        match response.status().as_u16() {
            200 => winners.push(json_of(response, 200).await),
            409 => {
                let problem = assert_problem(response, 409, "illegal_transition").await;
                assert_eq!(problem["current_state"], "approved", "{problem}");
                losers += 1;
            }
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    assert_eq!((winners.len(), losers), (1, 5));
    let winner = &winners[0];
    assert_eq!(winner["charges"][0]["status"], "approved");
    assert_eq!(winner["amount_pence"], 1500);

    let stored = w.charge(id(&charge)).await;
    assert_eq!(stored["status"], "approved");
    assert_eq!(stored["approval_transfer_id"], winner["transfer_id"]);
    assert_eq!(w.balance("fund").await, 10_000 - 1500);
    assert_eq!(w.balance("payable").await, 1500);
    assert_eq!(w.balance("commissioner").await, -10_000);
    let approvals: Vec<Value> = w
        .transfers()
        .await
        .into_iter()
        .filter(|t| t["kind"] == "charge_approval")
        .collect();
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0]["id"], winner["transfer_id"]);
    assert_eq!(approvals[0]["amount"]["pence"], 1500);
    w.assert_balanced().await;
}

#[tokio::test]
async fn sixty_four_concurrent_approvers_against_a_fund_for_twenty_exactly_twenty_are_paid() {
    let w = world("rules-sixty-four").await;
    let other_instance = w.app.another_instance().await;
    let mut charges = Vec::new();
    for n in 0..64 {
        charges.push(
            w.deliver(&w.provider, "session_attended", 1 + n % 200, 1)
                .await,
        );
    }
    // 1500p each: the fund pays exactly twenty.
    w.top_up(20 * 1500).await;

    let keys: Vec<String> = charges.iter().map(|_| key()).collect();
    let approve = |n: usize| {
        // Half the approvers reach the other instance, as behind a load balancer.
        let app = if n.is_multiple_of(2) {
            &w.app
        } else {
            &other_instance
        };
        app.post(&format!("/v1/ledger/charges/{}/decision", id(&charges[n])))
            .bearer_auth(&w.admin)
            .header("Idempotency-Key", &keys[n])
            .json(&json!({"decision": "approve"}))
            .send()
    };
    let responses = futures_util::future::join_all((0..64).map(approve)).await;
    let mut approved = BTreeSet::new();
    let mut refused = BTreeSet::new();
    for (n, response) in responses.into_iter().enumerate() {
        let response = response.unwrap();
        match response.status().as_u16() {
            200 => {
                let body = json_of(response, 200).await;
                assert_eq!(body["amount_pence"], 1500);
                assert_eq!(body["charges"][0]["id"], charges[n]["id"]);
                approved.insert(n);
            }
            409 => {
                let problem = assert_problem(response, 409, "insufficient_funds").await;
                assert_eq!(problem["shortfall_pence"], 1500, "{problem}");
                refused.insert(n);
            }
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    assert_eq!((approved.len(), refused.len()), (20, 44));
    assert_eq!(w.balance("fund").await, 0);
    assert_eq!(w.balance("payable").await, 20 * 1500);
    for (n, charge) in charges.iter().enumerate() {
        let stored = w.charge(id(charge)).await;
        let expected = if approved.contains(&n) {
            "approved"
        } else {
            "pending"
        };
        assert_eq!(stored["status"], expected, "charge {n}");
    }
    let approvals = w
        .transfers()
        .await
        .into_iter()
        .filter(|t| t["kind"] == "charge_approval")
        .count();
    assert_eq!(approvals, 20);
    w.assert_balanced().await;

    // A refused request moved nothing and kept nothing: once the fund can pay, the same key
    // approves, and a retry of an approved one replays its answer.
    w.top_up(1500).await;
    let retried = *refused.iter().next().unwrap();
    let response = approve(retried).await.unwrap();
    assert_eq!(response.status(), 200);
    let replayed = approve(*approved.iter().next().unwrap()).await.unwrap();
    assert_eq!(replayed.status(), 200);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(w.balance("fund").await, 0);
    w.assert_balanced().await;
}

#[tokio::test]
async fn concurrent_retries_under_one_key_approve_once_and_all_hear_the_same_answer() {
    let w = world("rules-same-key").await;
    w.top_up(10_000).await;
    let charge = w.deliver(&w.provider, "session_attended", 1, 1).await;
    let other = w.deliver(&w.provider, "session_attended", 2, 1).await;
    let shared = key();
    let send = |target: &Value| {
        w.app
            .post(&format!("/v1/ledger/charges/{}/decision", id(target)))
            .bearer_auth(&w.admin)
            .header("Idempotency-Key", &shared)
            .json(&json!({"decision": "approve"}))
            .send()
    };
    // Eight retries of one request, and two other requests under the same key.
    let mut requests: Vec<_> = (0..8).map(|_| send(&charge)).collect();
    requests.push(send(&other));
    requests.push(send(&other));
    let responses = futures_util::future::join_all(requests).await;
    // Whichever request the key met first is the one it names: all its retries hear the same
    // answer, and the other request under that key is refused.
    let (mut answers, mut refused) = (Vec::new(), Vec::new());
    for (n, response) in responses.into_iter().enumerate() {
        let response = response.unwrap();
        let target = if n < 8 { &charge } else { &other };
        if response.status() == 200 {
            answers.push((target, json_of(response, 200).await));
        } else {
            assert_problem(response, 422, "idempotency_key_reused").await;
            refused.push(target);
        }
    }
    let (winner, first) = answers[0].clone();
    assert!(
        answers.iter().all(|(t, a)| t == &winner && a == &first),
        "{answers:?}"
    );
    assert!(refused.iter().all(|t| t != &winner));
    assert_eq!(answers.len(), if winner == &charge { 8 } else { 2 });
    assert_eq!(first["charges"][0]["status"], "approved");
    let loser = if winner == &charge { &other } else { &charge };
    assert_eq!(w.charge(id(loser)).await["status"], "pending");
    let approvals = w
        .transfers()
        .await
        .into_iter()
        .filter(|t| t["kind"] == "charge_approval")
        .count();
    assert_eq!(approvals, 1);
    assert_eq!(w.balance("fund").await, 10_000 - 1500);
    w.assert_balanced().await;
}

#[tokio::test]
async fn overlapping_bulk_approvals_in_parallel_are_each_all_or_nothing_and_approve_each_charge_once(
) {
    let w = world("rules-bulk-race").await;
    w.top_up(1_000_000).await;
    let mut charges = Vec::new();
    for quantity in 1..=8 {
        charges.push(
            w.deliver(&w.provider, "session_attended", 2, quantity)
                .await,
        );
    }
    let ids: Vec<&str> = charges.iter().map(id).collect();
    let amount_of: BTreeMap<&str, i64> = charges
        .iter()
        .map(|c| (id(c), c["amount_pence"].as_i64().unwrap()))
        .collect();
    let sets: Vec<Vec<usize>> = vec![
        vec![0, 1, 2, 3],
        vec![2, 3, 4, 5],
        vec![4, 5, 6, 7],
        vec![0, 7],
        vec![1, 6],
        (0..8).collect(),
        vec![3],
        vec![5, 6],
    ];
    let requests: Vec<Vec<&str>> = sets
        .iter()
        .map(|s| s.iter().map(|i| ids[*i]).collect())
        .collect();
    let keys: Vec<String> = requests.iter().map(|_| key()).collect();
    let responses = futures_util::future::join_all(
        requests
            .iter()
            .zip(&keys)
            .map(|(set, key)| w.approve_all(set, key)),
    )
    .await;

    // Each winner approved exactly its charges in one transfer; each loser approved nothing.
    let mut approved_by: BTreeMap<String, Value> = BTreeMap::new();
    let mut transfers = BTreeSet::new();
    let mut losers = 0;
    for (set, response) in requests.iter().zip(responses) {
        match response.status().as_u16() {
            200 => {
                let result = json_of(response, 200).await;
                let decided: BTreeSet<&str> = result["charges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        assert_eq!(c["status"], "approved");
                        assert_eq!(c["approval_transfer_id"], result["transfer_id"]);
                        id(c)
                    })
                    .collect();
                assert_eq!(decided, set.iter().copied().collect::<BTreeSet<_>>());
                let total: i64 = set.iter().map(|i| amount_of[i]).sum();
                assert_eq!(result["amount_pence"], total);
                for charge in set {
                    let earlier =
                        approved_by.insert((*charge).to_owned(), result["transfer_id"].clone());
                    assert!(
                        earlier.is_none(),
                        "charge {charge} approved by two requests"
                    );
                }
                transfers.insert(result["transfer_id"].as_str().unwrap().to_owned());
            }
            409 => {
                let problem = assert_problem(response, 409, "illegal_transition").await;
                assert_eq!(problem["current_state"], "approved", "{problem}");
                losers += 1;
            }
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    assert!(!transfers.is_empty(), "some request wins");
    assert!(losers > 0, "the sets overlap, so some request loses");

    // A loser's charges that no winner took are still pending; approve them now.
    let mut rest = Vec::new();
    for charge in &ids {
        let stored = w.charge(charge).await;
        match approved_by.get(*charge) {
            Some(transfer) => {
                assert_eq!(stored["status"], "approved");
                assert_eq!(&stored["approval_transfer_id"], transfer);
            }
            None => {
                assert_eq!(stored["status"], "pending", "{stored}");
                rest.push(*charge);
            }
        }
    }
    if !rest.is_empty() {
        let last = json_of(w.approve_all(&rest, &key()).await, 200).await;
        transfers.insert(last["transfer_id"].as_str().unwrap().to_owned());
    }

    let total: i64 = amount_of.values().sum();
    let all = json_of(
        get(&w.app, &w.admin, "/v1/ledger/charges?limit=200").await,
        200,
    )
    .await;
    let all = all["items"].as_array().unwrap();
    assert_eq!(all.len(), 8);
    assert!(all.iter().all(|c| c["status"] == "approved"), "{all:?}");
    let approvals: Vec<Value> = w
        .transfers()
        .await
        .into_iter()
        .filter(|t| t["kind"] == "charge_approval")
        .collect();
    let posted: BTreeSet<String> = approvals
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        posted, transfers,
        "one approval transfer per winning request"
    );
    let transferred: i64 = approvals
        .iter()
        .map(|t| t["amount"]["pence"].as_i64().unwrap())
        .sum();
    assert_eq!(transferred, total);
    assert_eq!(w.balance("payable").await, total);
    assert_eq!(w.balance("fund").await, 1_000_000 - total);
    w.assert_balanced().await;
}

#[tokio::test]
async fn another_federations_administrator_finds_none_of_our_ledger() {
    let w = world("rules-tenancy").await;
    w.top_up(100_000).await;
    let paid = w.deliver(&w.provider, "session_attended", 10, 1).await;
    let approved = w.deliver(&w.provider, "session_attended", 1, 1).await;
    let pending = w.deliver(&w.provider, "session_attended", 1, 2).await;
    json_of(w.approve(&paid).await, 200).await;
    json_of(w.approve(&approved).await, 200).await;
    let run = w.pay(today() - Duration::days(5)).await;
    assert_eq!(run["charge_count"], 1);
    let run_id = id(&run).to_owned();
    let remittance_id = run["remittances"][0]["id"].as_str().unwrap().to_owned();
    let tariffs = json_of(get(&w.app, &w.admin, "/v1/ledger/tariffs").await, 200).await;
    let tariff_id = id(&tariffs["items"][0]).to_owned();
    let before = w.money_snapshot().await;

    let other = w.app.create_federation("rules-tenancy-elsewhere").await;
    let foreign = w.app.as_role(Role::FederationAdmin, other.id, None);
    let to = today();
    let from = to - Duration::days(30);
    for path in [
        format!("/v1/ledger/charges/{}", id(&paid)),
        format!("/v1/ledger/charges/{}", id(&pending)),
        format!("/v1/ledger/payment-runs/{run_id}"),
        format!("/v1/ledger/remittances/{remittance_id}"),
        format!(
            "/v1/ledger/statements/{}?from={from}&to={to}",
            w.provider.organisation
        ),
        format!("/v1/ledger/tariffs/{tariff_id}"),
    ] {
        let response = get(&w.app, &foreign, &path).await;
        assert_problem(response, 404, "not_found").await;
    }
    let reversal = w
        .money_as(
            &foreign,
            &format!("/v1/ledger/charges/{}/reversal", id(&approved)),
            &key(),
            json!({"reason": "Not ours to take back"}),
        )
        .await;
    assert_problem(reversal, 404, "not_found").await;
    let decision = w
        .money_as(
            &foreign,
            &format!("/v1/ledger/charges/{}/decision", id(&pending)),
            &key(),
            json!({"decision": "approve"}),
        )
        .await;
    assert_problem(decision, 404, "not_found").await;
    let decisions = w
        .money_as(
            &foreign,
            "/v1/ledger/charges/decisions",
            &key(),
            json!({"decision": "approve", "charge_ids": [id(&pending)]}),
        )
        .await;
    let problem = assert_problem(decisions, 422, "validation_failed").await;
    let fields: Vec<&Value> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["field"])
        .collect();
    assert_eq!(fields, [&json!("charge_ids")], "{problem}");

    for list in [
        "/v1/ledger/charges",
        "/v1/ledger/payment-runs",
        "/v1/ledger/remittances",
        "/v1/ledger/tariffs",
        "/v1/ledger/transfers",
    ] {
        let page = json_of(get(&w.app, &foreign, list).await, 200).await;
        let items = page["items"].as_array().unwrap();
        let ours = |item: &&Value| {
            item["id"] == json!(id(&paid))
                || item["id"] == json!(run_id)
                || item["id"] == json!(remittance_id)
                || item["id"] == json!(tariff_id)
                || item["organisation_id"] == json!(w.provider.organisation)
                || before.2.iter().any(|t| t["id"] == item["id"])
        };
        assert!(!items.iter().any(|i| ours(&i)), "{list}: {page}");
        assert!(items.is_empty(), "{list}: {page}");
    }
    let their_accounts = json_of(get(&w.app, &foreign, "/v1/ledger/accounts").await, 200).await;
    assert!(their_accounts
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["organisation_id"].is_null() && a["balance"]["pence"] == 0));

    // Their payment run pays nothing of ours.
    let theirs = json_of(
        w.money_as(
            &foreign,
            "/v1/ledger/payment-runs",
            &key(),
            json!({"cut_off": today()}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(theirs["charge_count"], 0);
    assert_eq!(theirs["total_pence"], 0);

    // Nothing of ours moved.
    assert_eq!(w.charge(id(&approved)).await["status"], "approved");
    assert_eq!(w.charge(id(&pending)).await["status"], "pending");
    assert_eq!(w.money_snapshot().await, before);
    w.assert_balanced().await;
}

#[tokio::test]
async fn each_role_reaches_only_the_ledger_it_may_and_providers_only_their_own() {
    let w = world("rules-roles").await;
    let other = new_provider(&w.app, &w.practice, 2).await;
    w.top_up(100_000).await;
    let ours = w.deliver(&w.provider, "session_attended", 3, 1).await;
    let theirs = w.deliver(&other, "session_attended", 3, 2).await;
    let pending = w.deliver(&w.provider, "session_attended", 1, 1).await;
    json_of(w.approve(&ours).await, 200).await;
    json_of(w.approve(&theirs).await, 200).await;
    let run = w.pay(today()).await;
    let remittance_of = |organisation: Uuid| -> String {
        run["remittances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["organisation_id"] == json!(organisation))
            .map(|r| id(r).to_owned())
            .expect("a remittance")
    };
    let (our_remittance, their_remittance) = (
        remittance_of(w.provider.organisation),
        remittance_of(other.organisation),
    );
    let tariffs = json_of(get(&w.app, &w.admin, "/v1/ledger/tariffs").await, 200).await;
    let tariff_id = id(&tariffs["items"][0]).to_owned();
    let before = w.money_snapshot().await;
    let (from, to) = (today() - Duration::days(7), today());

    // A provider neither moves money nor sees the federation's books.
    let provider = &w.provider.token;
    for (path, body) in [
        (
            "/v1/ledger/top-ups".to_owned(),
            json!({"amount_pence": 100, "reference": "mine"}),
        ),
        (
            "/v1/ledger/payment-runs".to_owned(),
            json!({"cut_off": today()}),
        ),
        (
            "/v1/ledger/charges/decisions".to_owned(),
            json!({"decision": "approve", "charge_ids": [id(&pending)]}),
        ),
        (
            format!("/v1/ledger/charges/{}/decision", id(&pending)),
            json!({"decision": "approve"}),
        ),
    ] {
        let response = w.money_as(provider, &path, &key(), body).await;
        assert_problem(response, 403, "forbidden").await;
    }
    for path in [
        "/v1/ledger/accounts",
        "/v1/ledger/transfers",
        "/v1/ledger/reconciliation",
        "/v1/ledger/payment-runs",
        "/v1/ledger/settings",
    ] {
        assert_problem(get(&w.app, provider, path).await, 403, "forbidden").await;
    }

    // It sees its own charges, remittance and statement, and nobody else's.
    let own = json_of(
        get(&w.app, provider, "/v1/ledger/charges?limit=200").await,
        200,
    )
    .await;
    let own_ids: BTreeSet<&str> = own["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(own_ids, BTreeSet::from([id(&ours), id(&pending)]));
    let filtered = json_of(
        get(
            &w.app,
            provider,
            &format!("/v1/ledger/charges?organisation_id={}", other.organisation),
        )
        .await,
        200,
    )
    .await;
    assert!(filtered["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["organisation_id"] == json!(w.provider.organisation)));
    json_of(
        get(
            &w.app,
            provider,
            &format!("/v1/ledger/charges/{}", id(&ours)),
        )
        .await,
        200,
    )
    .await;
    json_of(
        get(
            &w.app,
            provider,
            &format!("/v1/ledger/remittances/{our_remittance}"),
        )
        .await,
        200,
    )
    .await;
    for path in [
        format!("/v1/ledger/charges/{}", id(&theirs)),
        format!("/v1/ledger/remittances/{their_remittance}"),
        format!(
            "/v1/ledger/statements/{}?from={from}&to={to}",
            other.organisation
        ),
    ] {
        assert_problem(get(&w.app, provider, &path).await, 404, "not_found").await;
    }
    let remittances = json_of(get(&w.app, provider, "/v1/ledger/remittances").await, 200).await;
    let listed: Vec<&str> = remittances["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(listed, [our_remittance.as_str()]);
    let everyone = json_of(get(&w.app, &w.admin, "/v1/ledger/remittances").await, 200).await;
    assert_eq!(everyone["items"].as_array().unwrap().len(), 2);

    // Practice staff and commissioners have no part in the ledger, whatever the id.
    let p = &w.practice;
    let commissioner = w.app.as_role(Role::Commissioner, w.federation, None);
    let reads = [
        "/v1/ledger/charges".to_owned(),
        format!("/v1/ledger/charges/{}", id(&ours)),
        format!("/v1/ledger/charges/{}", Uuid::now_v7()),
        "/v1/ledger/tariffs".to_owned(),
        format!("/v1/ledger/tariffs/{tariff_id}"),
        "/v1/ledger/remittances".to_owned(),
        format!("/v1/ledger/remittances/{our_remittance}"),
        format!(
            "/v1/ledger/statements/{}?from={from}&to={to}",
            w.provider.organisation
        ),
        "/v1/ledger/payment-runs".to_owned(),
        format!("/v1/ledger/payment-runs/{}", id(&run)),
        "/v1/ledger/accounts".to_owned(),
        "/v1/ledger/transfers".to_owned(),
        "/v1/ledger/reconciliation".to_owned(),
        "/v1/ledger/settings".to_owned(),
    ];
    for (role, token) in [
        ("clinician", &p.clinician),
        ("volunteer", &p.volunteer),
        ("practice_admin", &p.admin),
        ("commissioner", &commissioner),
    ] {
        for path in &reads {
            let response = get(&w.app, token, path).await;
            assert_eq!(response.status(), 403, "{role} GET {path}");
            assert_problem(response, 403, "forbidden").await;
        }
        for (path, body) in [
            (
                "/v1/ledger/top-ups".to_owned(),
                json!({"amount_pence": 100, "reference": "grant"}),
            ),
            (
                "/v1/ledger/charges/decisions".to_owned(),
                json!({"decision": "approve", "charge_ids": [id(&pending)]}),
            ),
            (
                format!("/v1/ledger/charges/{}/decision", id(&pending)),
                json!({"decision": "approve"}),
            ),
            (
                format!("/v1/ledger/charges/{}/reversal", id(&ours)),
                json!({"reason": "no"}),
            ),
            (
                "/v1/ledger/payment-runs".to_owned(),
                json!({"cut_off": today()}),
            ),
        ] {
            let response = w.money_as(token, &path, &key(), body).await;
            assert_eq!(response.status(), 403, "{role} POST {path}");
            assert_problem(response, 403, "forbidden").await;
        }
        let tariff = post(
            &w.app,
            token,
            "/v1/ledger/tariffs",
            json!({"service_id": w.provider.service, "activity_type": "course_completed", "unit_price_pence": 1, "effective_from": today()}),
        )
        .await;
        assert_problem(tariff, 403, "forbidden").await;
    }
    assert_eq!(w.charge(id(&pending)).await["status"], "pending");
    assert_eq!(w.money_snapshot().await, before);
}

#[tokio::test]
async fn a_reused_idempotency_key_is_refused_for_another_request_and_replays_the_first_answer_without_moving_money(
) {
    let w = world("rules-idempotency").await;
    w.top_up(100_000).await;
    let first = w.deliver(&w.provider, "session_attended", 2, 1).await;
    let second = w.deliver(&w.provider, "session_attended", 2, 2).await;
    let third = w.deliver(&w.provider, "session_attended", 2, 3).await;

    // Bulk decisions.
    let decision_key = key();
    let batch = json!({"decision": "approve", "charge_ids": [id(&first), id(&second)]});
    let decided = w
        .money("/v1/ledger/charges/decisions", &decision_key, batch.clone())
        .await;
    assert!(decided.headers().get("idempotent-replayed").is_none());
    let decided = json_of(decided, 200).await;
    let snapshot = w.money_snapshot().await;
    let other_batch = w
        .money(
            "/v1/ledger/charges/decisions",
            &decision_key,
            json!({"decision": "approve", "charge_ids": [id(&third)]}),
        )
        .await;
    assert_problem(other_batch, 422, "idempotency_key_reused").await;
    assert_eq!(w.charge(id(&third)).await["status"], "pending");
    let replay = w
        .money("/v1/ledger/charges/decisions", &decision_key, batch)
        .await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(replay, 200).await, decided);
    assert_eq!(w.money_snapshot().await, snapshot);

    // Reversals.
    json_of(w.approve(&third).await, 200).await;
    let reversal_key = key();
    let reversal_path = format!("/v1/ledger/charges/{}/reversal", id(&third));
    let reversed = json_of(
        w.money(
            &reversal_path,
            &reversal_key,
            json!({"reason": "Recorded twice"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(reversed["charges"][0]["status"], "reversed");
    let snapshot = w.money_snapshot().await;
    let other_reason = w
        .money(
            &reversal_path,
            &reversal_key,
            json!({"reason": "Not delivered"}),
        )
        .await;
    assert_problem(other_reason, 422, "idempotency_key_reused").await;
    let other_charge = w
        .money(
            &format!("/v1/ledger/charges/{}/reversal", id(&first)),
            &reversal_key,
            json!({"reason": "Recorded twice"}),
        )
        .await;
    assert_problem(other_charge, 422, "idempotency_key_reused").await;
    assert_eq!(w.charge(id(&first)).await["status"], "approved");
    let replay = w
        .money(
            &reversal_path,
            &reversal_key,
            json!({"reason": "Recorded twice"}),
        )
        .await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(replay, 200).await, reversed);
    assert_eq!(w.money_snapshot().await, snapshot);

    // Payment runs.
    let run_key = key();
    let cut_off = today() - Duration::days(1);
    let run = json_of(
        w.money(
            "/v1/ledger/payment-runs",
            &run_key,
            json!({"cut_off": cut_off}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(run["charge_count"], 2);
    let snapshot = w.money_snapshot().await;
    let other_run = w
        .money(
            "/v1/ledger/payment-runs",
            &run_key,
            json!({"cut_off": cut_off - Duration::days(1)}),
        )
        .await;
    assert_problem(other_run, 422, "idempotency_key_reused").await;
    assert_eq!(w.money_snapshot().await, snapshot);

    // Top-ups.
    let top_up_key = key();
    json_of(
        w.money(
            "/v1/ledger/top-ups",
            &top_up_key,
            json!({"amount_pence": 1_000, "reference": "tranche 2"}),
        )
        .await,
        201,
    )
    .await;
    let snapshot = w.money_snapshot().await;
    let other_top_up = w
        .money(
            "/v1/ledger/top-ups",
            &top_up_key,
            json!({"amount_pence": 2_000, "reference": "tranche 2"}),
        )
        .await;
    assert_problem(other_top_up, 422, "idempotency_key_reused").await;
    assert_eq!(w.money_snapshot().await, snapshot);
    w.assert_balanced().await;
}

#[tokio::test]
async fn a_bulk_approval_shows_in_the_statement_one_line_per_charge_and_the_csv_keeps_names_from_running_as_formulas(
) {
    let w = world("rules-statements").await;
    w.top_up(100_000).await;
    json_of(
        post(
            &w.app,
            &w.admin,
            "/v1/ledger/tariffs",
            json!({"service_id": w.provider.service, "activity_type": "course_completed", "unit_price_pence": 2_250, "effective_from": today() - Duration::days(100)}),
        )
        .await,
        201,
    )
    .await;

    // The provider renames its own service to something a spreadsheet would run.
    let name = r#"=HYPERLINK("https://example.org/x","Claim")"#;
    let service_path = format!("/v1/directory/services/{}", w.provider.service);
    let read = get(&w.app, &w.provider.token, &service_path).await;
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    let renamed = w
        .app
        .patch(&service_path)
        .bearer_auth(&w.provider.token)
        .header("If-Match", etag)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(renamed, 200).await["name"], name);

    let charges = [
        w.deliver(&w.provider, "session_attended", 5, 1).await,
        w.deliver(&w.provider, "course_completed", 4, 2).await,
        w.deliver(&w.provider, "session_attended", 3, 3).await,
    ];
    let by_id: BTreeMap<&str, &Value> = charges.iter().map(|c| (id(c), c)).collect();
    let payable_before = w.payable_of(w.provider.organisation).await;
    let ids: Vec<&str> = charges.iter().map(id).collect();
    let approval = json_of(w.approve_all(&ids, &key()).await, 200).await;
    let movement = w.payable_of(w.provider.organisation).await - payable_before;
    assert_eq!(movement, 1_500 + 2 * 2_250 + 3 * 1_500);
    assert_eq!(approval["amount_pence"], movement);

    let (from, to) = (today() - Duration::days(1), today() + Duration::days(1));
    let path = format!(
        "/v1/ledger/statements/{}?from={from}&to={to}",
        w.provider.organisation
    );
    let statement = json_of(get(&w.app, &w.provider.token, &path).await, 200).await;
    let entries = statement["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "one line per charge: {statement}");
    for entry in entries {
        let charge = by_id[entry["charge_id"].as_str().expect("a charge id")];
        assert_eq!(entry["kind"], "charge_approval");
        assert_eq!(entry["transfer_id"], approval["transfer_id"]);
        assert_eq!(entry["activity_type"], charge["activity_type"]);
        assert_eq!(entry["delivered_on"], charge["delivered_on"]);
        assert_eq!(entry["quantity"], charge["quantity"]);
        assert_eq!(entry["unit_pence"], charge["unit_pence"]);
        assert_eq!(entry["amount_pence"], charge["amount_pence"]);
        assert_eq!(entry["service_name"], name);
    }
    let listed: BTreeSet<&str> = entries
        .iter()
        .map(|e| e["charge_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids.iter().copied().collect::<BTreeSet<_>>());
    let lines: i64 = entries
        .iter()
        .map(|e| e["amount_pence"].as_i64().unwrap())
        .sum();
    assert_eq!(lines, movement);
    let opening = statement["opening_balance_pence"].as_i64().unwrap();
    let closing = statement["closing_balance_pence"].as_i64().unwrap();
    assert_eq!(opening + lines, closing);
    assert_eq!(closing, w.payable_of(w.provider.organisation).await);
    // The next period opens where this one closed.
    let later = json_of(
        get(
            &w.app,
            &w.provider.token,
            &format!(
                "/v1/ledger/statements/{}?from={}&to={}",
                w.provider.organisation,
                to + Duration::days(1),
                to + Duration::days(1)
            ),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(later["opening_balance_pence"], closing);
    assert_eq!(later["closing_balance_pence"], closing);

    // The CSV has the same rows between its opening and closing balance rows.
    let csv = w
        .app
        .get(&format!("{path}&format=csv"))
        .bearer_auth(&w.provider.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let rows = parse_csv(&csv.text().await.unwrap());
    let header = &rows[0];
    assert_eq!(
        header,
        &[
            "posted_at",
            "kind",
            "amount_pence",
            "charge_id",
            "service_name",
            "activity_type",
            "delivered_on",
            "quantity",
            "unit_pence",
            "payment_run_id",
            "transfer_id",
            "reason"
        ]
    );
    let column = |row: &[String], name: &str| -> String {
        row[header.iter().position(|h| h == name).unwrap()].clone()
    };
    assert!(rows.iter().all(|r| r.len() == header.len()), "{rows:?}");
    // The balance section, then the (empty) section of what is owed back.
    assert_eq!(rows.len(), 2 + entries.len() + 1 + 2, "{rows:?}");
    let (first, last) = (&rows[1], &rows[rows.len() - 3]);
    assert_eq!(column(first, "kind"), "opening_balance");
    assert_eq!(column(first, "amount_pence"), opening.to_string());
    assert_eq!(column(last, "kind"), "closing_balance");
    assert_eq!(column(last, "amount_pence"), closing.to_string());
    assert_eq!(column(&rows[rows.len() - 2], "kind"), "opening_owed_back");
    assert_eq!(column(&rows[rows.len() - 1], "kind"), "closing_owed_back");
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for (row, entry) in rows[2..rows.len() - 3].iter().zip(entries) {
        for field in [
            "kind",
            "amount_pence",
            "charge_id",
            "activity_type",
            "delivered_on",
            "quantity",
            "unit_pence",
            "payment_run_id",
            "transfer_id",
        ] {
            assert_eq!(
                column(row, field),
                text(&entry[field]),
                "{field} of {row:?}"
            );
        }
        let posted: DateTime<FixedOffset> =
            DateTime::parse_from_rfc3339(&column(row, "posted_at")).unwrap();
        let expected: DateTime<FixedOffset> =
            DateTime::parse_from_rfc3339(entry["posted_at"].as_str().unwrap()).unwrap();
        assert_eq!(posted, expected);
        assert_eq!(column(row, "service_name"), format!("'{name}"));
    }
    assert!(
        rows.iter().flatten().all(|cell| !cell.starts_with('=')),
        "no cell starts a formula: {rows:?}"
    );
    w.assert_balanced().await;
}

#[tokio::test]
async fn dates_beyond_what_the_database_stores_answer_a_client_error_never_a_server_error() {
    let w = world("rules-far-dates").await;
    w.top_up(10_000).await;
    // The provider has a payable account, so its statement reaches the ledger's entries.
    let charge = w.deliver(&w.provider, "session_attended", 1, 1).await;
    json_of(w.approve(&charge).await, 200).await;
    let before = w.money_snapshot().await;

    // -5000-01-01 to -4999-12-31 is two years: too long a period, whatever the year.
    let two_years = get(
        &w.app,
        &w.admin,
        &format!(
            "/v1/ledger/statements/{}?from=-5000-01-01&to=-4999-12-31",
            w.provider.organisation
        ),
    )
    .await;
    let problem = assert_client_error(two_years).await;
    assert!(
        ["value_out_of_range", "invalid_query_parameter"]
            .contains(&problem["code"].as_str().unwrap()),
        "{problem}"
    );
    // One year, 7,000 years ago: a period the database cannot hold.
    for (token, format) in [(&w.admin, "json"), (&w.provider.token, "csv")] {
        let statement = get(
            &w.app,
            token,
            &format!(
                "/v1/ledger/statements/{}?from=-5000-01-01&to=-5000-12-31&format={format}",
                w.provider.organisation
            ),
        )
        .await;
        let problem = assert_client_error(statement).await;
        assert_eq!(problem["code"], "value_out_of_range", "{problem}");
    }

    let run = w
        .money(
            "/v1/ledger/payment-runs",
            &key(),
            json!({"cut_off": "-5000-01-01"}),
        )
        .await;
    assert_client_error(run).await;

    let tariff = post(
        &w.app,
        &w.admin,
        "/v1/ledger/tariffs",
        json!({"service_id": w.provider.service, "activity_type": "course_completed", "unit_price_pence": 1_000, "effective_from": "-5000-01-01"}),
    )
    .await;
    assert_client_error(tariff).await;
    let ended_far = post(
        &w.app,
        &w.admin,
        "/v1/ledger/tariffs",
        json!({"service_id": w.provider.service, "activity_type": "course_completed", "unit_price_pence": 1_000, "effective_from": "-5000-01-01", "effective_to": "-4999-06-30"}),
    )
    .await;
    assert_client_error(ended_far).await;

    // Nothing was made or moved.
    let runs = json_of(get(&w.app, &w.admin, "/v1/ledger/payment-runs").await, 200).await;
    assert!(runs["items"].as_array().unwrap().is_empty(), "{runs}");
    let tariffs = json_of(get(&w.app, &w.admin, "/v1/ledger/tariffs").await, 200).await;
    assert_eq!(tariffs["items"].as_array().unwrap().len(), 1, "{tariffs}");
    assert_eq!(w.money_snapshot().await, before);
    w.assert_balanced().await;
}

/// One decision approving the charges of several providers moves each provider's money in a
/// transfer of its own, since a transfer names the one provider whose accounts it touches; the
/// decision is still all or none, against the fund as a whole.
#[tokio::test]
async fn a_decision_over_several_providers_charges_posts_a_transfer_per_provider() {
    let w = world("ledger-rules-several-providers").await;
    let second = new_provider(&w.app, &w.practice, 2).await;
    let charges = [
        w.deliver(&w.provider, "session_attended", 3, 1).await,
        w.deliver(&second, "session_attended", 3, 2).await,
        w.deliver(&w.provider, "session_attended", 2, 1).await,
    ];
    let ids: Vec<&str> = charges.iter().map(id).collect();
    // The fund holds less than the three together: nothing is decided.
    w.top_up(5_000).await;
    let short = w
        .money(
            "/v1/ledger/charges/decisions",
            &key(),
            json!({"decision": "approve", "charge_ids": ids}),
        )
        .await;
    assert_eq!(short.status(), 409, "{}", short.text().await.unwrap());
    w.top_up(1_000).await;
    let decided = json_of(
        w.money(
            "/v1/ledger/charges/decisions",
            &key(),
            json!({"decision": "approve", "charge_ids": ids}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(decided["transfer_id"], Value::Null, "{decided}");
    assert_eq!(decided["amount_pence"], 6_000);
    let transfer_of = |charge: &Value| {
        decided["charges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == charge["id"])
            .unwrap()["approval_transfer_id"]
            .clone()
    };
    assert_eq!(transfer_of(&charges[0]), transfer_of(&charges[2]));
    assert_ne!(transfer_of(&charges[0]), transfer_of(&charges[1]));
    let reconciliation = json_of(
        get(&w.app, &w.admin, "/v1/ledger/reconciliation").await,
        200,
    )
    .await;
    assert_eq!(reconciliation["balanced"], true, "{reconciliation}");
    // Each provider sees its own approval, and only that.
    for (provider, pence) in [(&w.provider, 3_000), (&second, 3_000)] {
        let statement = json_of(
            get(
                &w.app,
                &provider.token,
                &format!(
                    "/v1/ledger/statements/{}?from={}&to={}",
                    provider.organisation,
                    today() - Duration::days(30),
                    today()
                ),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(statement["closing_balance_pence"], pence, "{statement}");
    }
}
