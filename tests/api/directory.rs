//! The shared directory: who may change it, validation, search relevance, filters, distance,
//! stable paging, optimistic concurrency and isolation between federations.

use crate::helpers::{assert_problem, id_of, spawn_app, TestApp};
use serde_json::{json, Value};
use std::collections::HashSet;
use uuid::Uuid;
use waymark_domain::{Principal, PrincipalKind, Role, ServiceScope};

async fn create_organisation(app: &TestApp, token: &str, name: &str) -> Uuid {
    let response = app
        .post("/v1/directory/organisations")
        .bearer_auth(token)
        .json(&json!({"name": name, "charity_number": "1123456", "payee_reference": format!("PAY-{name}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    id_of(response).await
}

fn service(
    organisation: Uuid,
    name: &str,
    description: &str,
    needs: Value,
    modes: Value,
    at: Option<(f64, f64)>,
) -> Value {
    let mut body = json!({
        "organisation_id": organisation, "name": name, "description": description,
        "need_categories": needs, "delivery_modes": modes, "postcode": "LE11 1AA",
    });
    if let Some((lat, lng)) = at {
        body["latitude"] = json!(lat);
        body["longitude"] = json!(lng);
    }
    body
}

async fn create_service(app: &TestApp, token: &str, body: Value) -> Uuid {
    let response = app
        .post("/v1/directory/services")
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        201,
        "{}",
        response.text().await.unwrap_or_default()
    );
    id_of(response).await
}

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

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

const LOUGHBOROUGH: (f64, f64) = (52.7721, -1.2062);
const QUORN: (f64, f64) = (52.7452, -1.1712);
const LEICESTER: (f64, f64) = (52.6369, -1.1398);

/// A federation with a small directory: five services of two organisations.
struct Directory {
    app: TestApp,
    federation: Uuid,
    admin: String,
    walks: Uuid,
    advice: Uuid,
    health_walks: Uuid,
}

async fn directory() -> Directory {
    let app = spawn_app().await;
    let federation = app.create_federation("directory").await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let walks = create_organisation(&app, &admin, "Charnwood Walks").await;
    let advice = create_organisation(&app, &admin, "Money Advice").await;
    let health_walks = create_service(
        &app,
        &admin,
        service(
            walks,
            "Health walks",
            "Gentle group walks with tea afterwards.",
            json!(["physical_activity", "loneliness_isolation"]),
            json!(["in_person"]),
            Some(LOUGHBOROUGH),
        ),
    )
    .await;
    create_service(
        &app,
        &admin,
        service(
            walks,
            "Chair exercise",
            "Seated exercise; a short walk to the cafe after.",
            json!(["physical_activity"]),
            json!(["in_person"]),
            Some(QUORN),
        ),
    )
    .await;
    create_service(
        &app,
        &admin,
        service(
            advice,
            "Debt advice",
            "Confidential advice on debts and bills.",
            json!(["debt_benefits"]),
            json!(["in_person", "phone"]),
            Some(LEICESTER),
        ),
    )
    .await;
    let mut phone_only = service(
        advice,
        "Benefits helpline",
        "Benefit checks by phone.",
        json!(["debt_benefits"]),
        json!(["phone"]),
        None,
    );
    phone_only["accepting_referrals"] = json!(false);
    create_service(&app, &admin, phone_only).await;
    create_service(
        &app,
        &admin,
        service(
            advice,
            "Warm homes",
            "Grants and advice to heat your home.",
            json!(["housing", "debt_benefits"]),
            json!(["online"]),
            Some(LOUGHBOROUGH),
        ),
    )
    .await;
    Directory {
        app,
        federation,
        admin,
        walks,
        advice,
        health_walks,
    }
}

#[tokio::test]
async fn everyone_in_the_federation_reads_and_only_writers_write() {
    let d = directory().await;
    let practice = d.app.create_federation("other-practices").await;
    let _ = practice;
    let clinician = d
        .app
        .as_role(Role::Clinician, d.federation, Some(Uuid::now_v7()));
    for token in [
        &clinician,
        &d.app.as_role(Role::Commissioner, d.federation, None),
        &d.app
            .as_service_account(d.federation, &[ServiceScope::DirectoryRead])
            .await,
    ] {
        let page = search(&d.app, token, "").await;
        assert_eq!(page["items"].as_array().unwrap().len(), 5);
        let denied = d
            .app
            .post("/v1/directory/organisations")
            .bearer_auth(token)
            .json(&json!({"name": "Mine"}))
            .send()
            .await
            .unwrap();
        assert_problem(denied, 403, "forbidden").await;
    }
    // A service account reads the directory only when granted it.
    let stats_only = d
        .app
        .as_service_account(d.federation, &[ServiceScope::StatsRead])
        .await;
    let refused = d
        .app
        .get("/v1/directory/services")
        .bearer_auth(&stats_only)
        .send()
        .await
        .unwrap();
    assert_problem(refused, 403, "forbidden").await;
    let writer = d
        .app
        .as_service_account(d.federation, &[ServiceScope::DirectoryWrite])
        .await;
    create_organisation(&d.app, &writer, "Synced Org").await;
    let categories: Value = d
        .app
        .get("/v1/directory/need-categories")
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = categories["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"loneliness_isolation")
            && codes.contains(&"bereavement")
            && codes.len() >= 9
    );
}

#[tokio::test]
async fn providers_update_only_their_own_organisations_services() {
    let d = directory().await;
    let provider = d.app.token(&Principal {
        kind: PrincipalKind::User,
        subject: Uuid::now_v7(),
        federation_id: Some(d.federation.into()),
        practice_id: None,
        organisation_id: Some(d.walks.into()),
        roles: vec![Role::Provider],
        scopes: vec![],
    });
    let own = format!("/v1/directory/services/{}", d.health_walks);
    let updated = d
        .app
        .patch(&own)
        .bearer_auth(&provider)
        .header("If-Match", "\"1\"")
        .json(&json!({"accepting_referrals": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let body: Value = updated.json().await.unwrap();
    assert_eq!(body["accepting_referrals"], false);
    assert_eq!(
        body["name"], "Health walks",
        "fields not sent stay as they were"
    );

    let page = search(&d.app, &d.admin, &format!("organisation_id={}", d.advice)).await;
    let theirs = page["items"][0]["id"].as_str().unwrap();
    let other = d
        .app
        .patch(&format!("/v1/directory/services/{theirs}"))
        .bearer_auth(&provider)
        .header("If-Match", "\"1\"")
        .json(&json!({"name": "Ours now"}))
        .send()
        .await
        .unwrap();
    assert_problem(other, 403, "forbidden").await;
    let moved = d
        .app
        .patch(&own)
        .bearer_auth(&provider)
        .header("If-Match", "\"2\"")
        .json(&json!({"organisation_id": d.advice}))
        .send()
        .await
        .unwrap();
    assert_problem(moved, 403, "forbidden").await;
    let create = d
        .app
        .post("/v1/directory/services")
        .bearer_auth(&provider)
        .json(&service(
            d.walks,
            "New walk",
            "A new walk.",
            json!(["physical_activity"]),
            json!(["in_person"]),
            None,
        ))
        .send()
        .await
        .unwrap();
    assert_problem(create, 403, "forbidden").await;

    // Payee references are for payers and the organisation itself.
    let as_provider: Value = d
        .app
        .get(&format!("/v1/directory/organisations/{}", d.walks))
        .bearer_auth(&provider)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(as_provider["payee_reference"], "PAY-Charnwood Walks");
    let clinician = d
        .app
        .as_role(Role::Clinician, d.federation, Some(Uuid::now_v7()));
    let as_clinician: Value = d
        .app
        .get(&format!("/v1/directory/organisations/{}", d.walks))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(as_clinician.get("payee_reference").is_none());
    let others: Value = d
        .app
        .get(&format!("/v1/directory/organisations/{}", d.advice))
        .bearer_auth(&provider)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(others.get("payee_reference").is_none());
}

#[tokio::test]
async fn services_are_validated_field_by_field() {
    let d = directory().await;
    let mut bad = service(d.walks, " ", "", json!([]), json!([]), Some((95.0, 0.0)));
    bad["postcode"] = json!("LE1");
    bad["website"] = json!("walks.example");
    let response = d
        .app
        .post("/v1/directory/services")
        .bearer_auth(&d.admin)
        .json(&bad)
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
    assert_eq!(
        fields,
        HashSet::from([
            "name",
            "description",
            "need_categories",
            "delivery_modes",
            "postcode",
            "latitude",
            "website"
        ])
    );

    let unknown = service(
        d.walks,
        "X",
        "Y",
        json!(["knitting"]),
        json!(["in_person"]),
        None,
    );
    let response = d
        .app
        .post("/v1/directory/services")
        .bearer_auth(&d.admin)
        .json(&unknown)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "invalid_body").await;
    assert_eq!(problem["errors"][0]["field"], "need_categories[0]");

    let foreign_org = service(
        Uuid::now_v7(),
        "X",
        "Y",
        json!(["food"]),
        json!(["in_person"]),
        None,
    );
    let response = d
        .app
        .post("/v1/directory/services")
        .bearer_auth(&d.admin)
        .json(&foreign_org)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "organisation_id");

    let org = d
        .app
        .post("/v1/directory/organisations")
        .bearer_auth(&d.admin)
        .json(&json!({"name": "X", "charity_number": "12", "email": "nope"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(org, 422, "validation_failed").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn text_search_ranks_names_above_descriptions() {
    let d = directory().await;
    let page = search(&d.app, &d.admin, "q=walk").await;
    assert_eq!(
        names(&page),
        ["Health walks", "Chair exercise"],
        "a name match outranks a description match"
    );
    assert!(page["items"][0].get("distance_km").is_none());
    let none = search(&d.app, &d.admin, "q=swimming").await;
    assert!(names(&none).is_empty());
    let phrase = search(&d.app, &d.admin, "q=%22debts%20and%20bills%22").await;
    assert_eq!(names(&phrase), ["Debt advice"]);
    let excluded = search(&d.app, &d.admin, "q=advice%20-debts").await;
    assert_eq!(names(&excluded), ["Warm homes"]);
}

#[tokio::test]
async fn filters_narrow_results() {
    let d = directory().await;
    assert_eq!(
        names(&search(&d.app, &d.admin, "category=debt_benefits").await),
        ["Benefits helpline", "Debt advice", "Warm homes"]
    );
    assert_eq!(
        names(&search(&d.app, &d.admin, "delivery_mode=phone").await),
        ["Benefits helpline", "Debt advice"]
    );
    assert_eq!(
        names(
            &search(
                &d.app,
                &d.admin,
                "category=debt_benefits&accepting_referrals=true&delivery_mode=phone"
            )
            .await
        ),
        ["Debt advice"]
    );
    assert_eq!(
        names(&search(&d.app, &d.admin, "accepting_referrals=false").await),
        ["Benefits helpline"]
    );
    assert_eq!(
        names(&search(&d.app, &d.admin, "q=&category=&near=&delivery_mode=phone").await),
        ["Benefits helpline", "Debt advice"],
        "empty parameters mean any"
    );
    assert_eq!(
        names(&search(&d.app, &d.admin, &format!("organisation_id={}", d.walks)).await),
        ["Chair exercise", "Health walks"]
    );
}

#[tokio::test]
async fn near_finds_services_within_the_radius_nearest_first_with_distances() {
    let d = directory().await;
    let page = search(&d.app, &d.admin, "near=52.7721,-1.2062&within_km=5").await;
    assert_eq!(
        names(&page),
        ["Health walks", "Warm homes", "Chair exercise"]
    );
    let distances: Vec<f64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["distance_km"].as_f64().unwrap())
        .collect();
    assert_eq!(distances[0], 0.0);
    assert!(
        (3.0..4.0).contains(&distances[2]),
        "Quorn is about 3.9 km from Loughborough: {distances:?}"
    );
    let wider = search(&d.app, &d.admin, "near=52.7721,-1.2062&within_km=20").await;
    assert_eq!(
        names(&wider).last().unwrap(),
        "Debt advice",
        "Leicester is about 16 km away"
    );
    assert!(
        !names(&wider).contains(&"Benefits helpline".to_owned()),
        "services without a location are not near anywhere"
    );
    let ranked = search(&d.app, &d.admin, "q=walk&near=52.7452,-1.1712&within_km=10").await;
    assert_eq!(
        names(&ranked),
        ["Health walks", "Chair exercise"],
        "with q, relevance orders and distance is reported"
    );
    assert!(ranked["items"][0]["distance_km"].as_f64().unwrap() > 3.0);
}

#[tokio::test]
async fn paging_visits_every_match_once_in_every_order() {
    let d = directory().await;
    for query in [
        "",
        "q=advice%20or%20walks%20or%20homes%20or%20exercise%20or%20helpline",
        "near=52.7721,-1.2062&within_km=50",
    ] {
        let full = names(&search(&d.app, &d.admin, &format!("{query}&limit=200")).await);
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = format!("{query}&limit=2");
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={c}"));
            }
            let page = search(&d.app, &d.admin, &q).await;
            paged.extend(names(&page));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(paged, full, "paging {query:?}");
        assert_eq!(paged.iter().collect::<HashSet<_>>().len(), paged.len());
    }
    let first = search(&d.app, &d.admin, "q=walk&limit=1").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let mixed = d
        .app
        .get(&format!("/v1/directory/services?cursor={cursor}"))
        .bearer_auth(&d.admin)
        .send()
        .await
        .unwrap();
    assert_problem(mixed, 400, "invalid_query_parameter").await;
}

#[tokio::test]
async fn bad_search_parameters_are_400() {
    let d = directory().await;
    for bad in [
        "near=north",
        "near=91,0",
        "within_km=5",
        "near=52,-1&within_km=0",
        "near=52,-1&within_km=500",
        "category=knitting",
        "delivery_mode=carrier_pigeon",
        "limit=0",
        "cursor=zzz",
        "colour=red",
    ] {
        let response = d
            .app
            .get(&format!("/v1/directory/services?{bad}"))
            .bearer_auth(&d.admin)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "invalid_query_parameter").await;
    }
    let clinician = d
        .app
        .as_role(Role::Clinician, d.federation, Some(Uuid::now_v7()));
    let inactive = d
        .app
        .get("/v1/directory/services?include_inactive=true")
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap();
    assert_problem(inactive, 403, "forbidden").await;
}

#[tokio::test]
async fn updates_need_the_current_etag_and_inactive_services_leave_search() {
    let d = directory().await;
    let path = format!("/v1/directory/services/{}", d.health_walks);
    let without = d
        .app
        .patch(&path)
        .bearer_auth(&d.admin)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_problem(without, 428, "if_match_required").await;
    let read = d.app.get(&path).bearer_auth(&d.admin).send().await.unwrap();
    let etag = read
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let ok = d
        .app
        .patch(&path)
        .bearer_auth(&d.admin)
        .header("If-Match", &etag)
        .json(&json!({"active": false, "eligibility": "Adults"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let stale = d
        .app
        .patch(&path)
        .bearer_auth(&d.admin)
        .header("If-Match", &etag)
        .json(&json!({"active": true}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "etag_mismatch").await;
    assert!(!names(&search(&d.app, &d.admin, "").await).contains(&"Health walks".to_owned()));
    assert!(
        names(&search(&d.app, &d.admin, "include_inactive=true").await)
            .contains(&"Health walks".to_owned())
    );
    let cleared = d
        .app
        .patch(&path)
        .bearer_auth(&d.admin)
        .header("If-Match", "\"2\"")
        .json(&json!({"eligibility": null}))
        .send()
        .await
        .unwrap();
    let body: Value = cleared.json().await.unwrap();
    assert!(body["eligibility"].is_null());
}

#[tokio::test]
async fn another_federations_directory_is_invisible() {
    let d = directory().await;
    let other = d.app.create_federation("elsewhere").await.id;
    let stranger = d.app.as_role(Role::FederationAdmin, other, None);
    assert!(names(&search(&d.app, &stranger, "").await).is_empty());
    assert!(names(&search(&d.app, &stranger, "q=walk").await).is_empty());
    for path in [
        format!("/v1/directory/services/{}", d.health_walks),
        format!("/v1/directory/organisations/{}", d.walks),
    ] {
        assert_problem(
            d.app
                .get(&path)
                .bearer_auth(&stranger)
                .send()
                .await
                .unwrap(),
            404,
            "not_found",
        )
        .await;
        let patch = d
            .app
            .patch(&path)
            .bearer_auth(&stranger)
            .header("If-Match", "\"1\"")
            .json(&json!({"name": "Mine"}))
            .send()
            .await
            .unwrap();
        assert_problem(patch, 404, "not_found").await;
    }
    let foreign = service(
        d.walks,
        "Sneaky",
        "A service for another federation's organisation.",
        json!(["food"]),
        json!(["online"]),
        None,
    );
    let response = d
        .app
        .post("/v1/directory/services")
        .bearer_auth(&stranger)
        .json(&foreign)
        .send()
        .await
        .unwrap();
    assert_problem(response, 422, "validation_failed").await;
    let organisations: Value = d
        .app
        .get("/v1/directory/organisations")
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(organisations["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn provider_users_belong_to_an_organisation_of_the_directory() {
    let d = directory().await;
    let user = |organisation: Uuid| {
        json!({"email": format!("{}@provider.example", Uuid::now_v7()), "display_name": "Pip", "password": "correct horse battery",
               "roles": ["provider"], "organisation_id": organisation})
    };
    assert_eq!(
        d.app.create_user(&d.admin, user(d.walks)).await.status(),
        201
    );
    let nowhere = d.app.create_user(&d.admin, user(Uuid::now_v7())).await;
    let problem = assert_problem(nowhere, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "organisation_id");
}

#[tokio::test]
async fn every_need_category_has_the_index_its_browsing_uses() {
    use sqlx::{Connection, PgConnection};
    let app = spawn_app().await;
    let mut owner = PgConnection::connect(&app.database_url).await.unwrap();
    for category in waymark_domain::directory::NeedCategory::ALL {
        let name = format!("services_category_{}_idx", category.code());
        let definition: Option<String> =
            sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE indexname = $1")
                .bind(&name)
                .fetch_optional(&mut owner)
                .await
                .unwrap();
        let definition = definition.unwrap_or_else(|| panic!("no index {name}"));
        assert!(
            definition.contains(&format!("ARRAY['{}'::text]", category.code())),
            "{name}: {definition}"
        );
    }
}

#[tokio::test]
async fn an_email_address_is_an_address_or_absent_never_blank() {
    let d = directory().await;
    for blank in ["", "  "] {
        let created = d
            .app
            .post("/v1/directory/organisations")
            .bearer_auth(&d.admin)
            .json(&json!({"name": format!("Blank {blank:?}"), "email": blank}))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(created, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "email", "{problem}");
    }
    let created = d
        .app
        .post("/v1/directory/organisations")
        .bearer_auth(&d.admin)
        .json(&json!({"name": "Reachable", "email": "Hello@Reachable.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let etag = created.headers()["etag"].to_str().unwrap().to_owned();
    let organisation: Value = created.json().await.unwrap();
    assert_eq!(organisation["email"], "hello@reachable.example");
    let path = format!(
        "/v1/directory/organisations/{}",
        organisation["id"].as_str().unwrap()
    );
    let blanked = d
        .app
        .patch(&path)
        .bearer_auth(&d.admin)
        .header("If-Match", &etag)
        .json(&json!({"email": ""}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(blanked, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "email");
    let cleared = d
        .app
        .patch(&path)
        .bearer_auth(&d.admin)
        .header("If-Match", &etag)
        .json(&json!({"email": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    let organisation: Value = cleared.json().await.unwrap();
    assert_eq!(organisation["email"], Value::Null);
    // A service's contact address follows the same rule.
    let service = d
        .app
        .post("/v1/directory/services")
        .bearer_auth(&d.admin)
        .json(&{
            let mut body = service(
                d.walks,
                "Blank contact",
                "A service with a blank contact address.",
                json!(["physical_activity"]),
                json!(["in_person"]),
                Some(LOUGHBOROUGH),
            );
            body["contact_email"] = json!("");
            body
        })
        .send()
        .await
        .unwrap();
    let problem = assert_problem(service, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "contact_email");
}
