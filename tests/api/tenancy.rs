//! Isolation between tenants: another tenant's ids answer 404 on every route that takes an id,
//! lists hold only the caller's tenant, and the database itself hides rows from an unscoped query.

use crate::helpers::{id_of, spawn_app, Federation, TestApp, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection;
use uuid::Uuid;
use waymark_domain::Role;

struct World {
    app: TestApp,
    a: Federation,
    b: Federation,
    b_user: Uuid,
    b_service_account: Uuid,
    a_practice1_user: Uuid,
    a_federation_user: Uuid,
}

async fn world() -> World {
    let app = spawn_app().await;
    let a = app.create_federation("federation-a").await;
    let b = app.create_federation("federation-b").await;
    let a_admin = app.as_role(Role::FederationAdmin, a.id, None);
    let b_admin = app.as_role(Role::FederationAdmin, b.id, None);
    let user = |email: &str, roles: Value, practice: Option<Uuid>| json!({"email": email, "display_name": "Someone", "password": PASSWORD, "roles": roles, "practice_id": practice});
    let b_user = id_of(
        app.create_user(
            &b_admin,
            user("b@example.org", json!(["clinician"]), Some(b.practices[0])),
        )
        .await,
    )
    .await;
    let a_practice1_user = id_of(
        app.create_user(
            &a_admin,
            user("a1@example.org", json!(["volunteer"]), Some(a.practices[1])),
        )
        .await,
    )
    .await;
    let a_federation_user = id_of(
        app.create_user(
            &a_admin,
            user("af@example.org", json!(["commissioner"]), None),
        )
        .await,
    )
    .await;
    let b_service_account = id_of(
        app.post("/v1/service-accounts")
            .bearer_auth(&b_admin)
            .json(&json!({"name": "sync", "scopes": ["stats:read"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    World {
        app,
        a,
        b,
        b_user,
        b_service_account,
        a_practice1_user,
        a_federation_user,
    }
}

/// Every route that takes an id, with another tenant's id in it.
fn foreign_targets(w: &World) -> Vec<(Method, String, Value)> {
    vec![
        (
            Method::GET,
            format!("/v1/federations/{}", w.b.id),
            Value::Null,
        ),
        (
            Method::GET,
            format!("/v1/practices/{}", w.b.practices[0]),
            Value::Null,
        ),
        (
            Method::PATCH,
            format!("/v1/practices/{}", w.b.practices[0]),
            json!({"name": "Taken over"}),
        ),
        (Method::GET, format!("/v1/users/{}", w.b_user), Value::Null),
        (
            Method::PATCH,
            format!("/v1/users/{}", w.b_user),
            json!({"active": false}),
        ),
        (
            Method::GET,
            format!("/v1/service-accounts/{}", w.b_service_account),
            Value::Null,
        ),
        (
            Method::PATCH,
            format!("/v1/service-accounts/{}", w.b_service_account),
            json!({"active": false}),
        ),
        (
            Method::GET,
            format!("/v1/users?practice_id={}", w.b.practices[0]),
            Value::Null,
        ),
    ]
}

async fn send(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    let mut request = app
        .request(method, path)
        .bearer_auth(token)
        .header("If-Match", "\"1\"");
    if !body.is_null() {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn another_federations_ids_answer_404_to_every_role_and_change_nothing() {
    let w = world().await;
    let callers = [
        w.app.as_role(Role::FederationAdmin, w.a.id, None),
        w.app.as_role(Role::Commissioner, w.a.id, None),
        w.app
            .as_role(Role::PracticeAdmin, w.a.id, Some(w.a.practices[0])),
        w.app
            .as_role(Role::Clinician, w.a.id, Some(w.a.practices[0])),
        w.app
            .as_role(Role::Volunteer, w.a.id, Some(w.a.practices[0])),
        w.app.as_role(Role::Provider, w.a.id, None),
    ];
    let foreign_ids =
        [w.b.id, w.b.practices[0], w.b_user, w.b_service_account].map(|id| id.to_string());
    for (i, token) in callers.iter().enumerate() {
        for (method, path, body) in foreign_targets(&w) {
            let status = send(&w.app, token, method.clone(), &path, &body)
                .await
                .status()
                .as_u16();
            // The answer must not depend on whether the id exists: the same request with an id
            // that exists nowhere gets the same status (404, or 403 where the role may never
            // do this at all).
            let mut nowhere = path.clone();
            for id in &foreign_ids {
                nowhere = nowhere.replace(id.as_str(), &Uuid::now_v7().to_string());
            }
            let baseline = send(&w.app, token, method.clone(), &nowhere, &body)
                .await
                .status()
                .as_u16();
            assert_eq!(
                status, baseline,
                "{method} {path} reveals that the id exists"
            );
            assert!(
                status == 404 || status == 403,
                "{method} {path} answered {status}"
            );
            if i == 0 {
                assert_eq!(
                    status, 404,
                    "a federation admin gets 404 for {method} {path}"
                );
            }
        }
    }
    // Nothing in B changed.
    let b_admin = w.app.as_role(Role::FederationAdmin, w.b.id, None);
    let practice: Value = w
        .app
        .get(&format!("/v1/practices/{}", w.b.practices[0]))
        .bearer_auth(&b_admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(practice["name"], "federation-b practice 0");
    let user: Value = w
        .app
        .get(&format!("/v1/users/{}", w.b_user))
        .bearer_auth(&b_admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["active"], true);
}

#[tokio::test]
async fn ids_that_exist_nowhere_answer_the_same_404() {
    let w = world().await;
    let admin = w.app.as_role(Role::FederationAdmin, w.a.id, None);
    for path in [
        "/v1/practices/",
        "/v1/users/",
        "/v1/service-accounts/",
        "/v1/federations/",
    ] {
        let response = w
            .app
            .get(&format!("{path}{}", Uuid::now_v7()))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn practice_staff_see_only_their_own_practice_and_its_staff() {
    let w = world().await;
    let clinician = w
        .app
        .as_role(Role::Clinician, w.a.id, Some(w.a.practices[0]));
    let own = w
        .app
        .get(&format!("/v1/practices/{}", w.a.practices[0]))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    let neighbour = w
        .app
        .get(&format!("/v1/practices/{}", w.a.practices[1]))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap();
    assert_eq!(neighbour.status(), 404);

    let practice_admin = w
        .app
        .as_role(Role::PracticeAdmin, w.a.id, Some(w.a.practices[0]));
    for user in [w.a_practice1_user, w.a_federation_user] {
        let response = w
            .app
            .get(&format!("/v1/users/{user}"))
            .bearer_auth(&practice_admin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            404,
            "a practice admin must not see user {user}"
        );
    }
    let listing: Value = w
        .app
        .get("/v1/users")
        .bearer_auth(&practice_admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listing["items"].as_array().unwrap().len(),
        0,
        "practice 0 of A has no staff yet"
    );
    let other = w
        .app
        .get(&format!("/v1/users?practice_id={}", w.a.practices[1]))
        .bearer_auth(&practice_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn lists_hold_only_the_callers_federation() {
    let w = world().await;
    let admin = w.app.as_role(Role::FederationAdmin, w.a.id, None);
    for (path, expected) in [
        ("/v1/practices", 2),
        ("/v1/users", 2),
        ("/v1/service-accounts", 0),
    ] {
        let page: Value = w
            .app
            .get(path)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), expected, "{path}: {page}");
        for item in items {
            assert_eq!(item["federation_id"], json!(w.a.id), "{path} leaked {item}");
        }
    }
}

#[tokio::test]
async fn users_cannot_be_placed_in_another_federations_practice() {
    let w = world().await;
    let admin = w.app.as_role(Role::FederationAdmin, w.a.id, None);
    let response = w
        .app
        .create_user(
            &admin,
            json!({"email": "x@example.org", "display_name": "X", "password": PASSWORD,
            "roles": ["clinician"], "practice_id": w.b.practices[0]}),
        )
        .await;
    let problem = crate::helpers::assert_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "practice_id");
}

#[tokio::test]
async fn the_database_shows_nothing_to_a_query_without_a_tenant() {
    let w = world().await;
    let mut conn = w.app.connect_as_service_role().await;
    for table in [
        "federations",
        "practices",
        "users",
        "service_accounts",
        "organisations",
    ] {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(count, 0, "{table} must be invisible without a tenant");
    }
    // Writes without a tenant are refused too.
    let insert = sqlx::query("INSERT INTO practices (id, federation_id, ods_code, name) VALUES ($1, $2, 'Z99999', 'Rogue')")
        .bind(Uuid::now_v7())
        .bind(w.a.id)
        .execute(&mut conn)
        .await;
    assert!(
        insert.is_err(),
        "row-level security must refuse an unscoped insert"
    );
}

#[tokio::test]
async fn the_tenant_lasts_for_one_transaction_and_hides_other_tenants() {
    let w = world().await;
    let mut conn = w.app.connect_as_service_role().await;
    let mut tx = conn.begin().await.unwrap();
    // As the service sets it: a SET LOCAL reaches Citus's workers, a set_config() does not.
    sqlx::raw_sql(&format!("SET LOCAL waymark.federation_id = '{}'", w.a.id))
        .execute(&mut *tx)
        .await
        .unwrap();
    let own: i64 = sqlx::query_scalar("SELECT count(*) FROM practices")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(own, 2);
    // Even a query that asks for B's rows by id gets none: the database is the second layer.
    let foreign: i64 =
        sqlx::query_scalar("SELECT count(*) FROM practices WHERE federation_id = $1")
            .bind(w.b.id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(foreign, 0);
    tx.commit().await.unwrap();
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM practices")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        after, 0,
        "the tenant must not outlive its transaction on a pooled connection"
    );
}

#[tokio::test]
async fn the_service_role_cannot_escape_row_level_security() {
    let w = world().await;
    let mut conn = w.app.connect_as_service_role().await;
    let flags: (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(flags, (false, false));
    let disable = sqlx::query("ALTER TABLE practices DISABLE ROW LEVEL SECURITY")
        .execute(&mut conn)
        .await;
    assert!(
        disable.is_err(),
        "the service role must not own tenant tables"
    );
}

#[tokio::test]
async fn directory_services_can_be_written_only_inside_the_transactions_federation() {
    let w = world().await;
    let b_admin = w.app.as_role(Role::FederationAdmin, w.b.id, None);
    let organisation = id_of(
        w.app
            .post("/v1/directory/organisations")
            .bearer_auth(&b_admin)
            .json(&json!({"name": "B's provider"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let mut conn = w.app.connect_as_service_role().await;
    let mut tx = conn.begin().await.unwrap();
    // As the service sets it: a SET LOCAL reaches Citus's workers, a set_config() does not.
    sqlx::raw_sql(&format!("SET LOCAL waymark.federation_id = '{}'", w.a.id))
        .execute(&mut *tx)
        .await
        .unwrap();
    let insert = sqlx::query(
        "INSERT INTO services (id, federation_id, organisation_id, name, description, need_categories, \
         delivery_modes, accepting_referrals, cost_to_patient) \
         VALUES ($1, $2, $3, 'Rogue', 'Rogue', '{food}', '{online}', true, 'Free')",
    )
    .bind(Uuid::now_v7())
    .bind(w.b.id)
    .bind(organisation)
    .execute(&mut *tx)
    .await;
    assert!(
        insert.is_err(),
        "row-level security must refuse a service for another federation"
    );
}
