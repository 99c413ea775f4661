//! Administration: federations, practices, users and service accounts, with their validation,
//! conflicts, optimistic concurrency, pagination and role rules.

use crate::helpers::{assert_problem, id_of, spawn_app, PASSWORD};
use serde_json::{json, Value};
use std::collections::HashSet;
use waymark_domain::{Role, ServiceScope};

#[tokio::test]
async fn a_platform_admin_creates_a_federation_and_its_first_admin_who_can_sign_in() {
    let app = spawn_app().await;
    let platform = app.platform_admin();
    let created = app
        .post("/v1/federations")
        .bearer_auth(&platform)
        .json(&json!({"slug": "north-charnwood", "name": "North Charnwood Federation"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let federation = id_of(created).await;
    assert_eq!(location, format!("/v1/federations/{federation}"));

    let admin = app
        .post(&format!("/v1/federations/{federation}/admins"))
        .bearer_auth(&platform)
        .json(&json!({"email": "fran@example.org", "display_name": "Fran", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 201);
    let admin: Value = admin.json().await.unwrap();
    assert_eq!(admin["roles"], json!(["federation_admin"]));

    let token: Value = app
        .sign_in("fran@example.org", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let practice = app
        .post("/v1/practices")
        .bearer_auth(token)
        .json(&json!({"ods_code": "c82010", "name": "Rosebery Medical Centre"}))
        .send()
        .await
        .unwrap();
    assert_eq!(practice.status(), 201);
    assert_eq!(practice.headers().get("etag").unwrap(), "\"1\"");
    let practice: Value = practice.json().await.unwrap();
    assert_eq!(practice["ods_code"], "C82010");
    assert_eq!(practice["federation_id"], json!(federation));
    let own: Value = app
        .get(&format!("/v1/federations/{federation}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["slug"], "north-charnwood");
}

#[tokio::test]
async fn only_platform_admins_manage_federations() {
    let app = spawn_app().await;
    let federation = app.create_federation("guarded").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    let response = app
        .post("/v1/federations")
        .bearer_auth(&admin)
        .json(&json!({"slug": "mine", "name": "Mine"}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "forbidden").await;
    assert_problem(
        app.get("/v1/federations")
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    let appoint = app
        .post(&format!("/v1/federations/{}/admins", federation.id))
        .bearer_auth(&admin)
        .json(&json!({"email": "x@example.org", "display_name": "X", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_problem(appoint, 403, "forbidden").await;
    // A platform admin has no federation to work inside.
    let platform = app.platform_admin();
    let practice = app
        .post("/v1/practices")
        .bearer_auth(&platform)
        .json(&json!({"ods_code": "C82010", "name": "P"}))
        .send()
        .await
        .unwrap();
    assert_problem(practice, 403, "forbidden").await;
}

#[tokio::test]
async fn duplicate_slugs_ods_codes_emails_and_names_conflict() {
    let app = spawn_app().await;
    let federation = app.create_federation("dupes").await;
    let platform = app.platform_admin();
    let again = app
        .post("/v1/federations")
        .bearer_auth(&platform)
        .json(&json!({"slug": "dupes", "name": "Again"}))
        .send()
        .await
        .unwrap();
    assert_problem(again, 409, "already_exists").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    let practice = app
        .post("/v1/practices")
        .bearer_auth(&admin)
        .json(&json!({"ods_code": "A10000", "name": "Again"}))
        .send()
        .await
        .unwrap();
    assert_problem(practice, 409, "already_exists").await;
    let user = json!({"email": "same@example.org", "display_name": "S", "password": PASSWORD, "roles": ["commissioner"]});
    assert_eq!(app.create_user(&admin, user.clone()).await.status(), 201);
    assert_problem(app.create_user(&admin, user).await, 409, "already_exists").await;
    let account = json!({"name": "sync", "scopes": ["stats:read"]});
    assert_eq!(
        app.post("/v1/service-accounts")
            .bearer_auth(&admin)
            .json(&account)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    let twice = app
        .post("/v1/service-accounts")
        .bearer_auth(&admin)
        .json(&account)
        .send()
        .await
        .unwrap();
    assert_problem(twice, 409, "already_exists").await;
}

#[tokio::test]
async fn validation_names_every_bad_field() {
    let app = spawn_app().await;
    let federation = app.create_federation("valid").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    let response = app
        .post("/v1/practices")
        .bearer_auth(&admin)
        .json(&json!({"ods_code": "12345", "name": " "}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "validation_failed").await;
    let fields: HashSet<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, HashSet::from(["ods_code", "name"]));

    let response = app
        .create_user(&admin, json!({"email": "nope", "display_name": "", "password": "short", "roles": ["clinician"]}))
        .await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    let fields: HashSet<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        HashSet::from(["email", "display_name", "password", "practice_id"])
    );

    let mixed = app
        .create_user(
            &admin,
            json!({"email": "m@example.org", "display_name": "M", "password": PASSWORD,
            "roles": ["commissioner", "clinician"], "practice_id": federation.practices[0]}),
        )
        .await;
    let problem = assert_problem(mixed, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["code"], "mixed_levels");

    let no_scopes = app
        .post("/v1/service-accounts")
        .bearer_auth(&admin)
        .json(&json!({"name": "x", "scopes": []}))
        .send()
        .await
        .unwrap();
    assert_problem(no_scopes, 422, "validation_failed").await;
}

#[tokio::test]
async fn practice_admins_manage_only_their_own_staff_with_practice_roles() {
    let app = spawn_app().await;
    let federation = app.create_federation("practice-admins").await;
    let practice_admin = app.as_role(
        Role::PracticeAdmin,
        federation.id,
        Some(federation.practices[0]),
    );
    let staff = |roles: Value, practice| json!({"email": format!("{}@example.org", uuid::Uuid::now_v7()), "display_name": "Staff", "password": PASSWORD, "roles": roles, "practice_id": practice});
    let ok = app
        .create_user(
            &practice_admin,
            staff(json!(["volunteer"]), federation.practices[0]),
        )
        .await;
    assert_eq!(ok.status(), 201);
    let elsewhere = app
        .create_user(
            &practice_admin,
            staff(json!(["volunteer"]), federation.practices[1]),
        )
        .await;
    assert_problem(elsewhere, 403, "forbidden").await;
    let escalation = app
        .create_user(
            &practice_admin,
            staff(json!(["federation_admin"]), federation.practices[0]),
        )
        .await;
    assert_problem(escalation, 403, "forbidden").await;
    let platform = app
        .create_user(
            &practice_admin,
            staff(json!(["platform_admin"]), federation.practices[0]),
        )
        .await;
    assert_problem(platform, 403, "forbidden").await;

    let listing: Value = app
        .get("/v1/users")
        .bearer_auth(&practice_admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing["items"].as_array().unwrap().len(), 1);

    for role in [
        Role::Clinician,
        Role::Volunteer,
        Role::Commissioner,
        Role::Provider,
    ] {
        let practice =
            matches!(role, Role::Clinician | Role::Volunteer).then_some(federation.practices[0]);
        let token = app.as_role(role, federation.id, practice);
        let response = app
            .create_user(&token, staff(json!(["volunteer"]), federation.practices[0]))
            .await;
        assert_problem(response, 403, "forbidden").await;
        assert_problem(
            app.get("/v1/users")
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
            403,
            "forbidden",
        )
        .await;
    }
}

#[tokio::test]
async fn updates_need_the_current_etag() {
    let app = spawn_app().await;
    let federation = app.create_federation("etags").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    let path = format!("/v1/practices/{}", federation.practices[0]);
    let read = app.get(&path).bearer_auth(&admin).send().await.unwrap();
    let etag = read
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();

    let without = app
        .patch(&path)
        .bearer_auth(&admin)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_problem(without, 428, "if_match_required").await;

    let updated = app
        .patch(&path)
        .bearer_auth(&admin)
        .header("If-Match", &etag)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let new_etag = updated
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_etag, etag);
    let body: Value = updated.json().await.unwrap();
    assert_eq!(body["name"], "Renamed");
    assert_eq!(body["ods_code"], "A10000");

    // A second writer with the old ETag loses, and learns the current one.
    let stale = app
        .patch(&path)
        .bearer_auth(&admin)
        .header("If-Match", &etag)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(stale, 412, "etag_mismatch").await;
    assert!(problem["detail"].as_str().unwrap().contains(&new_etag));
    let garbage = app
        .patch(&path)
        .bearer_auth(&admin)
        .header("If-Match", "W/\"2\"")
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_problem(garbage, 412, "etag_mismatch").await;

    // A clinician may not, whatever the ETag.
    let clinician = app.as_role(
        Role::Clinician,
        federation.id,
        Some(federation.practices[0]),
    );
    let denied = app
        .patch(&path)
        .bearer_auth(&clinician)
        .header("If-Match", &new_etag)
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .unwrap();
    assert_problem(denied, 403, "forbidden").await;
}

#[tokio::test]
async fn user_roles_change_with_their_attachment_and_never_for_oneself() {
    let app = spawn_app().await;
    let federation = app.create_federation("roles").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    let created = app
        .create_user(
            &admin,
            json!({"email": "r@example.org", "display_name": "R", "password": PASSWORD,
            "roles": ["clinician"], "practice_id": federation.practices[0]}),
        )
        .await;
    let id = id_of(created).await;
    let path = format!("/v1/users/{id}");
    let moved = app
        .patch(&path)
        .bearer_auth(&admin)
        .header("If-Match", "\"1\"")
        .json(&json!({"roles": ["practice_admin", "clinician"], "practice_id": federation.practices[1]}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    let body: Value = moved.json().await.unwrap();
    assert_eq!(body["roles"], json!(["practice_admin", "clinician"]));
    assert_eq!(body["practice_id"], json!(federation.practices[1]));

    let orphan = app
        .patch(&path)
        .bearer_auth(&admin)
        .header("If-Match", "\"2\"")
        .json(&json!({"roles": ["volunteer"]}))
        .send()
        .await
        .unwrap();
    assert_problem(orphan, 422, "validation_failed").await;

    let me = app.token(&waymark_domain::Principal {
        kind: waymark_domain::PrincipalKind::User,
        subject: id,
        federation_id: Some(federation.id.into()),
        practice_id: Some(federation.practices[1].into()),
        organisation_id: None,
        roles: vec![Role::PracticeAdmin],
        scopes: vec![],
    });
    let own = app
        .patch(&path)
        .bearer_auth(&me)
        .header("If-Match", "\"2\"")
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_problem(own, 409, "own_account").await;
}

#[tokio::test]
async fn lists_page_through_everything_once_in_a_stable_order() {
    let app = spawn_app().await;
    let federation = app.create_federation("pages").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    for i in 0..7 {
        let response = app
            .create_user(&admin, json!({"email": format!("u{i}@example.org"), "display_name": "U", "password": PASSWORD, "roles": ["commissioner"]}))
            .await;
        assert_eq!(response.status(), 201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/v1/users?limit=3".to_owned();
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = app
            .get(&path)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["email"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..7).map(|i| format!("u{i}@example.org")).collect();
    assert_eq!(seen, expected);

    for bad in [
        "limit=0",
        "limit=201",
        "limit=ten",
        "cursor=garbage",
        "sort=name",
    ] {
        let response = app
            .get(&format!("/v1/users?{bad}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "invalid_query_parameter").await;
    }
}

#[tokio::test]
async fn service_account_secrets_are_shown_once_and_accounts_can_be_deactivated() {
    let app = spawn_app().await;
    let federation = app.create_federation("accounts").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    let created = app
        .post("/v1/service-accounts")
        .bearer_auth(&admin)
        .json(&json!({"name": "finance-export", "scopes": ["stats:read", "stats:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["scopes"], json!(["stats:read"]));
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let read: Value = app
        .get(&format!("/v1/service-accounts/{id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(read.get("client_secret").is_none());
    assert!(!read.to_string().contains(&secret));

    let off = app
        .patch(&format!("/v1/service-accounts/{id}"))
        .bearer_auth(&admin)
        .header("If-Match", "\"1\"")
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 200);
    let grant = app
        .post("/v1/auth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_problem(grant, 401, "invalid_credentials").await;

    // Service accounts are integration clients, not administrators.
    let service = app
        .as_service_account(federation.id, &ServiceScope::ALL)
        .await;
    let response = app
        .post("/v1/practices")
        .bearer_auth(&service)
        .json(&json!({"ods_code": "C82010", "name": "P"}))
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "forbidden").await;
}
