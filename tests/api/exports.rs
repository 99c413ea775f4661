//! CSV exports streamed from the database: a practice's referrals (every row audited before it
//! leaves), the change feed, the ledger's transfers; each equal to what the JSON routes say,
//! refused to whoever may not read it, and streamed: a client that stops reading holds the
//! server back rather than filling its memory, and going away ends the export.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, TestApp};
use crate::journey::{get, json_of, practice};
use crate::pathway::{refer, register_patient, transition};
use reqwest::Response;
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;
use waymark_domain::{Role, ServiceScope};

/// The rows of a CSV answer as maps from its header's names.
pub async fn csv_rows(response: Response) -> Vec<HashMap<String, String>> {
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename="));
    let text = response.text().await.unwrap();
    let mut reader = csv_reader(&text);
    let header: Vec<String> = reader.remove(0);
    reader
        .into_iter()
        .map(|cells| header.iter().cloned().zip(cells).collect())
        .collect()
}

/// A small CSV reader (quoted cells may hold commas, quotes and line breaks).
fn csv_reader(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(
        cell.is_empty() && row.is_empty(),
        "the file ends with a line break"
    );
    rows
}

#[tokio::test]
async fn a_practices_referrals_export_is_its_referrals_and_every_row_is_audited() {
    let app = spawn_app().await;
    let p = practice(&app, "export-referrals").await;
    let other = practice(&app, "export-referrals-2").await;
    let mut made = Vec::new();
    for seed in 0..3 {
        let patient = register_patient(&app, &p.clinician, p.id, 70 + seed).await;
        made.push((patient, refer(&app, &p.clinician, p.id, patient).await));
    }
    let declined = made[2].1;
    let response = transition(
        &app,
        &p.clinician,
        p.id,
        declined,
        json!({"to": "declined", "reason": "not now"}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let listed = json_of(
        get(
            &app,
            &p.clinician,
            &format!("/v1/practices/{}/referrals", p.id),
        )
        .await,
        200,
    )
    .await;
    let path = format!("/v1/practices/{}/referrals/export", p.id);

    let rows = csv_rows(get(&app, &p.admin, &path).await).await;
    assert_eq!(rows.len(), 3);
    for (row, item) in rows.iter().zip(listed["items"].as_array().unwrap()) {
        assert_eq!(row["referral_id"], item["id"].as_str().unwrap());
        assert_eq!(row["patient_id"], item["patient_id"].as_str().unwrap());
        assert_eq!(row["state"], item["state"].as_str().unwrap());
        assert_eq!(row["urgency"], "soon");
        assert_eq!(
            row["need_categories"],
            "loneliness_isolation;physical_activity"
        );
        assert_eq!(
            row["snomed_ct_code"],
            item["snomed_ct"]["code"].as_str().unwrap()
        );
        assert_eq!(row["referred_by"], item["referred_by"].as_str().unwrap());
        assert!(!row.contains_key("note"));
    }
    let declined_only =
        csv_rows(get(&app, &p.admin, &format!("{path}?state=declined")).await).await;
    assert_eq!(declined_only.len(), 1);
    assert_eq!(declined_only[0]["referral_id"], declined.to_string());
    assert_eq!(declined_only[0]["snomed_ct_code"], "871711000000103");
    let today = chrono::Utc::now().date_naive();
    let dated =
        csv_rows(get(&app, &p.admin, &format!("{path}?from={today}&to={today}")).await).await;
    assert_eq!(dated.len(), 3);
    let yesterday = today - chrono::Duration::days(1);
    let none = csv_rows(get(&app, &p.admin, &format!("{path}?to={yesterday}")).await).await;
    assert!(none.is_empty());

    // The practice's GP-system integration exports too, in its own name.
    let integration = app
        .as_service_account(p.federation, &[ServiceScope::ReferralsRead])
        .await;
    assert_eq!(
        csv_rows(get(&app, &integration, &path).await).await.len(),
        3
    );
    let log = json_of(
        get(
            &app,
            &p.admin,
            &format!("/v1/practices/{}/audit-events?limit=100", p.id),
        )
        .await,
        200,
    )
    .await;
    let exported_by_integration: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor_kind"] == "service_account" && e["action"] == "read")
        .map(|e| e["resource_id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<String> = made.iter().map(|(_, r)| r.to_string()).collect();
    let mut got: Vec<String> = exported_by_integration
        .iter()
        .map(|s| s.to_string())
        .collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);

    // Refused like the list: another practice's staff and other roles find nothing there; a
    // bad question is a 400 before any row.
    for token in [
        other.clinician.clone(),
        app.as_role(Role::Commissioner, p.federation, None),
        app.as_service_account(p.federation, &[ServiceScope::StatsRead])
            .await,
    ] {
        assert_problem(get(&app, &token, &path).await, 404, "not_found").await;
    }
    for query in [
        "state=lost",
        "from=2026-13-01",
        "from=2026-12-02&to=2026-12-01",
        "colour=red",
    ] {
        assert_problem(
            get(&app, &p.admin, &format!("{path}?{query}")).await,
            400,
            "invalid_query_parameter",
        )
        .await;
    }
}

#[tokio::test]
async fn the_feeds_export_is_the_feed_and_says_where_to_go_on_from() {
    let app = spawn_app().await;
    let p = practice(&app, "export-events").await;
    let admin = app.as_role(Role::FederationAdmin, p.federation, None);
    let patient = register_patient(&app, &p.clinician, p.id, 90).await;
    for _ in 0..3 {
        refer(&app, &p.clinician, p.id, patient).await;
    }
    let feed = json_of(get(&app, &admin, "/v1/events?limit=1000").await, 200).await;
    let items = feed["items"].as_array().unwrap();
    assert!(items.len() >= 3);

    let exported = get(&app, &admin, "/v1/events/export").await;
    let position = exported.headers()["waymark-feed-position"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(position, feed["next_cursor"].as_str().unwrap());
    let rows = csv_rows(exported).await;
    assert_eq!(rows.len(), items.len());
    for (row, item) in rows.iter().zip(items) {
        assert_eq!(row["position"], item["position"].to_string());
        assert_eq!(row["id"], item["id"].as_str().unwrap());
        assert_eq!(row["type"], item["type"].as_str().unwrap());
        assert_eq!(row["resource_id"], item["resource_id"].as_str().unwrap());
        let data: Value = serde_json::from_str(&row["data"]).unwrap();
        assert_eq!(data, item["data"]);
    }
    // Types narrow it; going on from the position gives only what came since.
    let referrals =
        csv_rows(get(&app, &admin, "/v1/events/export?types=referral.created").await).await;
    assert_eq!(referrals.len(), 3);
    let since =
        csv_rows(get(&app, &admin, &format!("/v1/events/export?after={position}")).await).await;
    assert!(since.is_empty());
    refer(&app, &p.clinician, p.id, patient).await;
    let since =
        csv_rows(get(&app, &admin, &format!("/v1/events/export?after={position}")).await).await;
    // The referral, and its code queued for the GP record.
    let types: Vec<&str> = since.iter().map(|r| r["type"].as_str()).collect();
    assert_eq!(types, ["referral.created", "gp_coding_event.created"]);

    // Each reader exports what it may follow, and no more.
    let integration = app
        .as_service_account(p.federation, &[ServiceScope::EventsRead])
        .await;
    let theirs = csv_rows(get(&app, &integration, "/v1/events/export").await).await;
    assert!(theirs.iter().all(|r| !r["type"].starts_with("referral.")));
    assert_problem(
        get(
            &app,
            &app.as_role(Role::Commissioner, p.federation, None),
            "/v1/events/export",
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        get(&app, &admin, "/v1/events/export?after=soon").await,
        400,
        "invalid_query_parameter",
    )
    .await;
}

/// Events enough for an export of several megabytes, written straight into the feed.
async fn many_events(app: &TestApp, federation: Uuid, count: i64) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO event_sequences (federation_id, last_position) VALUES ($1, $2)
         ON CONFLICT (federation_id) DO UPDATE SET last_position = $2",
    )
    .bind(federation)
    .bind(count)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO events (federation_id, id, written_at, position, sequenced_at, type,
                             resource_type, resource_id, data)
         SELECT $1, gen_random_uuid(), now(), n, now(), 'organisation.updated', 'organisation',
                gen_random_uuid(), jsonb_build_object('version', n, 'padding', repeat('x', 100))
         FROM generate_series(1, $2) AS n",
    )
    .bind(federation)
    .bind(count)
    .execute(&mut conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_holds_its_export_back_and_going_away_ends_it() {
    // A pool of 8 connections gives two export slots.
    let app = spawn_app_with(&[("WAYMARK_DB_MAX_CONNECTIONS", "8")]).await;
    let federation = app.create_federation("export-stream").await;
    let admin = app.as_role(Role::FederationAdmin, federation.id, None);
    many_events(&app, federation.id, 60_000).await;

    // Two exports whose clients read the first bytes and stop: each holds its slot, waiting.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut response = get(&app, &admin, "/v1/events/export").await;
        assert_eq!(response.status(), 200);
        let first = response.chunk().await.unwrap().unwrap();
        assert!(first.starts_with(b"position,id,type"));
        stalled.push(response);
    }
    let busy = get(&app, &admin, "/v1/events/export").await;
    assert!(busy.headers().contains_key("retry-after"));
    assert_problem(busy, 503, "exports_busy").await;
    // The other routes are unaffected.
    assert_eq!(get(&app, &admin, "/v1/events?limit=1").await.status(), 200);

    // Clients that go away end their exports and free the slots.
    drop(stalled);
    let mut freed = false;
    for _ in 0..50 {
        let response = get(&app, &admin, "/v1/events/export?types=referral.created").await;
        if response.status() == 200 {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(freed, "the slots of abandoned exports come back");

    // Read to the end, the export has every event, in order.
    let rows = csv_rows(get(&app, &admin, "/v1/events/export").await).await;
    assert_eq!(rows.len(), 60_000);
    assert!(rows
        .iter()
        .enumerate()
        .all(|(i, r)| r["position"] == (i + 1).to_string()));
}
