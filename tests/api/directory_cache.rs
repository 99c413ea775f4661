//! Kept directory answers are exact: every change is seen by the next search, in every instance
//! of the service, and a kept answer equals what the database would answer now.

use crate::helpers::{id_of, spawn_app, TestApp};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;
use waymark_domain::Role;

async fn search(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app
        .get(&format!("/v1/directory/services?{query}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{query}");
    response.json().await.unwrap()
}

fn names(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

async fn created(response: reqwest::Response) -> (Uuid, String) {
    assert_eq!(response.status(), 201);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    (id_of(response).await, etag)
}

async fn directory_version(app: &TestApp, federation: Uuid) -> i64 {
    let mut owner = PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query_scalar(
        "SELECT coalesce((SELECT version FROM directory_versions WHERE federation_id = $1), 0)",
    )
    .bind(federation)
    .fetch_one(&mut owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_change_through_one_instance_is_seen_at_once_by_the_other() {
    let first = spawn_app().await;
    let second = first.another_instance().await;
    let created_federation = first.create_federation("cache-two").await;
    let federation = created_federation.id;
    let admin = first.as_role(Role::FederationAdmin, federation, None);
    let volunteer = first.as_role(
        Role::Volunteer,
        federation,
        Some(created_federation.practices[0]),
    );

    let (organisation, organisation_etag) = created(
        first
            .post("/v1/directory/organisations")
            .bearer_auth(&admin)
            .json(&json!({"name": "Charnwood Walks"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (walks, walks_etag) = created(
        first
            .post("/v1/directory/services")
            .bearer_auth(&admin)
            .json(&json!({
                "organisation_id": organisation, "name": "Health walks",
                "description": "Gentle group walks.", "need_categories": ["physical_activity"],
                "delivery_modes": ["in_person"],
            }))
            .send()
            .await
            .unwrap(),
    )
    .await;

    // Asked twice, so the second answer is the kept one.
    for _ in 0..2 {
        let page = search(&first, &volunteer, "q=walks").await;
        assert_eq!(names(&page), ["Health walks"]);
        assert_eq!(page["items"][0]["organisation"]["name"], "Charnwood Walks");
    }

    // The other instance renames the service: the next search here sees it.
    let renamed = second
        .patch(&format!("/v1/directory/services/{walks}"))
        .bearer_auth(&admin)
        .header("If-Match", &walks_etag)
        .json(&json!({"name": "Knitting circle", "description": "Knit and natter."}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    assert!(names(&search(&first, &volunteer, "q=walks").await).is_empty());
    assert_eq!(
        names(&search(&first, &volunteer, "q=knitting").await),
        ["Knitting circle"]
    );

    // A change to the organisation shows in the services that carry its name.
    let organisation_renamed = second
        .patch(&format!("/v1/directory/organisations/{organisation}"))
        .bearer_auth(&admin)
        .header("If-Match", &organisation_etag)
        .json(&json!({"name": "Charnwood Crafts"}))
        .send()
        .await
        .unwrap();
    assert_eq!(organisation_renamed.status(), 200);
    let page = search(&first, &volunteer, "q=knitting").await;
    assert_eq!(page["items"][0]["organisation"]["name"], "Charnwood Crafts");

    // A new service appears in a search the other instance has answered before.
    let before = search(&second, &volunteer, "limit=10").await;
    assert_eq!(before["items"].as_array().unwrap().len(), 1);
    let added = first
        .post("/v1/directory/services")
        .bearer_auth(&admin)
        .json(&json!({
            "organisation_id": organisation, "name": "Chair yoga", "description": "Seated yoga.",
            "need_categories": ["physical_activity"], "delivery_modes": ["in_person"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    assert_eq!(
        names(&search(&second, &volunteer, "limit=10").await),
        ["Chair yoga", "Knitting circle"]
    );
}

#[tokio::test]
async fn kept_answers_equal_fresh_ones_page_by_page() {
    let cached = spawn_app().await;
    let uncached = cached
        .another_instance_with(&[("WAYMARK_DIRECTORY_CACHE_MB", "0")])
        .await;
    let federation = cached.create_federation("cache-equal").await.id;
    let admin = cached.as_role(Role::FederationAdmin, federation, None);
    let (organisation, _) = created(
        cached
            .post("/v1/directory/organisations")
            .bearer_auth(&admin)
            .json(&json!({"name": "Loughborough Together"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    for n in 0..7 {
        let response = cached
            .post("/v1/directory/services")
            .bearer_auth(&admin)
            .json(&json!({
                "organisation_id": organisation, "name": format!("Walking group {n}"),
                "description": "Walks for all.", "need_categories": ["physical_activity"],
                "delivery_modes": ["in_person"], "latitude": 52.77 + n as f64 / 100.0,
                "longitude": -1.2,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    for query in [
        "q=walking&limit=3",
        "near=52.7721,-1.2062&within_km=5&limit=2",
        "category=physical_activity&limit=4",
        "limit=3",
    ] {
        let mut query = query.to_owned();
        loop {
            let warm = search(&cached, &admin, &query).await;
            let kept = search(&cached, &admin, &query).await;
            let fresh = search(&uncached, &admin, &query).await;
            assert_eq!(kept, warm, "{query}");
            assert_eq!(kept, fresh, "{query}");
            match kept["next_cursor"].as_str() {
                Some(cursor) => {
                    let base = query.split("&cursor=").next().unwrap().to_owned();
                    query = format!("{base}&cursor={cursor}");
                }
                None => break,
            }
        }
    }
}

#[tokio::test]
async fn the_version_moves_once_per_change_and_not_for_what_changes_nothing() {
    let app = spawn_app().await;
    let federation = app.create_federation("cache-version").await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let start = directory_version(&app, federation).await;

    let file = "organisation_external_id,organisation_name,external_id,name,description,need_categories,delivery_modes\n\
                org-1,Walks,svc-1,Health walks,Walks.,physical_activity,in_person\n\
                org-1,Walks,svc-2,Chair yoga,Yoga.,physical_activity,in_person\n\
                org-2,Advice,svc-3,Debt advice,Advice.,debt_benefits,phone";
    let import = |query: &'static str| {
        app.post(&format!("/v1/directory/import{query}"))
            .bearer_auth(&admin)
            .header("Content-Type", "text/csv")
            .body(file)
            .send()
    };
    assert_eq!(import("?dry_run=true").await.unwrap().status(), 200);
    assert_eq!(
        directory_version(&app, federation).await,
        start,
        "a dry run changes nothing"
    );
    // Two organisations and three services in one transaction: one version.
    assert_eq!(import("").await.unwrap().status(), 200);
    assert_eq!(directory_version(&app, federation).await, start + 1);
    // The same file again changes no row.
    assert_eq!(import("").await.unwrap().status(), 200);
    assert_eq!(directory_version(&app, federation).await, start + 1);

    let refused = app
        .post("/v1/directory/services")
        .bearer_auth(&admin)
        .json(
            &json!({"organisation_id": Uuid::now_v7(), "name": "Nowhere", "description": "x",
                      "need_categories": ["food"], "delivery_modes": ["online"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(
        directory_version(&app, federation).await,
        start + 1,
        "a refused write changes nothing"
    );

    // Another federation's directory has a version of its own.
    let other = app.create_federation("cache-version-other").await.id;
    let other_admin = app.as_role(Role::FederationAdmin, other, None);
    let response = app
        .post("/v1/directory/organisations")
        .bearer_auth(&other_admin)
        .json(&json!({"name": "Elsewhere"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(directory_version(&app, federation).await, start + 1);
    assert_eq!(directory_version(&app, other).await, 1);
}

/// The opening hours the first service found has, as a search answers them.
async fn found_hours(app: &TestApp, token: &str) -> Value {
    search(app, token, "").await["items"][0]["schedules"].clone()
}

#[tokio::test]
async fn opening_hours_move_the_version_by_themselves() {
    let app = spawn_app().await;
    let federation = app.create_federation("cache-hours").await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let import = |schedule: &str| {
        let file = format!(
            "organisation_external_id,organisation_name,external_id,name,description,need_categories,delivery_modes,schedule\n\
             org-1,Walks,svc-1,Health walks,Walks.,physical_activity,in_person,{schedule}"
        );
        app.post("/v1/directory/import")
            .bearer_auth(&admin)
            .header("Content-Type", "text/csv")
            .body(file)
            .send()
    };
    assert_eq!(import("mon 09:00-12:00").await.unwrap().status(), 200);
    let start = directory_version(&app, federation).await;
    let before = found_hours(&app, &admin).await;
    assert_eq!(before[0]["day"], "monday");
    assert_eq!(import("tue 09:00-12:00").await.unwrap().status(), 200);
    assert_eq!(directory_version(&app, federation).await, start + 1);
    assert_eq!(found_hours(&app, &admin).await[0]["day"], "tuesday");

    // A write to the opening hours alone, with no change to the service's row, moves it too.
    let mut owner = PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("UPDATE service_schedules SET closes_at = '13:00' WHERE federation_id = $1")
        .bind(federation)
        .execute(&mut owner)
        .await
        .unwrap();
    assert_eq!(directory_version(&app, federation).await, start + 2);
    assert_eq!(found_hours(&app, &admin).await[0]["closes_at"], "13:00");
}
