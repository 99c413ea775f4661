//! Everything a client can get wrong answers a 4xx problem+json with a stable code, never a 500
//! and never a plain-text body.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::json;
use waymark_domain::Role;

#[tokio::test]
async fn malformed_bodies_are_400_and_wrongly_shaped_ones_422_naming_the_field() {
    let app = spawn_app().await;
    let federation = app.create_federation("bodies").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    let post = |body: &'static str| {
        app.post("/v1/practices")
            .bearer_auth(&admin)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    assert_problem(
        post("{\"ods_code\": ").await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(post("").await.unwrap(), 400, "malformed_json").await;
    assert_problem(post("not json").await.unwrap(), 400, "malformed_json").await;

    let wrong_type = assert_problem(
        post(r#"{"ods_code": 82010, "name": "P"}"#).await.unwrap(),
        422,
        "invalid_body",
    )
    .await;
    assert_eq!(wrong_type["errors"][0]["field"], "ods_code");
    let unknown = assert_problem(
        post(r#"{"ods_code": "C82010", "name": "P", "owner": "me"}"#)
            .await
            .unwrap(),
        422,
        "invalid_body",
    )
    .await;
    assert!(unknown["detail"].as_str().unwrap().contains("owner"));
    let missing = assert_problem(
        post(r#"{"ods_code": "C82010"}"#).await.unwrap(),
        422,
        "invalid_body",
    )
    .await;
    assert!(missing["detail"].as_str().unwrap().contains("name"));
    assert_problem(post("[1, 2]").await.unwrap(), 422, "invalid_body").await;
    let twice = assert_problem(
        post(r#"{"ods_code": "C82010", "name": "P", "name": "Q"}"#)
            .await
            .unwrap(),
        422,
        "invalid_body",
    )
    .await;
    assert!(twice["detail"]
        .as_str()
        .unwrap()
        .contains("duplicate field `name`"));
    assert_problem(
        post(r#"{"ods_code": "C82010", "name": "P"} {}"#)
            .await
            .unwrap(),
        400,
        "malformed_json",
    )
    .await;

    let roles = app
        .post("/v1/users")
        .bearer_auth(&admin)
        .json(&json!({"email": "a@example.org", "display_name": "A", "password": "long enough password", "roles": ["clinician", "wizard"]}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(roles, 422, "invalid_body").await;
    assert_eq!(problem["errors"][0]["field"], "roles[1]");
}

#[tokio::test]
async fn bodies_must_be_json_and_within_the_limit() {
    let app = spawn_app_with(&[("WAYMARK_MAX_BODY_BYTES", "1024")]).await;
    let federation = app.create_federation("limits").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    let as_text = app
        .post("/v1/practices")
        .bearer_auth(&admin)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(as_text, 415, "unsupported_media_type").await;
    let untyped = app
        .post("/v1/practices")
        .bearer_auth(&admin)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(untyped, 415, "unsupported_media_type").await;
    let huge = json!({"ods_code": "C82010", "name": "x".repeat(5000)});
    let too_big = app
        .post("/v1/practices")
        .bearer_auth(&admin)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_problem(too_big, 413, "payload_too_large").await;
    let chunked = reqwest::Body::wrap_stream(futures_util::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(vec![b' '; 512])),
    ));
    let streamed = app
        .post("/v1/practices")
        .bearer_auth(&admin)
        .header("Content-Type", "application/json")
        .body(chunked)
        .send()
        .await
        .unwrap();
    assert_problem(streamed, 413, "payload_too_large").await;
}

#[tokio::test]
async fn bad_path_and_query_parameters_are_400() {
    let app = spawn_app().await;
    let federation = app.create_federation("params").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    let path = app
        .get("/v1/practices/not-a-uuid")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(path, 400, "invalid_path_parameter").await;
    let query = app
        .get("/v1/practices?limit=-1")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(query, 400, "invalid_query_parameter").await;
    let unknown = app
        .get("/v1/practices?colour=red")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(unknown, 400, "invalid_query_parameter").await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let app = spawn_app().await;
    assert_problem(
        app.get("/v1/nothing-here").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(app.get("/").send().await.unwrap(), 404, "not_found").await;
    let wrong = app
        .request(Method::DELETE, "/v1/practices")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.headers().get("allow").unwrap(), "GET, POST");
    assert_problem(wrong, 405, "method_not_allowed").await;
    let wrong_on_item = app
        .request(
            Method::PUT,
            &format!("/v1/practices/{}", uuid::Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_on_item.headers().get("allow").unwrap(), "GET, PATCH");
    assert_problem(wrong_on_item, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn a_literal_path_wins_over_a_parameter_in_the_same_place() {
    let app = spawn_app().await;
    let federation = app.create_federation("literal-paths").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    // `GET …/charges/{charge_id}` would take `decisions` for a charge id and fail to parse it.
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let wrong = app
            .request(method.clone(), "/v1/ledger/charges/decisions")
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.headers().get("allow").unwrap(), "POST", "{method}");
        assert_problem(wrong, 405, "method_not_allowed").await;
    }
    let bad_id = app
        .get("/v1/ledger/charges/not-a-charge")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_problem(bad_id, 400, "invalid_path_parameter").await;
    let decided = app
        .post("/v1/ledger/charges/decisions")
        .bearer_auth(&admin)
        .header("Idempotency-Key", "literal-paths-1")
        .json(&json!({"decision": "approve", "charge_ids": [uuid::Uuid::now_v7()]}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(decided, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "charge_ids");
}

#[tokio::test]
async fn a_nul_character_is_refused_as_the_clients_doing_never_a_500() {
    let app = spawn_app().await;
    let federation = app.create_federation("nul-characters").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    // The database cannot hold a NUL: a login with one is refused like any unknown login.
    for body in [
        json!({"grant_type": "password", "username": "a\u{0}b@example.org", "password": "x"}),
        json!({"grant_type": "client_credentials", "client_id": "a\u{0}", "client_secret": "x"}),
    ] {
        let refused = app.post("/v1/auth/token").json(&body).send().await.unwrap();
        assert_problem(refused, 401, "invalid_credentials").await;
    }
    let form = app
        .post("/v1/auth/token")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=a%00&client_secret=x")
        .send()
        .await
        .unwrap();
    assert_problem(form, 401, "invalid_credentials").await;
    // Searches never need a control character.
    for path in [
        "/v1/directory/services?q=walks%00".to_owned(),
        "/oruk/nul-characters/services?search=walks%00".to_owned(),
    ] {
        let search = app.get(&path).bearer_auth(&admin).send().await.unwrap();
        assert_problem(search, 400, "invalid_query_parameter").await;
    }
}
