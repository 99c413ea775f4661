//! Access tokens: every way a token can be wrong is a 401 problem; sign-in works and is throttled.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, TestApp, PASSWORD};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use uuid::Uuid;
use waymark_domain::Role;
use waymark_http::auth::SigningKeys;

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Claims a valid token of this app would carry, for a federation admin.
fn claims(federation: Uuid) -> Value {
    json!({
        "iss": "waymark", "aud": "waymark-api", "sub": Uuid::now_v7(),
        "exp": now() + 300, "nbf": now(), "iat": now(), "jti": Uuid::now_v7(),
        "kind": "user", "federation_id": federation, "roles": ["federation_admin"],
    })
}

fn kid_of(app: &TestApp) -> String {
    SigningKeys::from_pem(&app.signing_key_pem, &[])
        .unwrap()
        .active_kid()
        .to_owned()
}

fn sign(app: &TestApp, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid_of(app));
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ed_pem(app.signing_key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn assert_refused(app: &TestApp, token: &str, expected_detail: &str) {
    let response = app.get("/v1/me").bearer_auth(token).send().await.unwrap();
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some(r#"Bearer error="invalid_token""#)
    );
    let problem = assert_problem(response, 401, "unauthorized").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(expected_detail),
        "{detail:?} should mention {expected_detail:?}"
    );
}

#[tokio::test]
async fn a_well_formed_token_is_accepted() {
    let app = spawn_app().await;
    let federation = Uuid::now_v7();
    let response = app
        .get("/v1/me")
        .bearer_auth(sign(&app, &claims(federation)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["federation_id"], json!(federation));
    assert_eq!(me["roles"], json!(["federation_admin"]));
}

#[tokio::test]
async fn a_missing_or_malformed_authorization_header_is_401() {
    let app = spawn_app().await;
    let missing = app.get("/v1/me").send().await.unwrap();
    assert_problem(missing, 401, "unauthorized").await;
    for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "token abc"] {
        let response = app
            .get("/v1/me")
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_problem(response, 401, "unauthorized").await;
    }
    assert_refused(&app, "not-a-jwt", "well-formed").await;
    assert_refused(&app, "a.b.c", "well-formed").await;
}

#[tokio::test]
async fn alg_none_and_other_algorithms_are_refused() {
    let app = spawn_app().await;
    let body = URL_SAFE_NO_PAD.encode(claims(Uuid::now_v7()).to_string());
    let none_header = URL_SAFE_NO_PAD
        .encode(json!({"alg": "none", "typ": "JWT", "kid": kid_of(&app)}).to_string());
    assert_refused(&app, &format!("{none_header}.{body}."), "algorithm").await;

    // The classic confusion attack: HMAC "signed" with a secret the attacker chose.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid_of(&app));
    let hmac = jsonwebtoken::encode(
        &header,
        &claims(Uuid::now_v7()),
        &EncodingKey::from_secret(b"guessable"),
    )
    .unwrap();
    assert_refused(&app, &hmac, "algorithm").await;
}

#[tokio::test]
async fn tokens_signed_by_another_key_are_refused() {
    let app = spawn_app().await;
    let other_pem = SigningKeys::generate_pem();
    let key = EncodingKey::from_ed_pem(other_pem.as_bytes()).unwrap();
    // Another key under its own kid: unknown.
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(
        SigningKeys::from_pem(&other_pem, &[])
            .unwrap()
            .active_kid()
            .to_owned(),
    );
    let foreign = jsonwebtoken::encode(&header, &claims(Uuid::now_v7()), &key).unwrap();
    assert_refused(&app, &foreign, "unknown").await;
    // Another key claiming our kid: the signature does not verify.
    header.kid = Some(kid_of(&app));
    let forged = jsonwebtoken::encode(&header, &claims(Uuid::now_v7()), &key).unwrap();
    assert_refused(&app, &forged, "signature").await;
    // No kid at all.
    let anonymous = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims(Uuid::now_v7()),
        &key,
    )
    .unwrap();
    assert_refused(&app, &anonymous, "kid").await;
}

#[tokio::test]
async fn expired_premature_and_misaddressed_tokens_are_refused() {
    let app = spawn_app().await;
    let federation = Uuid::now_v7();
    let mut expired = claims(federation);
    expired["exp"] = json!(now() - 60);
    expired["iat"] = json!(now() - 960);
    expired["nbf"] = json!(now() - 960);
    assert_refused(&app, &sign(&app, &expired), "expired").await;

    let mut premature = claims(federation);
    premature["nbf"] = json!(now() + 120);
    assert_refused(&app, &sign(&app, &premature), "not valid yet").await;

    let mut issuer = claims(federation);
    issuer["iss"] = json!("someone-else");
    assert_refused(&app, &sign(&app, &issuer), "issued by someone else").await;

    let mut audience = claims(federation);
    audience["aud"] = json!("another-api");
    assert_refused(&app, &sign(&app, &audience), "another audience").await;

    let mut unknown_role = claims(federation);
    unknown_role["roles"] = json!(["superuser"]);
    assert_refused(&app, &sign(&app, &unknown_role), "claims").await;

    // A practice role with no practice cannot be honoured.
    let mut inconsistent = claims(federation);
    inconsistent["roles"] = json!(["clinician"]);
    assert_refused(&app, &sign(&app, &inconsistent), "claims").await;
}

#[tokio::test]
async fn jwks_publishes_the_key_that_signs_tokens() {
    let app = spawn_app().await;
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["kid"], kid_of(&app));
    let token = app.platform_admin();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let decoding =
        jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["waymark-api"]);
    let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
    let lifetime = data.claims["exp"].as_u64().unwrap() - data.claims["iat"].as_u64().unwrap();
    assert!(
        lifetime <= 900,
        "tokens live at most 15 minutes, not {lifetime}s"
    );
}

#[tokio::test]
async fn users_sign_in_with_their_password_and_get_their_roles() {
    let app = spawn_app().await;
    let federation = app.create_federation("signin").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    let created = app
        .create_user(
            &admin,
            json!({"email": "Clin@Example.org", "display_name": "Clin", "password": PASSWORD,
            "roles": ["clinician", "volunteer"], "practice_id": federation.practices[0]}),
        )
        .await;
    assert_eq!(created.status(), 201);

    let response = app.sign_in("clin@example.org", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
    let token: Value = response.json().await.unwrap();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 900);
    let me: Value = app
        .get("/v1/me")
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["clinician", "volunteer"]));
    assert_eq!(me["practice_id"], json!(federation.practices[0]));

    // JSON works as well as the OAuth form encoding.
    let json_grant = app
        .post("/v1/auth/token")
        .json(&json!({"grant_type": "password", "username": "CLIN@example.org", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_grant.status(), 200);
}

#[tokio::test]
async fn wrong_passwords_and_unknown_accounts_are_refused_alike() {
    let app = spawn_app().await;
    let federation = app.create_federation("wrongpw").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    app.create_user(&admin, json!({"email": "c@example.org", "display_name": "C", "password": PASSWORD, "roles": ["commissioner"]}))
        .await;
    let wrong = assert_problem(
        app.sign_in("c@example.org", "not the password").await,
        401,
        "invalid_credentials",
    )
    .await;
    let unknown = assert_problem(
        app.sign_in("nobody@example.org", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong["detail"], unknown["detail"]);
}

#[tokio::test]
async fn repeated_failures_lock_the_account_for_a_while() {
    let app = spawn_app().await;
    let federation = app.create_federation("throttle").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    app.create_user(&admin, json!({"email": "t@example.org", "display_name": "T", "password": PASSWORD, "roles": ["commissioner"]}))
        .await;
    for _ in 0..5 {
        assert_problem(
            app.sign_in("t@example.org", "wrong password!").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // Now even the right password waits: the lock does not tell guesses apart.
    let locked = app.sign_in("t@example.org", PASSWORD).await;
    let retry_after: u64 = locked
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 900);
    assert_problem(locked, 429, "too_many_requests").await;
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_throttled_across_accounts() {
    let app = spawn_app_with(&[("WAYMARK_SIGN_IN_FAILURES_PER_ADDRESS", "20")]).await;
    for i in 0..20 {
        let response = app
            .sign_in(&format!("guess{i}@example.org"), "wrong password!")
            .await;
        assert_eq!(response.status(), 401);
    }
    assert_problem(
        app.sign_in("another@example.org", "wrong password!").await,
        429,
        "too_many_requests",
    )
    .await;
}

#[tokio::test]
async fn deactivated_users_cannot_sign_in() {
    let app = spawn_app().await;
    let federation = app.create_federation("inactive").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    let created = app
        .create_user(&admin, json!({"email": "gone@example.org", "display_name": "Gone", "password": PASSWORD, "roles": ["commissioner"]}))
        .await;
    let etag = created
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let id = crate::helpers::id_of(created).await;
    let response = app
        .patch(&format!("/v1/users/{id}"))
        .bearer_auth(&admin)
        .header("If-Match", etag)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_problem(
        app.sign_in("gone@example.org", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn service_accounts_use_client_credentials_with_narrowed_scopes() {
    let app = spawn_app().await;
    let federation = app.create_federation("clients").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    let created: Value = app
        .post("/v1/service-accounts")
        .bearer_auth(&admin)
        .json(&json!({"name": "directory-sync", "scopes": ["directory:write", "stats:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let grant = |scope: Option<&'static str>, secret: String| {
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", client_id.to_owned()),
            ("client_secret", secret),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope.to_owned()));
        }
        app.post("/v1/auth/token").form(&form).send()
    };
    let full: Value = grant(None, secret.to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(full["scope"], "directory:write stats:read");
    let narrowed: Value = grant(Some("stats:read"), secret.to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(narrowed["scope"], "stats:read");
    let me: Value = app
        .get("/v1/me")
        .bearer_auth(narrowed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["kind"], "service_account");
    assert_eq!(me["scopes"], json!(["stats:read"]));
    assert_problem(
        grant(Some("events:read"), secret.to_owned()).await.unwrap(),
        400,
        "invalid_scope",
    )
    .await;
    assert_problem(
        grant(None, "wrong".to_owned()).await.unwrap(),
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn token_requests_must_be_complete() {
    let app = spawn_app().await;
    let response = app
        .post("/v1/auth/token")
        .form(&[("grant_type", "password"), ("username", "x@example.org")])
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "invalid_request").await;
    let response = app
        .post("/v1/auth/token")
        .form(&[("grant_type", "implicit")])
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "unsupported_grant_type").await;
    let response = app
        .post("/v1/auth/token")
        .body("grant_type=password")
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "unsupported_media_type").await;
}

async fn sign_in_from(app: &TestApp, address: &str, username: &str, password: &str) -> u16 {
    app.sign_in_from(address, username, password)
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn guessing_one_password_does_not_lock_out_the_neighbours_behind_the_same_address() {
    let app = spawn_app_with(&[("WAYMARK_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let federation = app.create_federation("neighbours").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    for who in ["victim", "neighbour"] {
        app.create_user(&admin, json!({"email": format!("{who}@example.org"), "display_name": who, "password": PASSWORD, "roles": ["commissioner"]}))
            .await;
    }
    let surgery = "203.0.113.7";
    // Someone at the surgery guesses the victim's password.
    for _ in 0..5 {
        assert_eq!(
            sign_in_from(&app, surgery, "victim@example.org", "guess!guess!").await,
            401
        );
    }
    // From there, the victim's account now waits, the right password included.
    assert_eq!(
        sign_in_from(&app, surgery, "victim@example.org", PASSWORD).await,
        429
    );
    // And a few more accounts' guesses: twenty-five failures from the one address in all.
    for i in 0..4 {
        for _ in 0..5 {
            let login = format!("colleague{i}@example.org");
            assert_eq!(
                sign_in_from(&app, surgery, &login, "guess!guess!").await,
                401
            );
        }
    }
    // Everyone else at the surgery signs in as usual, and so does the victim from home.
    assert_eq!(
        sign_in_from(&app, surgery, "neighbour@example.org", PASSWORD).await,
        200
    );
    assert_eq!(
        sign_in_from(&app, "198.51.100.20", "victim@example.org", PASSWORD).await,
        200
    );
}

#[tokio::test]
async fn guessing_one_account_from_many_addresses_or_many_accounts_from_one_still_waits() {
    let app = spawn_app_with(&[
        ("WAYMARK_TRUSTED_PROXIES", "127.0.0.1"),
        ("WAYMARK_SIGN_IN_FAILURES_PER_ADDRESS", "30"),
    ])
    .await;
    let federation = app.create_federation("spraying").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    app.create_user(&admin, json!({"email": "target@example.org", "display_name": "Target", "password": PASSWORD, "roles": ["commissioner"]}))
        .await;
    // Four failures from each of five addresses: under each address's limit for the account,
    // and twenty for the account as a whole.
    for i in 0..5 {
        for _ in 0..4 {
            let address = format!("192.0.2.{}", 10 + i);
            assert_eq!(
                sign_in_from(&app, &address, "target@example.org", "nope nope").await,
                401
            );
        }
    }
    assert_eq!(
        sign_in_from(&app, "192.0.2.99", "target@example.org", PASSWORD).await,
        429
    );

    // One address trying thirty accounts has spent its budget, for every account.
    for i in 0..30 {
        let login = format!("sprayed{i}@example.org");
        assert_eq!(
            sign_in_from(&app, "192.0.2.200", &login, "Winter2026!").await,
            401
        );
    }
    assert_eq!(
        sign_in_from(&app, "192.0.2.200", "someone@example.org", "Winter2026!").await,
        429
    );
    assert_eq!(
        sign_in_from(&app, "192.0.2.201", "someone@example.org", "Winter2026!").await,
        401
    );
}
