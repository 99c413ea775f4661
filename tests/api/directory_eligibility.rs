//! The ages a service is for and its weekly opening hours, through the authenticated directory
//! API: kept as sent (in canonical form), changed field by field, validated field by field, and
//! held to their federation by the database.

use crate::helpers::{assert_problem, id_of, spawn_app, TestApp};
use serde_json::{json, Value};
use sqlx::Connection;
use uuid::Uuid;
use waymark_domain::Role;

struct Fixture {
    app: TestApp,
    federation: Uuid,
    admin: String,
    organisation: Uuid,
}

async fn fixture(slug: &str) -> Fixture {
    let app = spawn_app().await;
    let federation = app.create_federation(slug).await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let organisation = id_of(
        app.post("/v1/directory/organisations")
            .bearer_auth(&admin)
            .json(&json!({"name": "Charnwood Walks"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    Fixture {
        app,
        federation,
        admin,
        organisation,
    }
}

fn walks(organisation: Uuid) -> Value {
    json!({
        "organisation_id": organisation, "name": "Health walks", "description": "Gentle group walks.",
        "need_categories": ["physical_activity"], "delivery_modes": ["in_person"],
    })
}

async fn post_service(f: &Fixture, body: &Value) -> reqwest::Response {
    f.app
        .post("/v1/directory/services")
        .bearer_auth(&f.admin)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Sends a change with the ETag of the current version and answers the service it made.
async fn change(f: &Fixture, id: Uuid, changes: Value) -> reqwest::Response {
    let path = format!("/v1/directory/services/{id}");
    let current = f.app.get(&path).bearer_auth(&f.admin).send().await.unwrap();
    let etag = current.headers()["etag"].to_str().unwrap().to_owned();
    f.app
        .patch(&path)
        .bearer_auth(&f.admin)
        .header("If-Match", etag)
        .json(&changes)
        .send()
        .await
        .unwrap()
}

async fn changed(f: &Fixture, id: Uuid, changes: Value) -> Value {
    let response = change(f, id, changes).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn fields(problem: &Value) -> Vec<(&str, &str)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn ages_and_opening_hours_are_kept_changed_and_cleared() {
    let f = fixture("eligibility-kept").await;
    let mut body = walks(f.organisation);
    body["minimum_age"] = json!(18);
    body["maximum_age"] = json!(65.0);
    body["schedules"] = json!([
        {"day": "thursday", "opens_at": "13:00", "closes_at": "15:30:00"},
        {"day": "TU", "opens_at": "9:30", "closes_at": "11:00"},
    ]);
    let response = post_service(&f, &body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let week = json!([
        {"day": "tuesday", "opens_at": "09:30", "closes_at": "11:00"},
        {"day": "thursday", "opens_at": "13:00", "closes_at": "15:30"},
    ]);
    assert_eq!(
        (&created["minimum_age"], &created["maximum_age"]),
        (&json!(18), &json!(65))
    );
    assert_eq!(
        created["schedules"], week,
        "kept in week order, in canonical form"
    );
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let read: Value = f
        .app
        .get(&format!("/v1/directory/services/{id}"))
        .bearer_auth(&f.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["schedules"], week);
    let found: Value = f
        .app
        .get("/v1/directory/services")
        .bearer_auth(&f.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        found["items"][0]["schedules"], week,
        "search results carry them too"
    );
    assert_eq!(found["items"][0]["minimum_age"], 18);

    let renamed = changed(&f, id, json!({"name": "Health walks (Queens Park)"})).await;
    assert_eq!(
        (
            &renamed["minimum_age"],
            &renamed["maximum_age"],
            &renamed["schedules"]
        ),
        (&json!(18), &json!(65), &week),
        "absent fields stay as they are"
    );
    let replaced = changed(
        &f,
        id,
        json!({"minimum_age": null, "schedules": [{"day": "sat", "opens_at": "10:00", "closes_at": "12:00"}]}),
    )
    .await;
    assert!(replaced["minimum_age"].is_null());
    assert_eq!(replaced["maximum_age"], 65);
    assert_eq!(
        replaced["schedules"],
        json!([{"day": "saturday", "opens_at": "10:00", "closes_at": "12:00"}])
    );
    let cleared = changed(&f, id, json!({"schedules": null, "maximum_age": null})).await;
    assert_eq!(cleared["schedules"], json!([]));
    assert!(cleared["maximum_age"].is_null());
    let emptied = changed(&f, id, json!({"schedules": [], "minimum_age": 0})).await;
    assert_eq!(
        (&emptied["schedules"], &emptied["minimum_age"]),
        (&json!([]), &json!(0))
    );

    // A search kept before the change is not answered again after it.
    let after: Value = f
        .app
        .get("/v1/directory/services")
        .bearer_auth(&f.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["items"][0]["schedules"], json!([]));
    assert_eq!(after["items"][0]["minimum_age"], 0);
}

#[tokio::test]
async fn ages_and_opening_hours_are_validated_field_by_field() {
    let f = fixture("eligibility-checked").await;
    let mut body = walks(f.organisation);
    body["minimum_age"] = json!(12.5);
    body["maximum_age"] = json!(131);
    body["schedules"] = json!([
        {"day": "funday", "opens_at": "09:00", "closes_at": "10:00"},
        {"day": "monday", "opens_at": "9am", "closes_at": "10:00"},
        {"day": "monday", "opens_at": "22:00", "closes_at": "02:00"},
        {"day": "tuesday", "opens_at": "09:00", "closes_at": "24:00"},
    ]);
    let problem = assert_problem(post_service(&f, &body).await, 422, "validation_failed").await;
    assert_eq!(
        fields(&problem),
        [
            ("minimum_age", "invalid_format"),
            ("maximum_age", "out_of_range"),
            ("schedules[0].day", "unknown"),
            ("schedules[1].opens_at", "invalid_format"),
            ("schedules[2].closes_at", "out_of_range"),
            ("schedules[3].closes_at", "invalid_format"),
        ]
    );

    body["minimum_age"] = json!(30);
    body["maximum_age"] = json!(18);
    body["schedules"] = json!([
        {"day": "monday", "opens_at": "09:00", "closes_at": "12:00"},
        {"day": "monday", "opens_at": "11:00", "closes_at": "13:00"},
        {"day": "wednesday", "opens_at": "09:00", "closes_at": "12:00"},
        {"day": "wed", "opens_at": "09:00", "closes_at": "12:00"},
    ]);
    let problem = assert_problem(post_service(&f, &body).await, 422, "validation_failed").await;
    assert_eq!(
        fields(&problem),
        [
            ("maximum_age", "out_of_range"),
            ("schedules[1]", "overlapping"),
            ("schedules[3]", "duplicate"),
        ]
    );

    let many: Vec<Value> = (0..51)
        .map(|i| json!({"day": "monday", "opens_at": format!("{:02}:00", i % 24), "closes_at": format!("{:02}:30", i % 24)}))
        .collect();
    body = walks(f.organisation);
    body["schedules"] = json!(many);
    let problem = assert_problem(post_service(&f, &body).await, 422, "validation_failed").await;
    assert_eq!(fields(&problem), [("schedules", "too_long")]);

    body = walks(f.organisation);
    body["schedules"] = json!([{"day": "monday", "opens_at": "09:00"}]);
    let problem = assert_problem(post_service(&f, &body).await, 422, "invalid_body").await;
    assert_eq!(problem["errors"][0]["field"], "schedules[0]");

    // A change is checked against what it leaves: a minimum above the kept maximum.
    body = walks(f.organisation);
    body["maximum_age"] = json!(25);
    let id = id_of(post_service(&f, &body).await).await;
    let problem = assert_problem(
        change(&f, id, json!({"minimum_age": 40})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&problem), [("maximum_age", "out_of_range")]);
}

#[tokio::test]
async fn opening_hours_are_held_to_their_federation_by_the_database() {
    let f = fixture("eligibility-rls").await;
    let mut body = walks(f.organisation);
    body["schedules"] = json!([{"day": "monday", "opens_at": "09:00", "closes_at": "12:00"}]);
    let service = id_of(post_service(&f, &body).await).await;
    let other = f.app.create_federation("eligibility-rls-other").await.id;

    let mut conn = f.app.connect_as_service_role().await;
    let unscoped: i64 = sqlx::query_scalar("SELECT count(*) FROM service_schedules")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(unscoped, 0, "invisible without a tenant");
    let mut tx = conn.begin().await.unwrap();
    // As the service sets it: a SET LOCAL reaches Citus's workers, a set_config() does not.
    sqlx::raw_sql(&format!("SET LOCAL waymark.federation_id = '{}'", other))
        .execute(&mut *tx)
        .await
        .unwrap();
    let foreign: i64 = sqlx::query_scalar("SELECT count(*) FROM service_schedules")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(foreign, 0, "invisible to another federation");
    let insert = sqlx::query(
        "INSERT INTO service_schedules (federation_id, service_id, day, opens_at, closes_at) \
         VALUES ($1, $2, 2, '09:00', '10:00')",
    )
    .bind(f.federation)
    .bind(service)
    .execute(&mut *tx)
    .await;
    assert!(
        insert.is_err(),
        "another federation cannot add opening hours"
    );
    tx.rollback().await.unwrap();

    let mut tx = conn.begin().await.unwrap();
    // As the service sets it: a SET LOCAL reaches Citus's workers, a set_config() does not.
    sqlx::raw_sql(&format!(
        "SET LOCAL waymark.federation_id = '{}'",
        f.federation
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    let own: i64 = sqlx::query_scalar("SELECT count(*) FROM service_schedules")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(own, 1);
    let elsewhere = sqlx::query(
        "INSERT INTO service_schedules (federation_id, service_id, day, opens_at, closes_at) \
         VALUES ($1, $2, 2, '09:00', '10:00')",
    )
    .bind(f.federation)
    .bind(Uuid::now_v7())
    .execute(&mut *tx)
    .await;
    assert!(
        elsewhere.is_err(),
        "opening hours belong to a service of the federation"
    );
}
