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
    let sync = app
        .as_service_account(federation, &[ServiceScope::DirectoryWrite])
        .await;
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

const AGES_HEADER: &str = "organisation_external_id,organisation_name,external_id,name,description,need_categories,delivery_modes,minimum_age,maximum_age,schedule";

fn csv_with_ages(rows: &[&str]) -> String {
    let mut file = AGES_HEADER.to_owned();
    for row in rows {
        file.push('\n');
        file.push_str(row);
    }
    file
}

async fn service_by_external_id(app: &TestApp, token: &str, external_id: &str) -> Value {
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
        .find(|s| s["external_id"] == external_id)
        .unwrap_or_else(|| panic!("{external_id} in {page}"))
        .clone()
}

#[tokio::test]
async fn csv_ages_and_schedules_import_and_again_change_nothing() {
    let app = spawn_app().await;
    let federation = app.create_federation("import-ages").await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let youth = "org-1,Charnwood Youth,svc-1,Youth club,Games and chat.,loneliness_isolation,in_person,11,18,Mon-Wed 18:00-20:00; fri 17:30-21:00";
    let open = "org-1,Charnwood Youth,svc-2,Drop-in,Anyone welcome.,food,in_person,,,";
    let file = csv_with_ages(&[youth, open]);
    let first = counts(import(&app, &admin, "text/csv", file.clone(), "").await).await;
    assert_eq!(first["services"]["created"], 2);
    let club = service_by_external_id(&app, &admin, "svc-1").await;
    assert_eq!(
        (&club["minimum_age"], &club["maximum_age"]),
        (&json!(11), &json!(18))
    );
    assert_eq!(
        club["schedules"],
        json!([
            {"day": "monday", "opens_at": "18:00", "closes_at": "20:00"},
            {"day": "tuesday", "opens_at": "18:00", "closes_at": "20:00"},
            {"day": "wednesday", "opens_at": "18:00", "closes_at": "20:00"},
            {"day": "friday", "opens_at": "17:30", "closes_at": "21:00"},
        ])
    );
    let drop_in = service_by_external_id(&app, &admin, "svc-2").await;
    assert!(drop_in["minimum_age"].is_null() && drop_in["maximum_age"].is_null());
    assert_eq!(drop_in["schedules"], json!([]));

    let again = counts(import(&app, &admin, "text/csv", file, "").await).await;
    assert_eq!(
        again["services"],
        json!({"created": 0, "updated": 0, "unchanged": 2})
    );
    // The same hours written another way are the same hours.
    let respelled = youth.replace(
        "Mon-Wed 18:00-20:00; fri 17:30-21:00",
        "\"friday 17:30-21:00;MO,TU,WE 18:00-20:00:00\"",
    );
    let same = counts(
        import(
            &app,
            &admin,
            "text/csv",
            csv_with_ages(&[&respelled, open]),
            "",
        )
        .await,
    )
    .await;
    assert_eq!(same["services"]["unchanged"], 2);
    let moved = youth
        .replace("fri 17:30-21:00", "sat 10:00-12:00")
        .replace(",11,18,", ",11,19,");
    let changed =
        counts(import(&app, &admin, "text/csv", csv_with_ages(&[&moved, open]), "").await).await;
    assert_eq!(
        changed["services"],
        json!({"created": 0, "updated": 1, "unchanged": 1})
    );
    let club = service_by_external_id(&app, &admin, "svc-1").await;
    assert_eq!(club["maximum_age"], 19);
    assert_eq!(
        club["schedules"][3],
        json!({"day": "saturday", "opens_at": "10:00", "closes_at": "12:00"})
    );
}

#[tokio::test]
async fn bad_csv_ages_and_schedules_are_named_by_row_and_column() {
    let app = spawn_app().await;
    let federation = app.create_federation("import-ages-bad").await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let rows = [
        "o,O,s1,A,A.,food,in_person,twelve,,",
        "o,O,s2,B,B.,food,in_person,12.5,131,",
        "o,O,s3,C,C.,food,in_person,30,18,",
        "o,O,s4,D,D.,food,in_person,,,mon 09:00",
        "o,O,s5,E,E.,food,in_person,,,mon 09:00-12:00; mon 11:00-13:00",
        "o,O,s6,F,F.,food,in_person,,,fri-mon 09:00-12:00",
        "o,O,s7,G,G.,food,in_person,,,tue 22:00-02:00",
    ];
    let problem = assert_problem(
        import(&app, &admin, "text/csv", csv_with_ages(&rows), "").await,
        422,
        "import_rejected",
    )
    .await;
    let errors: Vec<(u64, &str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["field"].as_str().unwrap(),
                e["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (2, "minimum_age", "invalid_format"),
            (3, "minimum_age", "invalid_format"),
            (3, "maximum_age", "out_of_range"),
            (4, "maximum_age", "out_of_range"),
            (5, "schedule", "invalid_format"),
            (6, "schedule", "overlapping"),
            (7, "schedule", "invalid_format"),
            (8, "schedule", "invalid_format"),
        ]
    );
    assert!(service_names(&app, &admin).await.is_empty());
}

/// A service of the profile's shape with ages and a week of schedules, in the forms other
/// directories publish them.
fn oruk_service_with_hours() -> Value {
    let mut service = oruk_service();
    service["id"] = json!("7f0c1a36-5b0e-4d5e-9c52-5d8a1f6e2b10");
    service["minimum_age"] = json!(16);
    service["maximum_age"] = json!("25");
    service["schedules"] = json!([
        {"id": "b0e5c7a2-0000-4000-8000-000000000001", "freq": "WEEKLY", "interval": 1, "byday": "MO,WE",
         "opens_at": "10:00:00", "closes_at": "12:00:00Z", "description": "Drop in, no need to book."},
        {"id": "b0e5c7a2-0000-4000-8000-000000000002", "byday": "FR", "opens_at": "13:30+01:00", "closes_at": "15:00",
         "valid_from": "2020-01-01"},
        {"id": "b0e5c7a2-0000-4000-8000-000000000003", "freq": "MONTHLY", "byday": "1SA", "opens_at": "10:00",
         "closes_at": "12:00", "description": "Family day on the first Saturday of the month."},
        {"id": "b0e5c7a2-0000-4000-8000-000000000004", "freq": "WEEKLY", "byday": "SU", "opens_at": "10:00",
         "closes_at": "12:00", "valid_to": "2005-01-01", "description": "Sunday walks, long since ended."},
    ]);
    service
}

#[tokio::test]
async fn open_referral_ages_and_weekly_schedules_import_and_again_change_nothing() {
    let app = spawn_app().await;
    let federation = app.create_federation("import-oruk-hours").await.id;
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let file = json!([oruk_service_with_hours()]).to_string();
    let first = counts(import(&app, &admin, "application/json", file.clone(), "").await).await;
    assert_eq!(first["services"]["created"], 1);
    let service =
        service_by_external_id(&app, &admin, "7f0c1a36-5b0e-4d5e-9c52-5d8a1f6e2b10").await;
    assert_eq!(
        (&service["minimum_age"], &service["maximum_age"]),
        (&json!(16), &json!(25))
    );
    assert_eq!(
        service["schedules"],
        json!([
            {"day": "monday", "opens_at": "10:00", "closes_at": "12:00"},
            {"day": "wednesday", "opens_at": "10:00", "closes_at": "12:00"},
            {"day": "friday", "opens_at": "13:30", "closes_at": "15:00"},
        ]),
        "weekly schedules in force become opening hours"
    );
    assert_eq!(
        service["opening_times"],
        "Drop in, no need to book.\nFamily day on the first Saturday of the month.",
        "descriptions of schedules in force are kept as text"
    );
    let again = counts(import(&app, &admin, "application/json", file, "").await).await;
    assert_eq!(again["services"]["unchanged"], 1);

    let mut bad = oruk_service_with_hours();
    bad["minimum_age"] = json!("sixteen");
    bad["schedules"][0]["opens_at"] = json!("10:00-05:00");
    bad["schedules"][2]["description"] = Value::Null;
    let mut overlapping = oruk_service_with_hours();
    overlapping["id"] = json!("svc-overlap");
    overlapping["schedules"][1]["byday"] = json!("MO");
    overlapping["schedules"][1]["opens_at"] = json!("11:00");
    let mut inverted = oruk_service_with_hours();
    inverted["id"] = json!("svc-inverted");
    inverted["maximum_age"] = json!(10);
    let problem = assert_problem(
        import(
            &app,
            &admin,
            "application/json",
            json!([bad, overlapping, inverted]).to_string(),
            "",
        )
        .await,
        422,
        "import_rejected",
    )
    .await;
    let errors: Vec<(u64, &str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["field"].as_str().unwrap(),
                e["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            (1, "minimum_age", "invalid_format"),
            (1, "schedules[0].opens_at", "invalid_format"),
            (1, "schedules[2]", "unsupported"),
            (2, "schedules", "overlapping"),
            (3, "maximum_age", "out_of_range"),
        ]
    );
}
