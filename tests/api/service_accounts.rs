//! Service accounts over their life: secrets rotated with a grace period in which both work,
//! deactivation and revocation stopping the tokens an account holds at once, and revocation
//! being for good.

use crate::helpers::{assert_problem, spawn_app, TestApp};
use reqwest::Response;
use serde_json::{json, Value};
use uuid::Uuid;
use waymark_domain::{Role, ServiceScope};

async fn me(app: &TestApp, token: &str) -> Response {
    app.get("/v1/me").bearer_auth(token).send().await.unwrap()
}

/// A request only a directory reader may make, to tell a working token from a refused one.
async fn read_directory(app: &TestApp, token: &str) -> Response {
    app.get("/v1/directory/services")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn rotate(app: &TestApp, admin: &str, account: Uuid, body: Option<Value>) -> Response {
    let request = app
        .post(&format!("/v1/service-accounts/{account}/secret-rotations"))
        .bearer_auth(admin);
    match body {
        Some(body) => request.json(&body),
        None => request,
    }
    .send()
    .await
    .unwrap()
}

async fn signs_in(app: &TestApp, account: Uuid, secret: &str) -> u16 {
    app.client_credentials(&account.to_string(), secret)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_rotated_secret_works_beside_the_old_one_for_the_grace_period() {
    let app = spawn_app().await;
    let fed = app.create_federation("rotation").await;
    let account = app
        .service_account(fed.id, &[ServiceScope::DirectoryRead])
        .await;
    let old_secret = account.client_secret.clone();

    let rotated = rotate(&app, &account.admin, account.id, None).await;
    assert_eq!(rotated.status(), 200);
    assert_eq!(
        rotated.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    let rotated: Value = rotated.json().await.unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    assert_eq!(rotated["client_id"], account.id.to_string());
    assert!(rotated["secret_rotated_at"].is_string());
    // The default grace period is a day.
    let expires: chrono::DateTime<chrono::Utc> = rotated["previous_secret_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let hours = (expires - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((23.9..=24.0).contains(&hours), "{hours}");

    // Both sign in, and the token held before the rotation still works.
    assert_eq!(signs_in(&app, account.id, &old_secret).await, 200);
    assert_eq!(signs_in(&app, account.id, &new_secret).await, 200);
    assert_eq!(read_directory(&app, &account.token).await.status(), 200);
    // The secret is never shown again.
    let shown: Value = app
        .get(&format!("/v1/service-accounts/{}", account.id))
        .bearer_auth(&account.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(shown.get("client_secret").is_none(), "{shown}");

    // Rotating again ends the first secret's grace at once; with no grace the replaced one
    // stops too.
    let again: Value = rotate(
        &app,
        &account.admin,
        account.id,
        Some(json!({"grace_period_seconds": 0})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(again["previous_secret_expires_at"].is_null(), "{again}");
    let newest = again["client_secret"].as_str().unwrap();
    assert_eq!(signs_in(&app, account.id, &old_secret).await, 401);
    assert_eq!(signs_in(&app, account.id, &new_secret).await, 401);
    assert_eq!(signs_in(&app, account.id, newest).await, 200);

    // A grace period longer than a week, or a body of the wrong shape, is refused.
    for body in [
        json!({"grace_period_seconds": 604_801}),
        json!({"grace_period_seconds": -1}),
    ] {
        let refused = rotate(&app, &account.admin, account.id, Some(body)).await;
        assert_problem(refused, 422, "validation_failed").await;
    }
    let refused = rotate(&app, &account.admin, account.id, Some(json!({"grace": 10}))).await;
    assert_problem(refused, 422, "invalid_body").await;
    assert_eq!(signs_in(&app, account.id, newest).await, 200);

    // Only the federation's administrators rotate, and only their own federation's accounts.
    let other = app.create_federation("rotation-2").await;
    let foreign_admin = app.as_role(Role::FederationAdmin, other.id, None);
    for token in [
        foreign_admin,
        app.as_role(Role::Commissioner, fed.id, None),
        account.token.clone(),
    ] {
        let refused = rotate(&app, &token, account.id, None).await;
        assert_problem(refused, 404, "not_found").await;
    }
}

#[tokio::test]
async fn revoking_an_account_stops_its_tokens_at_once_and_for_good() {
    let app = spawn_app().await;
    let fed = app.create_federation("revocation").await;
    let account = app
        .service_account(fed.id, &[ServiceScope::DirectoryRead])
        .await;
    let bystander = app
        .service_account(fed.id, &[ServiceScope::DirectoryRead])
        .await;
    assert_eq!(read_directory(&app, &account.token).await.status(), 200);
    let rotated: Value = rotate(&app, &account.admin, account.id, None)
        .await
        .json()
        .await
        .unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();

    let revoked = app
        .post(&format!("/v1/service-accounts/{}/revocation", account.id))
        .bearer_auth(&account.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let revoked: Value = revoked.json().await.unwrap();
    assert_eq!(revoked["active"], false);
    assert!(revoked["revoked_at"].is_string());

    // The token it held a moment ago is refused on its next request, by any route.
    assert_problem(
        read_directory(&app, &account.token).await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(me(&app, &account.token).await, 401, "unauthorized").await;
    // Neither secret signs in, including the one in its grace period.
    assert_eq!(
        signs_in(&app, account.id, &account.client_secret).await,
        401
    );
    assert_eq!(signs_in(&app, account.id, &new_secret).await, 401);
    // Other accounts carry on.
    assert_eq!(read_directory(&app, &bystander.token).await.status(), 200);

    // Revoking again changes nothing; reactivating or rotating is refused.
    let again = app
        .post(&format!("/v1/service-accounts/{}/revocation", account.id))
        .bearer_auth(&account.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    let current = app
        .get(&format!("/v1/service-accounts/{}", account.id))
        .bearer_auth(&account.admin)
        .send()
        .await
        .unwrap();
    let etag = current.headers()["etag"].to_str().unwrap().to_owned();
    let reactivate = app
        .patch(&format!("/v1/service-accounts/{}", account.id))
        .bearer_auth(&account.admin)
        .header("If-Match", etag)
        .json(&json!({"active": true}))
        .send()
        .await
        .unwrap();
    assert_problem(reactivate, 409, "service_account_revoked").await;
    let rotate_revoked = rotate(&app, &account.admin, account.id, None).await;
    assert_problem(rotate_revoked, 409, "service_account_revoked").await;

    // Unknown and other federations' accounts are not found.
    let unknown = app
        .post(&format!(
            "/v1/service-accounts/{}/revocation",
            Uuid::now_v7()
        ))
        .bearer_auth(&account.admin)
        .send()
        .await
        .unwrap();
    assert_problem(unknown, 404, "not_found").await;
}

#[tokio::test]
async fn deactivating_stops_held_tokens_and_reactivating_needs_a_fresh_sign_in() {
    let app = spawn_app().await;
    let fed = app.create_federation("deactivation").await;
    let account = app
        .service_account(fed.id, &[ServiceScope::DirectoryRead])
        .await;
    let path = format!("/v1/service-accounts/{}", account.id);
    let etag_of = |response: &Response| response.headers()["etag"].to_str().unwrap().to_owned();
    let current = app
        .get(&path)
        .bearer_auth(&account.admin)
        .send()
        .await
        .unwrap();
    let etag = etag_of(&current);
    let off = app
        .patch(&path)
        .bearer_auth(&account.admin)
        .header("If-Match", &etag)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 200);
    let etag = etag_of(&off);
    assert_problem(
        read_directory(&app, &account.token).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(
        signs_in(&app, account.id, &account.client_secret).await,
        401
    );

    let on = app
        .patch(&path)
        .bearer_auth(&account.admin)
        .header("If-Match", &etag)
        .json(&json!({"active": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(on.status(), 200);
    // The token held before the deactivation stays refused; a new sign-in works (in the
    // next second: tokens carry their issue time in whole seconds).
    assert_problem(
        read_directory(&app, &account.token).await,
        401,
        "unauthorized",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let fresh: Value = app
        .client_credentials(&account.id.to_string(), &account.client_secret)
        .await
        .json()
        .await
        .unwrap();
    let fresh = fresh["access_token"].as_str().unwrap();
    assert_eq!(read_directory(&app, fresh).await.status(), 200);
}

#[tokio::test]
async fn scopes_are_the_documented_list_and_an_unknown_one_is_refused() {
    let app = spawn_app().await;
    let fed = app.create_federation("scopes").await;
    let admin = app.as_role(Role::FederationAdmin, fed.id, None);
    let all: Vec<&str> = ServiceScope::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        all,
        [
            "directory:read",
            "directory:write",
            "referrals:read",
            "events:read",
            "stats:read",
            "ledger:read",
            "webhooks:write",
            "gp_coding:write"
        ]
    );
    let created = app
        .post("/v1/service-accounts")
        .bearer_auth(&admin)
        .json(&json!({"name": "everything", "scopes": all}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let mut granted: Vec<String> = serde_json::from_value(created["scopes"].clone()).unwrap();
    granted.sort();
    let mut expected: Vec<String> = all.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(granted, expected);
    // A token may ask for fewer than the account holds, never more.
    let token = app
        .post("/v1/auth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", created["client_id"].as_str().unwrap()),
            ("client_secret", created["client_secret"].as_str().unwrap()),
            ("scope", "ledger:read"),
        ])
        .send()
        .await
        .unwrap();
    let token: Value = token.json().await.unwrap();
    assert_eq!(token["scope"], "ledger:read");

    let refused = app
        .post("/v1/service-accounts")
        .bearer_auth(&admin)
        .json(&json!({"name": "admin", "scopes": ["admin:all"]}))
        .send()
        .await
        .unwrap();
    assert_problem(refused, 422, "invalid_body").await;
}
