//! The public Open Referral UK 3.0 API: every response validates against the profile's schemas
//! in ../shared/reference/oruk-3.0, no token is needed, any origin may call, only public fields
//! are shown, and each address has a request budget.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;
use waymark_domain::Role;

fn reference(path: &str) -> Value {
    let file = format!(
        "{}/../shared/reference/oruk-3.0/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}")))
        .unwrap()
}

fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let validator = jsonschema::validator_for(schema).expect("the reference schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the Open Referral UK schema: {errors:#?}\n{instance:#}"
    );
}

/// The profile's page: its `Page` fields plus `contents` of `item_schema`.
fn page_schema(item_schema: Value) -> Value {
    let api = reference("openapi30-compiled.json");
    let mut page = api["components"]["schemas"]["Page"].clone();
    page["properties"]["contents"] = json!({"type": "array", "items": item_schema});
    page["required"] = json!([
        "total_items",
        "total_pages",
        "page_number",
        "size",
        "first_page",
        "last_page",
        "empty",
        "contents"
    ]);
    page
}

/// taxonomy.json refers to taxonomy_term.json by a relative name: inline it.
fn taxonomy_schema() -> Value {
    let mut taxonomy = reference("schema/taxonomy.json");
    taxonomy["properties"]["taxonomy_terms"]["items"] = reference("schema/taxonomy_term.json");
    taxonomy
}

struct Published {
    app: TestApp,
    walks: Uuid,
    hidden: Uuid,
}

async fn published() -> Published {
    let app = spawn_app().await;
    let federation = app.create_federation("oruk-demo").await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let org: Value = app
        .post("/v1/directory/organisations")
        .bearer_auth(&admin)
        .json(&json!({"name": "Charnwood Walks", "payee_reference": "SECRET-PAYEE-7", "email": "hello@walks.example.org", "website": "https://walks.example.org"}))
        .send().await.unwrap().json().await.unwrap();
    let mut ids = Vec::new();
    for (name, needs, active, accepting) in [
        (
            "Health walks",
            json!(["physical_activity", "loneliness_isolation"]),
            true,
            true,
        ),
        (
            "Walking football",
            json!(["physical_activity"]),
            true,
            false,
        ),
        (
            "Befriending calls",
            json!(["loneliness_isolation"]),
            true,
            true,
        ),
        ("Retired walk", json!(["physical_activity"]), false, true),
    ] {
        let body = json!({
            "organisation_id": org["id"], "name": name, "description": format!("{name} in Loughborough."),
            "need_categories": needs, "delivery_modes": ["in_person", "phone"], "address": "Queens Park\nLoughborough",
            "postcode": "LE11 2TQ", "latitude": 52.7696, "longitude": -1.2052, "opening_times": "Tuesdays 10:00 to 11:00",
            "cost_to_patient": "Free", "contact_email": "walks@walks.example.org", "website": "https://walks.example.org/health",
            "active": active, "accepting_referrals": accepting, "capacity": 20,
        });
        let created: Value = app
            .post("/v1/directory/services")
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().parse().unwrap());
    }
    Published {
        app,
        walks: ids[0],
        hidden: ids[3],
    }
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_service_list_is_public_paged_and_matches_the_profile() {
    let p = published().await;
    let page = get(&p.app, "/oruk/oruk-demo/services").await;
    assert_valid(
        &page_schema(reference("schema/compiled/service_list.json")),
        &page,
        "the service list",
    );
    assert_eq!(
        page["total_items"], 3,
        "inactive services are not published"
    );
    assert_eq!(page["contents"][0]["name"], "Befriending calls");
    assert_eq!(
        page["contents"][0]["organization"]["name"],
        "Charnwood Walks"
    );
    let football = page["contents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Walking football")
        .unwrap();
    assert_eq!(football["status"], "temporarily closed");

    let second = get(&p.app, "/oruk/oruk-demo/services?page=2&per_page=2").await;
    assert_eq!(
        (
            second["page_number"].as_u64(),
            second["size"].as_u64(),
            second["total_pages"].as_u64()
        ),
        (Some(2), Some(1), Some(2))
    );
    assert_eq!(
        (
            second["first_page"].as_bool(),
            second["last_page"].as_bool(),
            second["empty"].as_bool()
        ),
        (Some(false), Some(true), Some(false))
    );
    let beyond = get(&p.app, "/oruk/oruk-demo/services?page=9").await;
    assert_eq!(beyond["empty"], true);
    assert_valid(
        &page_schema(reference("schema/compiled/service_list.json")),
        &beyond,
        "an empty page",
    );
}

#[tokio::test]
async fn service_detail_matches_the_profile_and_shows_public_fields_only() {
    let p = published().await;
    let service = get(&p.app, &format!("/oruk/oruk-demo/services/{}", p.walks)).await;
    assert_valid(
        &reference("schema/compiled/service.json"),
        &service,
        "a service",
    );
    assert_eq!(
        service["service_at_locations"][0]["location"]["addresses"][0]["postal_code"],
        "LE11 2TQ"
    );
    assert_eq!(service["attributes"].as_array().unwrap().len(), 2);
    assert_eq!(
        service["schedules"][0]["description"],
        "Tuesdays 10:00 to 11:00"
    );
    let text = service.to_string();
    assert!(
        !text.contains("SECRET-PAYEE-7"),
        "payee references are never public"
    );
    assert!(service.get("capacity").is_none());
    let hidden = p
        .app
        .get(&format!("/oruk/oruk-demo/services/{}", p.hidden))
        .send()
        .await
        .unwrap();
    assert_problem(hidden, 404, "not_found").await;
    let list = get(&p.app, "/oruk/oruk-demo/services").await;
    assert!(!list.to_string().contains("SECRET-PAYEE-7"));
}

#[tokio::test]
async fn taxonomies_and_terms_match_the_profile_and_filter_services() {
    let p = published().await;
    let taxonomies = get(&p.app, "/oruk/oruk-demo/taxonomies").await;
    assert_valid(
        &page_schema(taxonomy_schema()),
        &taxonomies,
        "the taxonomy list",
    );
    let taxonomy_id = taxonomies["contents"][0]["id"].as_str().unwrap().to_owned();
    let taxonomy = get(&p.app, &format!("/oruk/oruk-demo/taxonomies/{taxonomy_id}")).await;
    assert_valid(&taxonomy_schema(), &taxonomy, "a taxonomy");
    let terms = get(&p.app, "/oruk/oruk-demo/taxonomy_terms?per_page=5").await;
    assert_valid(
        &page_schema(reference("schema/taxonomy_term.json")),
        &terms,
        "the term list",
    );
    assert_eq!(terms["size"], 5);
    let loneliness = taxonomy["taxonomy_terms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["term"] == "loneliness_isolation")
        .unwrap();
    let term_id = loneliness["id"].as_str().unwrap();
    let term = get(&p.app, &format!("/oruk/oruk-demo/taxonomy_terms/{term_id}")).await;
    assert_valid(&reference("schema/taxonomy_term.json"), &term, "a term");

    let filtered = get(
        &p.app,
        &format!("/oruk/oruk-demo/services?taxonomy_term_id={term_id}"),
    )
    .await;
    let names: Vec<&str> = filtered["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Befriending calls", "Health walks"]);
    let same_taxonomy = get(
        &p.app,
        &format!("/oruk/oruk-demo/services?taxonomy_id={taxonomy_id}"),
    )
    .await;
    assert_eq!(same_taxonomy["total_items"], 3);
    let other_taxonomy = get(
        &p.app,
        &format!("/oruk/oruk-demo/services?taxonomy_id={}", Uuid::now_v7()),
    )
    .await;
    assert_eq!(other_taxonomy["total_items"], 0);
    let searched = get(&p.app, "/oruk/oruk-demo/services?search=football").await;
    assert_eq!(searched["contents"][0]["name"], "Walking football");
    assert_eq!(searched["total_items"], 1);
}

#[tokio::test]
async fn unknown_things_and_unsupported_filters_are_problems() {
    let p = published().await;
    assert_problem(
        p.app.get("/oruk/nowhere/services").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        p.app.get("/oruk/NOT_A_SLUG/services").send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    let foreign = p.app.create_federation("oruk-other").await;
    let _ = foreign;
    let elsewhere = p
        .app
        .get(&format!("/oruk/oruk-other/services/{}", p.walks))
        .send()
        .await
        .unwrap();
    assert_problem(elsewhere, 404, "not_found").await;
    assert_problem(
        p.app
            .get("/oruk/oruk-demo/services?minimum_age=18")
            .send()
            .await
            .unwrap(),
        400,
        "unsupported_filter",
    )
    .await;
    assert_problem(
        p.app
            .get("/oruk/oruk-demo/services?page=0")
            .send()
            .await
            .unwrap(),
        400,
        "invalid_query_parameter",
    )
    .await;
    assert_problem(
        p.app
            .get(&format!("/oruk/oruk-demo/taxonomies/{}", Uuid::now_v7()))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn any_origin_may_call_without_a_token() {
    let p = published().await;
    let response = p
        .app
        .get("/oruk/oruk-demo/services")
        .header("Origin", "https://another-directory.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "*"
    );
    let root = get(&p.app, "/oruk/oruk-demo/").await;
    assert_eq!(root["version"], "3.0");
}

#[tokio::test]
async fn each_address_has_a_request_budget() {
    let app = spawn_app_with(&[("WAYMARK_PUBLIC_RATE_LIMIT_PER_MINUTE", "3")]).await;
    app.create_federation("budget").await;
    for _ in 0..3 {
        assert_eq!(
            app.get("/oruk/budget/taxonomies")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let refused = app.get("/oruk/budget/taxonomies").send().await.unwrap();
    assert!(refused.headers().get("retry-after").is_some());
    assert_problem(refused, 429, "too_many_requests").await;
    // The authenticated API is not affected.
    assert_eq!(app.get("/healthz").send().await.unwrap().status(), 200);
}

#[test]
fn the_reference_schemas_refuse_a_bad_service() {
    let validator = jsonschema::validator_for(&reference("schema/compiled/service.json")).unwrap();
    assert!(!validator.is_valid(&json!({"name": "No id, no status"})));
    assert!(
        !validator.is_valid(&json!({"id": Uuid::now_v7(), "name": "Bad status", "status": "open"}))
    );
    assert!(validator.is_valid(&json!({"id": Uuid::now_v7(), "name": "Fine", "status": "active"})));
}
