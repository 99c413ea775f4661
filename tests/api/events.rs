//! The change feed: every committed change once, in order, to the readers who may see it, with
//! a cursor that a late commit cannot skip.

use crate::helpers::{assert_problem, spawn_app, TestApp};
use crate::journey::{get, json_of, post, practice, provider_service, seen_referral};
use crate::pathway::{refer, register_patient};
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;
use waymark_domain::{FederationId, Role, ServiceScope};

async fn page(app: &TestApp, token: &str, query: &str) -> Value {
    json_of(get(app, token, &format!("/v1/events?{query}")).await, 200).await
}

/// Follows the feed from `cursor` to its end, a page of `limit` at a time.
async fn follow(
    app: &TestApp,
    token: &str,
    cursor: &mut String,
    types: &str,
    limit: u32,
) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let body = page(
            app,
            token,
            &format!("after={cursor}&types={types}&limit={limit}"),
        )
        .await;
        let items = body["items"].as_array().unwrap().clone();
        *cursor = body["next_cursor"].as_str().unwrap().to_owned();
        let more = body["has_more"].as_bool().unwrap();
        seen.extend(items);
        if !more {
            return seen;
        }
    }
}

fn ids_of(events: &[Value], event_type: &str) -> Vec<Uuid> {
    events
        .iter()
        .filter(|e| e["type"] == event_type)
        .map(|e| e["resource_id"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn a_reader_racing_many_writers_sees_every_committed_change_once_even_one_that_commits_late()
{
    let app = spawn_app().await;
    let p = practice(&app, "events-race").await;
    let first_patient = register_patient(&app, &p.clinician, p.id, 20).await;
    let late = refer(&app, &p.clinician, p.id, first_patient).await;

    // A change that takes its time: written now, committed after everything below.
    let mut slow = PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut slow).await.unwrap();
    sqlx::query("UPDATE referrals SET note = 'Called back about the walking group' WHERE id = $1")
        .bind(late)
        .execute(&mut slow)
        .await
        .unwrap();

    let done = std::sync::atomic::AtomicBool::new(false);
    let writers = async {
        let made = futures_util::future::join_all((0..6u32).map(|w| {
            let app = &app;
            let p = &p;
            async move {
                let patient = register_patient(app, &p.clinician, p.id, 1000 + w * 40).await;
                let mut made = Vec::new();
                for _ in 0..8 {
                    made.push(refer(app, &p.clinician, p.id, patient).await);
                }
                made
            }
        }))
        .await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        made
    };
    let types = "referral.created,referral.updated";
    let mut cursor = String::from("0");
    let reader = async {
        let mut seen = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            seen.extend(follow(&app, &p.clinician, &mut cursor, types, 5).await);
            tokio::task::yield_now().await;
        }
        seen
    };
    let (made_by_writers, mut seen) = tokio::join!(writers, reader);
    let mut made: HashSet<Uuid> = HashSet::from([late]);
    made.extend(made_by_writers.into_iter().flatten());
    seen.extend(follow(&app, &p.clinician, &mut cursor, types, 5).await);
    let created = ids_of(&seen, "referral.created");
    assert_eq!(created.len(), made.len(), "every referral created once");
    assert_eq!(created.iter().copied().collect::<HashSet<_>>(), made);
    let read_past = seen.last().unwrap()["position"].as_i64().unwrap();
    assert!(ids_of(&seen, "referral.updated").is_empty());

    // The slow change commits after the reader has moved past every position given so far:
    // it takes the next one, and the reader gets it.
    sqlx::query("COMMIT").execute(&mut slow).await.unwrap();
    let after_commit = follow(&app, &p.clinician, &mut cursor, types, 5).await;
    assert_eq!(ids_of(&after_commit, "referral.updated"), vec![late]);
    assert!(after_commit[0]["position"].as_i64().unwrap() > read_past);
    seen.extend(after_commit);

    // In order, each once, and nothing more when asked again.
    let positions: Vec<i64> = seen
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    let ids: HashSet<&str> = seen.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), seen.len());
    assert!(follow(&app, &p.clinician, &mut cursor, types, 5)
        .await
        .is_empty());
    // An event says what changed, not whose record it is.
    let event = &seen[0];
    assert_eq!(event["resource_type"], "referral");
    assert_eq!(event["practice_id"], json!(p.id));
    assert_eq!(event["data"], json!({"state": "received", "version": 1}));
}

#[tokio::test]
async fn each_reader_follows_only_what_it_may_see() {
    let app = spawn_app().await;
    let p = practice(&app, "events-scope").await;
    let fed = p.federation;
    let (service, provider, organisation) = provider_service(&app, fed, true).await;
    let (_, other_provider, _) = provider_service(&app, fed, true).await;
    let (_, referral) = seen_referral(&app, &p, 40).await;
    let onward = json_of(
        post(
            &app,
            &p.volunteer,
            &format!(
                "/v1/practices/{}/referrals/{referral}/onward-referrals",
                p.id
            ),
            json!({"service_id": service}),
        )
        .await,
        201,
    )
    .await;
    let onward: Uuid = onward["id"].as_str().unwrap().parse().unwrap();
    // The federation's other practice refers a patient of its own.
    let other_practice = sqlx::query_scalar::<_, Uuid>(
        "SELECT id FROM practices WHERE federation_id = $1 AND id <> $2",
    )
    .bind(fed)
    .bind(p.id)
    .fetch_one(&mut PgConnection::connect(&app.database_url).await.unwrap())
    .await
    .unwrap();
    let other_clinician = app.as_role(Role::Clinician, fed, Some(other_practice));
    let other_patient = register_patient(&app, &other_clinician, other_practice, 60).await;
    let other_referral = refer(&app, &other_clinician, other_practice, other_patient).await;

    let all = |token: String| {
        let app = &app;
        async move {
            let mut cursor = String::from("0");
            follow(app, &token, &mut cursor, "", 1000).await
        }
    };
    let types_of = |events: &[Value]| -> HashSet<String> {
        events
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    };

    let admin = all(app.as_role(Role::FederationAdmin, fed, None)).await;
    assert!(ids_of(&admin, "referral.created").contains(&referral));
    assert!(ids_of(&admin, "referral.created").contains(&other_referral));
    assert!(ids_of(&admin, "onward_referral.created").contains(&onward));
    assert!(types_of(&admin).contains("service.created"));

    let practice_view = all(p.clinician.clone()).await;
    assert_eq!(ids_of(&practice_view, "referral.created"), vec![referral]);
    assert_eq!(
        ids_of(&practice_view, "onward_referral.created"),
        vec![onward]
    );
    assert!(types_of(&practice_view).contains("organisation.created"));
    let other_view = all(other_clinician).await;
    assert_eq!(
        ids_of(&other_view, "referral.created"),
        vec![other_referral]
    );
    assert!(ids_of(&other_view, "onward_referral.created").is_empty());

    let provider_view = all(provider).await;
    assert_eq!(
        ids_of(&provider_view, "onward_referral.created"),
        vec![onward]
    );
    assert!(ids_of(&provider_view, "referral.created").is_empty());
    let provider_view_data = provider_view
        .iter()
        .find(|e| e["type"] == "onward_referral.created")
        .unwrap();
    assert_eq!(provider_view_data["data"]["service_id"], json!(service));
    assert!(ids_of(&all(other_provider).await, "onward_referral.created").is_empty());
    assert!(ids_of(&provider_view, "organisation.created").contains(&organisation));

    let integration = all(app
        .as_service_account(fed, &[ServiceScope::EventsRead])
        .await)
    .await;
    let integration_types = types_of(&integration);
    assert!(integration_types.contains("organisation.created"));
    assert!(integration_types
        .iter()
        .all(|t| !t.starts_with("referral") && !t.starts_with("onward_referral")));

    // Positions are the federation's own: every reader's are a part of the administrator's.
    let admin_positions: HashMap<i64, String> = admin
        .iter()
        .map(|e| {
            (
                e["position"].as_i64().unwrap(),
                e["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for event in practice_view
        .iter()
        .chain(&provider_view)
        .chain(&integration)
    {
        let position = event["position"].as_i64().unwrap();
        assert_eq!(admin_positions[&position], event["id"].as_str().unwrap());
    }

    for token in [
        app.as_role(Role::Commissioner, fed, None),
        app.as_service_account(fed, &[ServiceScope::StatsRead])
            .await,
    ] {
        assert_problem(get(&app, &token, "/v1/events").await, 403, "forbidden").await;
    }
    // Another federation's administrator sees none of this federation's events.
    let elsewhere = app.create_federation("events-elsewhere").await;
    let theirs = all(app.as_role(Role::FederationAdmin, elsewhere.id, None)).await;
    assert!(theirs.iter().all(|e| !admin_positions
        .values()
        .any(|id| id == e["id"].as_str().unwrap())));
}

#[tokio::test]
async fn the_feed_refuses_what_it_cannot_answer_and_says_when_a_cursor_has_expired() {
    let app = spawn_app().await;
    let p = practice(&app, "events-rules").await;
    let admin = app.as_role(Role::FederationAdmin, p.federation, None);
    for (query, code) in [
        ("after=-3", "invalid_query_parameter"),
        ("after=soon", "invalid_query_parameter"),
        // No cursor this feed gave is past its end.
        ("after=999999", "invalid_query_parameter"),
        ("types=referral.deleted", "invalid_query_parameter"),
        ("limit=0", "invalid_query_parameter"),
        ("limit=1001", "invalid_query_parameter"),
    ] {
        assert_problem(
            get(&app, &admin, &format!("/v1/events?{query}")).await,
            400,
            code,
        )
        .await;
    }
    assert_problem(
        get(&app, &admin, "/v1/events?colour=red").await,
        400,
        "invalid_query_parameter",
    )
    .await;

    let patient = register_patient(&app, &p.clinician, p.id, 80).await;
    refer(&app, &p.clinician, p.id, patient).await;
    refer(&app, &p.clinician, p.id, patient).await;
    let before = page(&app, &admin, "types=referral.created").await;
    let end = before["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(before["items"].as_array().unwrap().len(), 2);
    // Nothing new: the same cursor comes back, and so on until something happens.
    let again = page(&app, &admin, &format!("after={end}")).await;
    assert_eq!(again["items"], json!([]));
    assert_eq!(again["next_cursor"], json!(end));

    // Retention cuts the feed: a cursor from before the cut is told so, not skipped on.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&app.service_database_url)
        .await
        .unwrap();
    let pruned = waymark_persistence::events::prune(
        &pool,
        FederationId::from(p.federation),
        Utc::now() + Duration::minutes(1),
    )
    .await
    .unwrap();
    assert!(pruned > 0);
    let expired = assert_problem(
        get(&app, &admin, "/v1/events?after=1").await,
        410,
        "events_cursor_expired",
    )
    .await;
    assert!(expired["detail"].as_str().unwrap().contains("start again"));
    // The end of the feed before the cut is still a good place to go on from, and a new
    // reader starts at the oldest event kept.
    page(&app, &admin, &format!("after={end}")).await;
    let fresh = page(&app, &admin, "").await;
    assert_eq!(fresh["items"], json!([]));
    assert_eq!(fresh["next_cursor"], json!(end));
}
