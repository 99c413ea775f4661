//! Several instances of the service on one database, as behind a load balancer: nothing a
//! request's answer depends on is kept by one instance alone. Request budgets, sign-in
//! throttling, idempotency keys and optimistic concurrency are all decided in the database, and
//! a token one instance signs, another accepts.

use crate::helpers::{assert_problem, spawn_app_with, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;
use waymark_domain::Role;

const PASSWORD: &str = "correct horse battery staple";

async fn status(app: &TestApp, path: &str, forwarded_for: Option<&str>) -> u16 {
    let mut request = app.get(path);
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_public_request_budget_is_one_budget_across_instances() {
    let first = spawn_app_with(&[("WAYMARK_PUBLIC_RATE_LIMIT_PER_MINUTE", "4")]).await;
    let second = first
        .another_instance_with(&[("WAYMARK_PUBLIC_RATE_LIMIT_PER_MINUTE", "4")])
        .await;
    first.create_federation("budget-a").await;
    first.create_federation("budget-b").await;
    crate::rate_limits::early_in_a_window().await;
    for (served, app) in [&first, &second, &first, &second].into_iter().enumerate() {
        let answer = app.get("/oruk/budget-a/taxonomies").send().await.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(
            answer.headers()["ratelimit-policy"].to_str().unwrap(),
            "\"public\";q=4;w=60"
        );
        let limit = answer.headers()["ratelimit"].to_str().unwrap().to_owned();
        assert!(
            limit.starts_with(&format!("\"public\";r={};t=", 3 - served)),
            "{limit}"
        );
    }
    // Four were served, two by each: the fifth is refused by whichever instance gets it.
    for app in [&first, &second] {
        let refused = app.get("/oruk/budget-a/services").send().await.unwrap();
        let retry_after: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_problem(refused, 429, "too_many_requests").await;
    }
    // Each federation's public API has its own budget.
    assert_eq!(
        status(&second, "/oruk/budget-b/taxonomies", None).await,
        200
    );
    // An unknown federation is not found, and counts against nothing.
    assert_eq!(status(&first, "/oruk/nobody/taxonomies", None).await, 404);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget() {
    let settings = [
        ("WAYMARK_PUBLIC_RATE_LIMIT_PER_MINUTE", "2"),
        ("WAYMARK_TRUSTED_PROXIES", "127.0.0.1"),
    ];
    crate::rate_limits::early_in_a_window().await;
    let first = spawn_app_with(&settings).await;
    let second = first.another_instance_with(&settings).await;
    first.create_federation("proxied").await;
    let path = "/oruk/proxied/taxonomies";
    assert_eq!(status(&first, path, Some("203.0.113.7")).await, 200);
    assert_eq!(status(&second, path, Some("203.0.113.7")).await, 200);
    assert_eq!(status(&first, path, Some("203.0.113.7")).await, 429);
    // Another client behind the same proxy is not held back by the first.
    assert_eq!(status(&second, path, Some("203.0.113.8")).await, 200);
    // A client cannot pick a fresh address by writing the header itself: the proxy appends
    // the address it saw, and only that entry is believed.
    assert_eq!(
        status(&first, path, Some("198.51.100.1, 203.0.113.7")).await,
        429
    );

    // Without the proxy setting the header is nobody's word, and the peer is the client.
    let untrusting = first
        .another_instance_with(&[("WAYMARK_PUBLIC_RATE_LIMIT_PER_MINUTE", "2")])
        .await;
    assert_eq!(status(&untrusting, path, Some("192.0.2.1")).await, 200);
    assert_eq!(status(&untrusting, path, Some("192.0.2.2")).await, 200);
    assert_eq!(status(&untrusting, path, Some("192.0.2.3")).await, 429);
}

#[tokio::test]
async fn failed_sign_ins_count_on_every_instance() {
    let first = spawn_app_with(&[]).await;
    let second = first.another_instance().await;
    let federation = first.create_federation("throttled").await;
    let admin = first.as_role(Role::FederationAdmin, federation.id, None);
    let created = first
        .create_user(&admin, json!({"email": "n@example.org", "display_name": "N", "password": PASSWORD, "roles": ["commissioner"]}))
        .await;
    assert_eq!(created.status(), 201);
    for n in 0..5 {
        let app = if n % 2 == 0 { &first } else { &second };
        assert_eq!(
            app.sign_in("n@example.org", "wrong password!")
                .await
                .status(),
            401
        );
    }
    for app in [&first, &second] {
        assert_problem(
            app.sign_in("n@example.org", PASSWORD).await,
            429,
            "too_many_requests",
        )
        .await;
    }
}

#[tokio::test]
async fn a_token_one_instance_signs_another_accepts() {
    let first = spawn_app_with(&[]).await;
    let second = first.another_instance().await;
    let federation = first.create_federation("tokens").await;
    let admin = first.as_role(Role::FederationAdmin, federation.id, None);
    first
        .create_user(&admin, json!({"email": "c@example.org", "display_name": "C", "password": PASSWORD, "roles": ["commissioner"]}))
        .await;
    let issued: Value = first
        .sign_in("c@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let token = issued["access_token"].as_str().unwrap();
    let me: Value = second
        .get("/v1/me")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["federation_id"], federation.id.to_string());
}

#[tokio::test]
async fn a_retry_reaching_another_instance_is_answered_from_the_first_attempt() {
    let first = spawn_app_with(&[]).await;
    let second = first.another_instance().await;
    let federation = first.create_federation("retries").await;
    let admin = first.as_role(Role::FederationAdmin, federation.id, None);
    let key = Uuid::now_v7().to_string();
    let top_up = |app: &TestApp| {
        app.post("/v1/ledger/top-ups")
            .bearer_auth(&admin)
            .header("Idempotency-Key", &key)
            .json(&json!({"amount_pence": 2500, "reference": "ICB tranche 1"}))
            .send()
    };
    let written = top_up(&first).await.unwrap();
    assert_eq!(written.status(), 201);
    let written: Value = written.json().await.unwrap();
    let retried = top_up(&second).await.unwrap();
    assert_eq!(retried.status(), 201);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    assert_eq!(retried.json::<Value>().await.unwrap(), written);
    let accounts: Value = second
        .get("/v1/ledger/accounts")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fund: i64 = accounts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "fund")
        .map(|a| a["balance"]["pence"].as_i64().unwrap())
        .sum();
    assert_eq!(fund, 2500, "the top-up was made once");
}

#[tokio::test]
async fn a_stale_etag_loses_on_any_instance() {
    let first = spawn_app_with(&[]).await;
    let second = first.another_instance().await;
    let federation = first.create_federation("etags-across").await;
    let admin = first.as_role(Role::FederationAdmin, federation.id, None);
    let path = format!("/v1/practices/{}", federation.practices[0]);
    let read = first.get(&path).bearer_auth(&admin).send().await.unwrap();
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    let patch = |app: &TestApp, body: Value| {
        app.patch(&path)
            .bearer_auth(&admin)
            .header("If-Match", &etag)
            .json(&body)
            .send()
    };
    assert_eq!(
        patch(&first, json!({"name": "Renamed"}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_problem(
        patch(&second, json!({"active": false})).await.unwrap(),
        412,
        "etag_mismatch",
    )
    .await;
}
