//! Bulk import: CSV and Open Referral UK JSON, upserted by external id in one transaction,
//! idempotent, with per-row errors and nothing imported from a bad file.

use crate::helpers::{assert_problem, spawn_app, TestApp};
use serde_json::{json, Value};
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;
use waymark_domain::{Role, ServiceScope};

const HEADER: &str = "organisation_external_id,organisation_name,organisation_charity_number,external_id,name,description,need_categories,delivery_modes,postcode,latitude,longitude,accepting_referrals,cost_to_patient";

fn csv(rows: &[&str]) -> String {
    let mut file = HEADER.to_owned();
    for row in rows {
        file.push('\n');
        file.push_str(row);
    }
    file
}

const WALKS: &str = "org-1,Charnwood Walks,1180001,svc-1,Health walks,Gentle group walks.,physical_activity;loneliness_isolation,in_person,LE11 2TQ,52.7696,-1.2052,true,Free";
const CHOIR: &str = "org-1,Charnwood Walks,1180001,svc-2,Walking choir,\"Sing, then walk.\",arts_creativity,in_person,LE11 2TQ,,,yes,£2 a session";
const ADVICE: &str = "org-2,Money Advice,1180003,svc-3,Debt advice,Free debt advice.,debt_benefits,phone;in_person,,,,false,";

async fn import(
    app: &TestApp,
    token: &str,
    content_type: &str,
    body: String,
    query: &str,
) -> reqwest::Response {
    app.post(&format!("/v1/directory/import{query}"))
        .bearer_auth(token)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn counts(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn service_names(app: &TestApp, token: &str) -> Vec<String> {
    let page: Value = app
        .get("/v1/directory/services?limit=200")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_csv_file_imports_once_and_again_changes_nothing() {
    let app = spawn_app().await;
    let federation = app.create_federation("import-csv").await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let file = csv(&[WALKS, CHOIR, ADVICE]);
    let first = counts(import(&app, &admin, "text/csv", file.clone(), "").await).await;
    assert_eq!(
        first["organisations"],
        json!({"created": 2, "updated": 0, "unchanged": 0})
    );
    assert_eq!(
        first["services"],
        json!({"created": 3, "updated": 0, "unchanged": 0})
    );
    let again = counts(import(&app, &admin, "text/csv", file, "").await).await;
    assert_eq!(
        again["organisations"],
        json!({"created": 0, "updated": 0, "unchanged": 2})
    );
    assert_eq!(
        again["services"],
        json!({"created": 0, "updated": 0, "unchanged": 3})
    );
    assert_eq!(
        service_names(&app, &admin).await,
        ["Debt advice", "Health walks", "Walking choir"]
    );

    let changed = counts(
        import(
            &app,
            &admin,
            "text/csv",
            csv(&[
                &WALKS.replace("Gentle group walks.", "Brisk walks."),
                CHOIR,
                ADVICE,
            ]),
            "",
        )
        .await,
    )
    .await;
    assert_eq!(
        changed["services"],
        json!({"created": 0, "updated": 1, "unchanged": 2})
    );
    let found: Value = app
        .get("/v1/directory/services?q=brisk")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"][0]["name"], "Health walks");
    assert_eq!(
        found["items"][0]["need_categories"],
        json!(["loneliness_isolation", "physical_activity"])
    );
    let advice: Value = app
        .get("/v1/directory/services?q=debt")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(advice["items"][0]["accepting_referrals"], false);
    assert_eq!(advice["items"][0]["cost_to_patient"], "Free");
}

#[tokio::test]
async fn a_file_with_bad_rows_imports_nothing_and_names_each_problem() {
    let app = spawn_app().await;
    let federation = app.create_federation("import-bad").await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let bad_postcode = WALKS.replace("LE11 2TQ", "NOWHERE");
    let bad_category = CHOIR.replace("arts_creativity", "knitting");
    let bad_latitude = "org-2,Money Advice,1180003,svc-3,Debt advice,Free debt advice.,debt_benefits,phone,,ninety,-1.2,false,";
    let duplicate = WALKS.replace("Health walks", "Health walks again");
    let response = import(
        &app,
        &admin,
        "text/csv",
        csv(&[&bad_postcode, &bad_category, bad_latitude, &duplicate]),
        "",
    )
    .await;
    let problem = assert_problem(response, 422, "import_rejected").await;
    let errors: Vec<(u64, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        errors,
        [
            (2, "postcode"),
            (3, "need_categories"),
            (4, "latitude"),
            (5, "external_id")
        ]
    );
    assert!(
        service_names(&app, &admin).await.is_empty(),
        "nothing of a rejected file is imported"
    );
    let organisations: Value = app
        .get("/v1/directory/organisations")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(organisations["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn malformed_files_and_wrong_callers_are_refused() {
    let app = spawn_app().await;
    let federation = app.create_federation("import-refused").await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let unknown_column = import(
        &app,
        &admin,
        "text/csv",
        "organisation_external_id,colour\nx,red".into(),
        "",
    )
    .await;
    assert_problem(unknown_column, 400, "malformed_csv").await;
    let missing_column = import(
        &app,
        &admin,
        "text/csv",
        "organisation_external_id,name\nx,y".into(),
        "",
    )
    .await;
    assert_problem(missing_column, 400, "malformed_csv").await;
    let ragged = import(&app, &admin, "text/csv", format!("{HEADER}\na,b"), "").await;
    assert_problem(ragged, 400, "malformed_csv").await;
    let empty = import(&app, &admin, "text/csv", HEADER.into(), "").await;
    assert_problem(empty, 422, "import_rejected").await;
    let xml = import(&app, &admin, "application/xml", "<services/>".into(), "").await;
    assert_problem(xml, 415, "unsupported_media_type").await;
    let clinician = app.as_role(Role::Clinician, federation, Some(Uuid::now_v7()));
    assert_problem(
        import(&app, &clinician, "text/csv", csv(&[WALKS]), "").await,
        403,
        "forbidden",
    )
    .await;
    let sync = app.as_service_account(federation, &[ServiceScope::DirectoryWrite]);
    assert_eq!(
        import(&app, &sync, "text/csv", csv(&[WALKS]), "")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_dry_run_reports_without_changing_anything() {
    let app = spawn_app().await;
    let federation = app.create_federation("import-dry").await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let report = counts(
        import(
            &app,
            &admin,
            "text/csv",
            csv(&[WALKS, ADVICE]),
            "?dry_run=true",
        )
        .await,
    )
    .await;
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["services"]["created"], 2);
    assert!(service_names(&app, &admin).await.is_empty());
}

/// The profile's example service, reshaped with a real UK place and Waymark's taxonomy terms.
fn oruk_service() -> Value {
    let mut service = reference_example("service_full.json");
    service["service_at_locations"][0]["location"]["latitude"] = json!(52.7696);
    service["service_at_locations"][0]["location"]["longitude"] = json!(-1.2052);
    service["service_at_locations"][0]["location"]["addresses"][0]["postal_code"] =
        json!("LE11 2TQ");
    service["attributes"][0]["taxonomy_term"]["id"] =
        json!(NeedCategory::MentalWellbeing.term_id());
    service
}

fn reference_example(name: &str) -> Value {
    let file = format!(
        "{}/../shared/reference/oruk-3.0/examples/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[tokio::test]
async fn open_referral_json_imports_by_the_profiles_ids() {
    let app = spawn_app().await;
    let federation = app.create_federation("import-oruk").await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let page = json!({"total_items": 1, "contents": [oruk_service()]});
    let report = counts(import(&app, &admin, "application/json", page.to_string(), "").await).await;
    assert_eq!(report["services"]["created"], 1);
    let again = counts(
        import(
            &app,
            &admin,
            "application/json",
            json!([oruk_service()]).to_string(),
            "",
        )
        .await,
    )
    .await;
    assert_eq!(again["services"]["unchanged"], 1);
    let found: Value = app
        .get("/v1/directory/services?q=counselling")
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let service = &found["items"][0];
    assert_eq!(service["name"], "Community Counselling");
    assert_eq!(
        service["external_id"],
        "ac148810-d857-441c-9679-408f346de14b"
    );
    assert_eq!(service["organisation"]["name"], "Example Organization Inc.");
    assert_eq!(service["need_categories"], json!(["mental_wellbeing"]));
    assert_eq!(service["delivery_modes"], json!(["in_person"]));
    assert_eq!(service["postcode"], "LE11 2TQ");

    // The example as published is American and uses no Waymark term: each problem is named.
    let raw = import(
        &app,
        &admin,
        "application/json",
        reference_example("service_full.json").to_string(),
        "",
    )
    .await;
    let problem = assert_problem(raw, 422, "import_rejected").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"need_categories")
            && fields.contains(&"postcode")
            && fields.contains(&"latitude"),
        "{problem}"
    );
}
