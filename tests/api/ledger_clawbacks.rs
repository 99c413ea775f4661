//! Clawbacks of paid charges: raised in full or in part with a reason, refused for what is not
//! paid or not left, netted off the provider's next payment runs (never below zero, the rest
//! carried forward), shown in remittances and statements, and the ledger still reconciles.

use crate::helpers::assert_problem;
use crate::journey::{get, json_of};
use crate::ledger_rules::{id, key, today, world, World};
use serde_json::{json, Value};
use sqlx::Connection;
use waymark_domain::Role;

async fn claw_back(w: &World, charge: &Value, key: &str, body: Value) -> reqwest::Response {
    w.money(
        &format!("/v1/ledger/charges/{}/clawbacks", id(charge)),
        key,
        body,
    )
    .await
}

/// Delivers `count` 1500p charges, approves them and pays them in a run; answers the charges
/// and the run.
async fn paid_charges(w: &World, count: usize) -> (Vec<Value>, Value) {
    let mut charges = Vec::new();
    for n in 0..count {
        charges.push(
            w.deliver(&w.provider, "session_attended", 1 + n as i64, 1)
                .await,
        );
    }
    let ids: Vec<&str> = charges.iter().map(id).collect();
    json_of(w.approve_all(&ids, &key()).await, 200).await;
    let run = w.pay(today()).await;
    (charges, run)
}

async fn owed_back(w: &World) -> i64 {
    -w.balance("recoverable").await
}

#[tokio::test]
async fn clawbacks_are_netted_off_the_next_payments_and_never_pay_below_zero() {
    let w = world("clawback-netting").await;
    w.top_up(100_000).await;
    let (paid, _) = paid_charges(&w, 3).await;
    assert_eq!(w.balance("paid_out").await, 4_500);
    let fund_before = w.balance("fund").await;

    // In full: all that is left of the charge.
    let full = json_of(
        claw_back(
            &w,
            &paid[0],
            &key(),
            json!({"reason": "duplicate delivery"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(full["amount_pence"], 1500);
    assert_eq!(full["outstanding_pence"], 1500);
    assert_eq!(full["recovered_pence"], 0);
    assert_eq!(full["reason"], "duplicate delivery");
    assert_eq!(full["charge_id"], paid[0]["id"]);
    // In part, then more than is left, then the rest, then nothing is left.
    let part = json_of(
        claw_back(
            &w,
            &paid[1],
            &key(),
            json!({"amount_pence": 500, "reason": "priced at the wrong tariff"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(part["amount_pence"], 500);
    let too_much = claw_back(
        &w,
        &paid[1],
        &key(),
        json!({"amount_pence": 1001, "reason": "again"}),
    )
    .await;
    let problem = assert_problem(too_much, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "amount_pence", "{problem}");
    let rest = json_of(
        claw_back(&w, &paid[1], &key(), json!({"reason": "the rest of it"})).await,
        201,
    )
    .await;
    assert_eq!(rest["amount_pence"], 1000);
    let nothing_left = claw_back(&w, &paid[1], &key(), json!({"reason": "once more"})).await;
    assert_problem(nothing_left, 409, "already_clawed_back").await;

    // The provider owes 3,000 back; the fund has it again; nothing was paid back yet.
    assert_eq!(owed_back(&w).await, 3_000);
    assert_eq!(w.balance("fund").await, fund_before + 3_000);
    assert_eq!(w.balance("paid_out").await, 4_500);
    w.assert_balanced().await;

    // The next run owes the provider 1,500: all of it is netted off, nothing is paid, and
    // 1,500 is left owing.
    let (_, run) = paid_charges(&w, 1).await;
    assert_eq!(run["total_pence"], 0);
    assert_eq!(run["recovered_pence"], 1500);
    let remittance = &run["remittances"][0];
    assert_eq!(remittance["gross_pence"], 1500);
    assert_eq!(remittance["recovered_pence"], 1500);
    assert_eq!(remittance["amount_pence"], 0);
    let detail = json_of(
        get(
            &w.app,
            &w.admin,
            &format!("/v1/ledger/remittances/{}", id(remittance)),
        )
        .await,
        200,
    )
    .await;
    // The oldest clawback first.
    assert_eq!(
        detail["recoveries"],
        json!([{"clawback_id": full["id"], "charge_id": paid[0]["id"], "amount_pence": 1500}])
    );
    assert_eq!(owed_back(&w).await, 1_500);
    assert_eq!(w.balance("paid_out").await, 4_500);

    // The run after pays 3,000 less the 1,500 still owed.
    let (_, run) = paid_charges(&w, 2).await;
    let remittance = &run["remittances"][0];
    assert_eq!(remittance["gross_pence"], 3000);
    assert_eq!(remittance["recovered_pence"], 1500);
    assert_eq!(remittance["amount_pence"], 1500);
    assert_eq!(owed_back(&w).await, 0);
    // Paid out: every charge paid (9,000) less what was recovered (3,000).
    assert_eq!(w.balance("paid_out").await, 6_000);
    w.assert_balanced().await;

    let clawbacks = json_of(get(&w.app, &w.admin, "/v1/ledger/clawbacks").await, 200).await;
    let items = clawbacks["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(
        items.iter().all(|c| c["outstanding_pence"] == 0),
        "{items:?}"
    );
    let outstanding = json_of(
        get(&w.app, &w.admin, "/v1/ledger/clawbacks?outstanding=true").await,
        200,
    )
    .await;
    assert_eq!(outstanding["items"], json!([]));
    let of_charge = json_of(
        get(
            &w.app,
            &w.admin,
            &format!("/v1/ledger/clawbacks?charge_id={}", id(&paid[1])),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(of_charge["items"].as_array().unwrap().len(), 2);

    // The provider's statement shows each clawback and what each payment netted off.
    let statement = json_of(
        get(
            &w.app,
            &w.provider.token,
            &format!(
                "/v1/ledger/statements/{}?from={}&to={}",
                w.provider.organisation,
                today(),
                today()
            ),
        )
        .await,
        200,
    )
    .await;
    let kinds = |entries: &Value| -> Vec<(String, i64)> {
        entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["amount_pence"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let owed = kinds(&statement["owed_back_entries"]);
    assert_eq!(
        owed,
        [
            ("clawback".to_owned(), 1500),
            ("clawback".to_owned(), 500),
            ("clawback".to_owned(), 1000),
            ("clawback_netted".to_owned(), -1500),
            ("clawback_netted".to_owned(), -1500),
        ]
    );
    assert_eq!(statement["owed_back_opening_pence"], 0);
    assert_eq!(statement["owed_back_closing_pence"], 0);
    assert_eq!(
        statement["owed_back_entries"][0]["reason"],
        "duplicate delivery"
    );
    assert_eq!(
        statement["owed_back_entries"][0]["charge_id"],
        paid[0]["id"]
    );
    let balance = kinds(&statement["entries"]);
    let netted: Vec<i64> = balance
        .iter()
        .filter(|(k, _)| k == "clawback_netted")
        .map(|(_, a)| *a)
        .collect();
    assert_eq!(netted, [-1500, -1500]);
    let payments: Vec<i64> = balance
        .iter()
        .filter(|(k, _)| k == "payment")
        .map(|(_, a)| *a)
        .collect();
    assert_eq!(
        payments,
        [-4500, -1500],
        "the netted-to-nothing run pays no line"
    );
    let total: i64 = balance.iter().map(|(_, a)| a).sum();
    assert_eq!(
        statement["closing_balance_pence"].as_i64().unwrap(),
        statement["opening_balance_pence"].as_i64().unwrap() + total
    );
    assert_eq!(statement["closing_balance_pence"], 0);
}

#[tokio::test]
async fn only_administrators_claw_back_only_what_was_paid_and_a_retry_changes_nothing() {
    let w = world("clawback-rules").await;
    w.top_up(100_000).await;
    let (paid, _) = paid_charges(&w, 1).await;
    let approved = w.deliver(&w.provider, "session_attended", 5, 1).await;
    json_of(w.approve(&approved).await, 200).await;
    let pending = w.deliver(&w.provider, "session_attended", 6, 1).await;

    // Not paid: an approved charge is reversed instead, a pending one rejected.
    let problem = assert_problem(
        claw_back(&w, &approved, &key(), json!({"reason": "wrong"})).await,
        409,
        "illegal_transition",
    )
    .await;
    assert_eq!(problem["current_state"], "approved");
    let problem = assert_problem(
        claw_back(&w, &pending, &key(), json!({"reason": "wrong"})).await,
        409,
        "illegal_transition",
    )
    .await;
    assert_eq!(problem["current_state"], "pending");
    let unknown = w
        .money(
            &format!("/v1/ledger/charges/{}/clawbacks", uuid::Uuid::now_v7()),
            &key(),
            json!({"reason": "wrong"}),
        )
        .await;
    assert_problem(unknown, 404, "not_found").await;
    for body in [
        json!({"reason": " "}),
        json!({"reason": "x", "amount_pence": 0}),
        json!({"reason": "x", "amount_pence": -5}),
    ] {
        let response = claw_back(&w, &paid[0], &key(), body).await;
        assert_problem(response, 422, "validation_failed").await;
    }
    let no_key = w
        .app
        .post(&format!("/v1/ledger/charges/{}/clawbacks", id(&paid[0])))
        .bearer_auth(&w.admin)
        .json(&json!({"reason": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_problem(no_key, 400, "idempotency_key_required").await;
    for token in [
        w.provider.token.clone(),
        w.app.as_role(Role::Commissioner, w.federation, None),
    ] {
        let response = w
            .money_as(
                &token,
                &format!("/v1/ledger/charges/{}/clawbacks", id(&paid[0])),
                &key(),
                json!({"reason": "wrong"}),
            )
            .await;
        assert_problem(response, 403, "forbidden").await;
    }

    // A retry answers as the first time and claws back nothing more.
    let same = key();
    let body = json!({"amount_pence": 400, "reason": "wrong tariff"});
    let first = json_of(claw_back(&w, &paid[0], &same, body.clone()).await, 201).await;
    let again = claw_back(&w, &paid[0], &same, body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(json_of(again, 201).await, first);
    assert_eq!(owed_back(&w).await, 400);

    // The provider reads its own clawbacks; another federation's admin finds none.
    let own = json_of(
        get(&w.app, &w.provider.token, "/v1/ledger/clawbacks").await,
        200,
    )
    .await;
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    let one = json_of(
        get(
            &w.app,
            &w.provider.token,
            &format!("/v1/ledger/clawbacks/{}", id(&first)),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(one, first);
    let elsewhere = w.app.create_federation("clawback-elsewhere").await.id;
    let stranger = w.app.as_role(Role::FederationAdmin, elsewhere, None);
    let hidden = get(
        &w.app,
        &stranger,
        &format!("/v1/ledger/clawbacks/{}", id(&first)),
    )
    .await;
    assert_problem(hidden, 404, "not_found").await;

    // Nothing about a clawback can be changed afterwards, even by the schema owner.
    let mut owner = sqlx::PgConnection::connect(&w.app.database_url)
        .await
        .unwrap();
    for statement in [
        "UPDATE clawbacks SET amount_pence = 1",
        "DELETE FROM clawbacks",
        "TRUNCATE clawbacks CASCADE",
    ] {
        assert!(
            sqlx::query(statement).execute(&mut owner).await.is_err(),
            "{statement}"
        );
    }
    w.assert_balanced().await;
}
