//! Operations: health, readiness, metrics, the OpenAPI document and docs page, request ids, CORS.

use crate::helpers::{spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::Value;
use waymark_domain::Role;

#[tokio::test]
async fn health_and_readiness_report_ok() {
    let app = spawn_app().await;
    let health: Value = app
        .get("/healthz")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = app.get("/readyz").send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn readiness_fails_when_migrations_are_missing() {
    let app = spawn_app().await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&mut conn)
        .await
        .unwrap();
    let response = app.get("/readyz").send().await.unwrap();
    crate::helpers::assert_problem(response, 503, "not_ready").await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = spawn_app().await;
    let federation = app.create_federation("metrics").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    app.get(&format!("/v1/practices/{}", federation.practices[0]))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let text = app
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(r#"waymark_http_requests_total{method="GET",route="/v1/practices/{practice_id}",status="200"} 1"#), "{text}");
    assert!(text.contains("waymark_db_pool_connections"));
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let echoed = app
        .get("/healthz")
        .header("X-Request-Id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        echoed.headers().get("x-request-id").unwrap(),
        "trace-abc-123"
    );
    let generated = app.get("/healthz").send().await.unwrap();
    let id = generated
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(id.parse::<uuid::Uuid>().is_ok());
    let refused = app
        .get("/healthz")
        .header("X-Request-Id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    assert_ne!(
        refused
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .len(),
        500
    );
    let on_error = app
        .get("/v1/me")
        .header("X-Request-Id", "failing-42")
        .send()
        .await
        .unwrap();
    assert_eq!(on_error.status(), 401);
    assert_eq!(
        on_error.headers().get("x-request-id").unwrap(),
        "failing-42"
    );
}

#[tokio::test]
async fn the_served_document_is_the_generated_one_and_the_committed_one() {
    let app = spawn_app().await;
    let served: Value = app
        .get("/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let generated = serde_json::to_value(waymark_http::document()).unwrap();
    assert!(
        served == generated,
        "/openapi.json differs from waymark_http::document()"
    );
    assert_eq!(served["openapi"], "3.1.0");
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap(),
    )
    .unwrap();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `cargo run -q -- openapi > openapi/openapi.json`"
    );
    let paths = served["paths"].as_object().unwrap();
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.contains_key("500"),
                "{method} {path} documents no error responses"
            );
            if operation.get("security").is_some() {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} needs its 401"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_docs_page_is_served_without_any_network() {
    let app = spawn_app().await;
    let page = app.get("/docs/").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"));
    assert!(
        !html.contains("https://"),
        "the docs page must not load anything from the network"
    );
    let bundle = app.get("/docs/swagger-ui-bundle.js").send().await.unwrap();
    assert_eq!(bundle.status(), 200);
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let bare = redirect
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.headers().get("location").unwrap(), "/docs/");
}

#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let app = spawn_app_with(&[("WAYMARK_CORS_ALLOWED_ORIGINS", "https://app.example")]).await;
    let preflight = |origin: &'static str| {
        app.request(Method::OPTIONS, "/v1/me")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization")
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "https://app.example"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let simple = app
        .get("/healthz")
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers().get("access-control-allow-origin").unwrap(),
        "https://app.example"
    );
}
