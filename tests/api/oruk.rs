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
    for filter in ["postcode=LE11%202TQ", "proximity=1000"] {
        assert_problem(
            p.app
                .get(&format!("/oruk/oruk-demo/service_at_locations?{filter}"))
                .send()
                .await
                .unwrap(),
            400,
            "unsupported_filter",
        )
        .await;
    }
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

/// A federation's directory for the filters: services with and without ages, opening hours and
/// a place to attend.
struct Filtered {
    app: TestApp,
    admin: String,
    organisation: Value,
    ids: std::collections::HashMap<&'static str, Uuid>,
}

async fn create_service(
    app: &TestApp,
    admin: &str,
    organisation: &Value,
    name: &str,
    extra: Value,
) -> Uuid {
    let mut body = json!({
        "organisation_id": organisation, "name": name, "description": format!("{name} in Loughborough."),
        "need_categories": ["loneliness_isolation"], "delivery_modes": ["in_person"],
        "postcode": "LE11 2TQ", "latitude": 52.7696, "longitude": -1.2052,
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    let response = app
        .post("/v1/directory/services")
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{name}");
    crate::helpers::id_of(response).await
}

fn hours(periods: &[(&str, &str, &str)]) -> Value {
    json!(periods
        .iter()
        .map(|(day, opens, closes)| json!({"day": day, "opens_at": opens, "closes_at": closes}))
        .collect::<Vec<_>>())
}

async fn filtered(slug: &str) -> Filtered {
    let app = spawn_app().await;
    let federation = app.create_federation(slug).await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let organisation: Value = app
        .post("/v1/directory/organisations")
        .bearer_auth(&admin)
        .json(&json!({"name": "Charnwood Community"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let organisation = organisation["id"].clone();
    let mut ids = std::collections::HashMap::new();
    for (name, extra) in [
        ("Anyone", json!({})),
        (
            "Adults",
            json!({"minimum_age": 18, "schedules": hours(&[("saturday", "10:00", "16:00")])}),
        ),
        (
            "Young adults",
            json!({"minimum_age": 18, "maximum_age": 25, "schedules": hours(&[("monday", "09:00", "12:00"), ("wednesday", "09:00", "12:00")])}),
        ),
        (
            "Children",
            json!({"minimum_age": 0, "maximum_age": 17, "schedules": hours(&[("monday", "13:00", "16:00")])}),
        ),
        (
            "Older people",
            json!({"minimum_age": 65, "schedules": hours(&[("tuesday", "18:00", "20:00")])}),
        ),
        (
            "Teens",
            json!({"minimum_age": 16, "maximum_age": 25, "schedules": hours(&[("monday", "09:00", "10:00"), ("wednesday", "14:00", "15:00")])}),
        ),
        (
            "Phone line",
            json!({"delivery_modes": ["phone"], "minimum_age": 18, "schedules": hours(&[("monday", "09:00", "17:00")])}),
        ),
    ] {
        ids.insert(
            name,
            create_service(&app, &admin, &organisation, name, extra).await,
        );
    }
    Filtered {
        app,
        admin,
        organisation,
        ids,
    }
}

/// The names a list answers, checking the page against the profile's schema.
async fn listed(app: &TestApp, path: &str) -> Vec<String> {
    let page = get(app, path).await;
    let item = if path.contains("/service_at_locations") {
        "schema/compiled/service_at_location_list.json"
    } else {
        "schema/compiled/service_list.json"
    };
    assert_valid(&page_schema(reference(item)), &page, path);
    assert_eq!(
        page["total_items"].as_u64(),
        Some(page["contents"].as_array().unwrap().len() as u64),
        "{path}: everything fits one page"
    );
    page["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let service = if entry["service"].is_object() {
                &entry["service"]
            } else {
                entry
            };
            service["name"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn service_at_locations_are_listed_and_found_by_the_ids_services_show() {
    let f = filtered("oruk-sal").await;
    let all = listed(&f.app, "/oruk/oruk-sal/service_at_locations").await;
    assert_eq!(
        all,
        [
            "Adults",
            "Anyone",
            "Children",
            "Older people",
            "Teens",
            "Young adults"
        ],
        "a service with no place to attend is at no location"
    );
    let page = get(
        &f.app,
        "/oruk/oruk-sal/service_at_locations?per_page=4&page=2",
    )
    .await;
    assert_eq!(
        (
            page["size"].as_u64(),
            page["total_items"].as_u64(),
            page["last_page"].as_bool()
        ),
        (Some(2), Some(6), Some(true))
    );

    let young = f.ids["Young adults"];
    let service = get(&f.app, &format!("/oruk/oruk-sal/services/{young}")).await;
    assert_valid(
        &reference("schema/compiled/service.json"),
        &service,
        "a service",
    );
    let at = &service["service_at_locations"][0];
    let sal_id = at["id"].as_str().unwrap().to_owned();
    assert_eq!(
        sal_id,
        young.to_string(),
        "a service's one service_at_location carries its id, so it is stable"
    );
    let list = get(&f.app, "/oruk/oruk-sal/service_at_locations?search=young").await;
    assert_eq!(
        list["contents"][0]["id"], at["id"],
        "the list shows the ids the service shows"
    );
    assert_eq!(list["contents"][0]["location_id"], at["location"]["id"]);
    assert_eq!(list["contents"][0]["location"]["id"], at["location"]["id"]);
    assert_eq!(list["contents"][0]["service"]["minimum_age"], 18);

    let detail = get(
        &f.app,
        &format!("/oruk/oruk-sal/service_at_locations/{sal_id}"),
    )
    .await;
    assert_valid(
        &reference("schema/compiled/service_at_location.json"),
        &detail,
        "a service_at_location",
    );
    assert_eq!(detail["id"], at["id"]);
    assert_eq!(detail["service_id"], young.to_string());
    assert_eq!(detail["location"]["id"], at["location"]["id"]);
    assert_eq!(
        detail["location"]["addresses"][0]["postal_code"],
        "LE11 2TQ"
    );
    assert_eq!(
        detail["location"]["addresses"][0]["id"],
        at["location"]["addresses"][0]["id"]
    );
    assert_eq!(detail["service"]["name"], "Young adults");
    assert_eq!(detail["service"]["schedules"], service["schedules"]);
    assert_eq!(
        get(&f.app, &format!("/oruk/oruk-sal/services/{young}")).await,
        service,
        "ids are the same on every read"
    );

    for missing in [
        Uuid::now_v7().to_string(),
        // What the id of the phone line's service_at_location would be, had it a location.
        f.ids["Phone line"].to_string(),
    ] {
        assert_problem(
            f.app
                .get(&format!("/oruk/oruk-sal/service_at_locations/{missing}"))
                .send()
                .await
                .unwrap(),
            404,
            "not_found",
        )
        .await;
    }
    f.app.create_federation("oruk-sal-other").await;
    assert_problem(
        f.app
            .get(&format!(
                "/oruk/oruk-sal-other/service_at_locations/{sal_id}"
            ))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    let phone = get(
        &f.app,
        &format!("/oruk/oruk-sal/services/{}", f.ids["Phone line"]),
    )
    .await;
    assert_eq!(phone["service_at_locations"], json!([]));

    // A service no longer attended in person leaves the list and its id answers 404.
    let path = format!("/v1/directory/services/{young}");
    let etag = f
        .app
        .get(&path)
        .bearer_auth(&f.admin)
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let moved = f
        .app
        .patch(&path)
        .bearer_auth(&f.admin)
        .header("If-Match", etag)
        .json(&json!({"delivery_modes": ["online"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    assert!(!listed(&f.app, "/oruk/oruk-sal/service_at_locations")
        .await
        .contains(&"Young adults".to_owned()));
    assert_problem(
        f.app
            .get(&format!("/oruk/oruk-sal/service_at_locations/{sal_id}"))
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    let _ = &f.organisation;
}

#[tokio::test]
async fn age_filters_read_as_the_profile_words_them() {
    let f = filtered("oruk-ages").await;
    for (query, services, located) in [
        // A minimum of at least the value: naming none is a minimum of 0.
        (
            "minimum_age=18",
            vec!["Adults", "Older people", "Phone line", "Young adults"],
            vec!["Adults", "Older people", "Young adults"],
        ),
        (
            "minimum_age=17.5",
            vec!["Adults", "Older people", "Phone line", "Young adults"],
            vec!["Adults", "Older people", "Young adults"],
        ),
        (
            "minimum_age=0",
            vec![
                "Adults",
                "Anyone",
                "Children",
                "Older people",
                "Phone line",
                "Teens",
                "Young adults",
            ],
            vec![
                "Adults",
                "Anyone",
                "Children",
                "Older people",
                "Teens",
                "Young adults",
            ],
        ),
        ("minimum_age=65", vec!["Older people"], vec!["Older people"]),
        ("minimum_age=66", vec![], vec![]),
        // A maximum of at most the value: naming none is no upper limit.
        (
            "maximum_age=25",
            vec!["Children", "Teens", "Young adults"],
            vec!["Children", "Teens", "Young adults"],
        ),
        ("maximum_age=24.9", vec!["Children"], vec!["Children"]),
        ("maximum_age=17", vec!["Children"], vec!["Children"]),
        ("maximum_age=16", vec![], vec![]),
        (
            "minimum_age=16&maximum_age=25",
            vec!["Teens", "Young adults"],
            vec!["Teens", "Young adults"],
        ),
        (
            "minimum_age=&maximum_age=",
            vec![
                "Adults",
                "Anyone",
                "Children",
                "Older people",
                "Phone line",
                "Teens",
                "Young adults",
            ],
            vec![
                "Adults",
                "Anyone",
                "Children",
                "Older people",
                "Teens",
                "Young adults",
            ],
        ),
    ] {
        assert_eq!(
            listed(&f.app, &format!("/oruk/oruk-ages/services?{query}")).await,
            services,
            "{query}"
        );
        assert_eq!(
            listed(
                &f.app,
                &format!("/oruk/oruk-ages/service_at_locations?{query}")
            )
            .await,
            located,
            "{query}"
        );
    }
    let page = get(&f.app, "/oruk/oruk-ages/services?search=teens").await;
    assert_eq!(
        (
            &page["contents"][0]["minimum_age"],
            &page["contents"][0]["maximum_age"]
        ),
        (&json!(16), &json!(25))
    );
    let anyone = get(
        &f.app,
        &format!("/oruk/oruk-ages/services/{}", f.ids["Anyone"]),
    )
    .await;
    assert!(
        anyone.get("minimum_age").is_none() && anyone.get("maximum_age").is_none(),
        "absent, never null"
    );
    for bad in [
        "minimum_age=adult",
        "minimum_age=-1",
        "maximum_age=131",
        "maximum_age=NaN",
        "minimum_age=30&maximum_age=18",
    ] {
        for list in ["services", "service_at_locations"] {
            assert_problem(
                f.app
                    .get(&format!("/oruk/oruk-ages/{list}?{bad}"))
                    .send()
                    .await
                    .unwrap(),
                400,
                "invalid_query_parameter",
            )
            .await;
        }
    }
}

#[tokio::test]
async fn time_filters_need_one_opening_period_to_meet_them_all() {
    let f = filtered("oruk-times").await;
    for (query, services) in [
        (
            "day=MO",
            vec!["Children", "Phone line", "Teens", "Young adults"],
        ),
        (
            "day=monday",
            vec!["Children", "Phone line", "Teens", "Young adults"],
        ),
        (
            "day=mon",
            vec!["Children", "Phone line", "Teens", "Young adults"],
        ),
        ("day=SU", vec![]),
        // Opening at the time or later.
        (
            "start_time=13:00",
            vec!["Children", "Older people", "Teens"],
        ),
        (
            "start_time=09:00",
            vec![
                "Adults",
                "Children",
                "Older people",
                "Phone line",
                "Teens",
                "Young adults",
            ],
        ),
        (
            "start_time=09:01",
            vec!["Adults", "Children", "Older people", "Teens"],
        ),
        // Closing at the time or earlier.
        ("end_time=12:00", vec!["Teens", "Young adults"]),
        ("end_time=09:59", vec![]),
        ("end_time=10:00:00", vec!["Teens"]),
        // All of them by the same period: Teens opens on Monday at 09:00 and at 14:00 only on
        // Wednesday.
        (
            "day=MO&start_time=09:00&end_time=12:00",
            vec!["Teens", "Young adults"],
        ),
        ("day=MO&start_time=13:00", vec!["Children"]),
        ("day=WE&start_time=13:00", vec!["Teens"]),
        ("day=TU&end_time=12:00", vec![]),
        (
            "day=&start_time=&end_time=",
            vec![
                "Adults",
                "Anyone",
                "Children",
                "Older people",
                "Phone line",
                "Teens",
                "Young adults",
            ],
        ),
    ] {
        assert_eq!(
            listed(&f.app, &format!("/oruk/oruk-times/services?{query}")).await,
            services,
            "{query}"
        );
        let located: Vec<&str> = services
            .iter()
            .copied()
            .filter(|s| *s != "Phone line")
            .collect();
        assert_eq!(
            listed(
                &f.app,
                &format!("/oruk/oruk-times/service_at_locations?{query}")
            )
            .await,
            located,
            "{query}"
        );
    }
    let combined = listed(
        &f.app,
        "/oruk/oruk-times/services?day=MO&minimum_age=18&search=adults",
    )
    .await;
    assert_eq!(combined, ["Young adults"]);
    for bad in [
        "day=someday",
        "day=1",
        "start_time=9am",
        "end_time=24:00",
        "start_time=12:00:30",
        "start_time=12:00&end_time=12:00",
        "start_time=13:00&end_time=12:00",
    ] {
        for list in ["services", "service_at_locations"] {
            assert_problem(
                f.app
                    .get(&format!("/oruk/oruk-times/{list}?{bad}"))
                    .send()
                    .await
                    .unwrap(),
                400,
                "invalid_query_parameter",
            )
            .await;
        }
    }
}

#[tokio::test]
async fn opening_hours_are_weekly_schedules_and_a_change_is_answered_at_once() {
    let f = filtered("oruk-hours").await;
    let young = f.ids["Young adults"];
    let path = format!("/oruk/oruk-hours/services/{young}");
    let service = get(&f.app, &path).await;
    assert_valid(
        &reference("schema/compiled/service.json"),
        &service,
        "a service",
    );
    let schedules = service["schedules"].as_array().unwrap();
    assert_eq!(
        schedules.len(),
        1,
        "one schedule for the hours shared by two days"
    );
    assert_eq!(
        (
            &schedules[0]["freq"],
            &schedules[0]["interval"],
            &schedules[0]["byday"],
            &schedules[0]["opens_at"],
            &schedules[0]["closes_at"]
        ),
        (
            &json!("WEEKLY"),
            &json!(1),
            &json!("MO,WE"),
            &json!("09:00"),
            &json!("12:00")
        )
    );
    assert_eq!(schedules[0]["service_id"], young.to_string());
    assert!(schedules[0].get("description").is_none());
    let teens = get(
        &f.app,
        &format!("/oruk/oruk-hours/services/{}", f.ids["Teens"]),
    )
    .await;
    let byday: Vec<&str> = teens["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["byday"].as_str().unwrap())
        .collect();
    assert_eq!(byday, ["MO", "WE"]);
    assert_ne!(teens["schedules"][0]["id"], teens["schedules"][1]["id"]);

    assert!(listed(&f.app, "/oruk/oruk-hours/services?day=SU")
        .await
        .is_empty());
    let directory = format!("/v1/directory/services/{young}");
    let etag = f
        .app
        .get(&directory)
        .bearer_auth(&f.admin)
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let changed = f
        .app
        .patch(&directory)
        .bearer_auth(&f.admin)
        .header("If-Match", etag)
        .json(&json!({
            "schedules": hours(&[("monday", "09:00", "12:00"), ("wednesday", "09:00", "12:00"), ("sunday", "09:00", "12:00")]),
            "maximum_age": 30,
            "opening_times": "Not on bank holidays.",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(
        listed(&f.app, "/oruk/oruk-hours/services?day=SU").await,
        ["Young adults"]
    );
    assert_eq!(
        listed(&f.app, "/oruk/oruk-hours/service_at_locations?day=SU").await,
        ["Young adults"]
    );
    assert!(!listed(&f.app, "/oruk/oruk-hours/services?maximum_age=25")
        .await
        .contains(&"Young adults".to_owned()));
    let service = get(&f.app, &path).await;
    assert_valid(
        &reference("schema/compiled/service.json"),
        &service,
        "a changed service",
    );
    assert_eq!(service["schedules"][0]["byday"], "MO,WE,SU");
    assert_eq!(
        service["schedules"][0]["id"], schedules[0]["id"],
        "the hours keep their schedule's id"
    );
    assert_eq!(
        service["schedules"][1]["description"],
        "Not on bank holidays."
    );
    assert_eq!(service["maximum_age"], 30);
}

#[tokio::test]
async fn what_the_api_publishes_imports_back_unchanged() {
    let f = filtered("oruk-round-trip").await;
    let young = f.ids["Young adults"];
    let published = get(&f.app, &format!("/oruk/oruk-round-trip/services/{young}")).await;
    let other = f.app.create_federation("oruk-round-trip-copy").await.id;
    let admin = f.app.as_role(Role::FederationAdmin, other, None);
    let import = |body: String| {
        f.app
            .post("/v1/directory/import")
            .bearer_auth(&admin)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let first: Value = import(published.to_string())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["services"]["created"], 1, "{first}");
    let copied: Value = f
        .app
        .get("/v1/directory/services")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let original: Value = f
        .app
        .get(&format!("/v1/directory/services/{young}"))
        .bearer_auth(&f.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let copy = &copied["items"][0];
    for field in [
        "minimum_age",
        "maximum_age",
        "schedules",
        "opening_times",
        "postcode",
    ] {
        assert_eq!(copy[field], original[field], "{field}");
    }
    let again: Value = import(published.to_string())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["services"],
        json!({"created": 0, "updated": 0, "unchanged": 1})
    );
    let republished = get(
        &f.app,
        &format!(
            "/oruk/oruk-round-trip-copy/services/{}",
            copy["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(
        republished["schedules"].as_array().unwrap().len(),
        published["schedules"].as_array().unwrap().len()
    );
    assert_eq!(
        republished["schedules"][0]["byday"],
        published["schedules"][0]["byday"]
    );
}
