//! On a Citus cluster only (`scripts/test` with `WAYMARK_TEST_CITUS=1`; the default nextest
//! filter leaves these out elsewhere): the statements of a practice-scoped read and of a ledger
//! approval are router plans on the one shard holding their federation, as the planner itself
//! explains them for real requests; and a worker added and rebalanced onto while requests run
//! loses none of them.
//!
//! The rest of the suite runs on the cluster too, where any statement of the service that would
//! need more than one shard fails its test (see `helpers::spawn_app`).

use crate::helpers::{create_database, login_of, spawn_app, with_database, CitusCluster, TestApp};
use crate::journey::{get, json_of, post, practice, Practice};
use crate::ledger_rules::world;
use crate::pathway::{nhs_number, refer, register_patient};
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use uuid::Uuid;

fn cluster() -> CitusCluster {
    CitusCluster::from_env().expect(
        "the citus tests need a Citus cluster: run them through scripts/test with WAYMARK_TEST_CITUS=1",
    )
}

async fn owner(app: &TestApp) -> PgConnection {
    PgConnection::connect(&app.database_url)
        .await
        .expect("connect as the owner")
}

/// The port of the worker holding the shard of `table` for `federation`.
async fn shard_port(owner: &mut PgConnection, table: &str, federation: Uuid) -> i32 {
    sqlx::query_scalar(
        "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid \
         WHERE p.shardid = get_shard_id_for_distribution_column($1::regclass, $2)",
    )
    .bind(table)
    .bind(federation)
    .fetch_one(owner)
    .await
    .expect("the federation's shard")
}

/// Every plan PostgreSQL's auto_explain reports to the service's connections, as sqlx hands
/// those notices to `tracing`.
#[derive(Clone, Default)]
struct Plans(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Plans {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::postgres::notice" {
            return;
        }
        struct Message(Option<String>);
        impl tracing::field::Visit for Message {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "message" {
                    self.0 = Some(value.to_owned());
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = Some(format!("{value:?}"));
                }
            }
        }
        let mut message = Message(None);
        event.record(&mut message);
        if let Some(text) = message.0.filter(|m| m.contains("plan:")) {
            self.0.lock().unwrap().push(text);
        }
    }
}

impl Plans {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The coordinator's plans among `plans` of statements that read or write `table` (a plan a
/// worker relayed would name the shards' tables and hold no Citus scan).
fn touching<'a>(plans: &'a [String], table: &str) -> Vec<&'a String> {
    plans
        .iter()
        .filter(|plan| plan.contains("Custom Scan (Citus Adaptive)"))
        .filter(|plan| {
            let text = plan
                .split("Query Text:")
                .nth(1)
                .and_then(|rest| rest.split("Custom Scan").next())
                .unwrap_or("");
            text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == table)
        })
        .collect()
}

fn assert_routed_to(plans: &[&String], port: i32, what: &str) {
    assert!(!plans.is_empty(), "{what}: no plan was reported");
    for plan in plans {
        assert!(
            plan.contains("Task Count: 1\n"),
            "{what}: not a single-task distributed plan:\n{plan}"
        );
        assert!(
            plan.contains(&format!("port={port} ")),
            "{what}: not planned on the federation's worker (port {port}):\n{plan}"
        );
    }
}

#[tokio::test]
async fn a_practice_read_and_a_ledger_approval_are_router_plans_on_their_federations_shard() {
    cluster();
    let plans = Plans::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(plans.clone()))
        .expect("the test's only subscriber");

    let mut w = world("citus-router").await;
    w.top_up(10_000).await;
    let charge = w.deliver(&w.provider, "session_attended", 3, 1).await;

    // From here on the service's new connections report every plan; a second instance of the
    // service has only new ones.
    let mut owner = owner(&w.app).await;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    let login = login_of(&w.app.service_database_url).to_owned();
    // On the coordinator only: the workers' sessions run as they always do.
    owner
        .execute("SET citus.enable_alter_role_set_propagation = off")
        .await
        .expect("keep the settings off the workers");
    for setting in [
        "session_preload_libraries = 'auto_explain'",
        "auto_explain.log_min_duration = 0",
        "auto_explain.log_level = 'notice'",
    ] {
        owner
            .execute(
                format!(r#"ALTER ROLE "{login}" IN DATABASE "{database}" SET {setting}"#).as_str(),
            )
            .await
            .expect("report plans");
    }
    w.app = w.app.another_instance().await;
    let referrals_port = shard_port(&mut owner, "referrals", w.federation).await;
    let charges_port = shard_port(&mut owner, "charges", w.federation).await;
    assert_eq!(
        referrals_port, charges_port,
        "a federation's tables are colocated"
    );
    plans.take();

    let practice = w.practice.id;
    json_of(
        get(
            &w.app,
            &w.practice.clinician,
            &format!("/v1/practices/{practice}/referrals"),
        )
        .await,
        200,
    )
    .await;
    let read = plans.take();
    assert_routed_to(
        &touching(&read, "referrals"),
        referrals_port,
        "listing a practice's referrals",
    );

    json_of(w.approve(&charge).await, 200).await;
    let approval = plans.take();
    for table in [
        "charges",
        "ledger_accounts",
        "ledger_transfers",
        "ledger_entries",
    ] {
        assert_routed_to(
            &touching(&approval, table),
            charges_port,
            &format!("approving a charge ({table})"),
        );
    }
    // Nothing else of the approval left the shard either.
    for plan in &approval {
        if plan.contains("Custom Scan (Citus Adaptive)") {
            assert!(plan.contains("Task Count: 1\n"), "{plan}");
        }
    }
}

/// What a client sees of one request made while the cluster changes.
struct Outcome {
    what: String,
    status: u16,
    body: String,
}

/// What one client made while the cluster changed.
struct Made {
    outcomes: Vec<Outcome>,
    patients: Vec<Uuid>,
    referrals: Vec<Uuid>,
}

fn id_in(body: &str) -> Option<Uuid> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|b| b["id"].as_str().and_then(|id| id.parse().ok()))
}

/// Registers patients, refers them and reads the practice's referrals, over and over until
/// `stop`.
async fn keep_busy(app: &TestApp, practice: &Practice, first_seed: u32, stop: &AtomicBool) -> Made {
    let mut outcomes = Vec::new();
    let mut patients = Vec::new();
    let mut referrals = Vec::new();
    let base = format!("/v1/practices/{}", practice.id);
    let mut seed = first_seed;
    while !stop.load(Ordering::Relaxed) {
        seed += 2;
        let response = post(
            app,
            &practice.clinician,
            &format!("{base}/patients"),
            json!({"nhs_number": nhs_number(seed), "given_name": "Ada",
                   "family_name": format!("Patient{seed}"), "date_of_birth": "1950-12-10",
                   "consent": {"share_name_with_providers": true, "share_contact_with_providers": false}}),
        )
        .await;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let patient = id_in(&body);
        outcomes.push(Outcome {
            what: "register a patient".into(),
            status,
            body,
        });
        let Some(patient) = patient else { continue };
        patients.push(patient);
        let response = post(
            app,
            &practice.clinician,
            &format!("{base}/patients/{patient}/referrals"),
            json!({"need_categories": ["loneliness_isolation"], "urgency": "soon"}),
        )
        .await;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        referrals.extend(id_in(&body));
        outcomes.push(Outcome {
            what: "refer".into(),
            status,
            body,
        });
        let response = get(app, &practice.clinician, &format!("{base}/referrals")).await;
        outcomes.push(Outcome {
            what: "list referrals".into(),
            status: response.status().as_u16(),
            body: String::new(),
        });
    }
    Made {
        outcomes,
        patients,
        referrals,
    }
}

#[tokio::test]
async fn a_worker_added_and_rebalanced_onto_while_requests_run_loses_none_of_them() {
    let cluster = cluster();
    let spare = cluster
        .spare
        .clone()
        .expect("WAYMARK_TEST_CITUS_SPARE names a node to add");
    let app = spawn_app().await;
    // Federations enough to sit on more than one shard, each with a patient referred already.
    let mut practices = Vec::new();
    for n in 0..6 {
        let p = practice(&app, &format!("citus-rebalance-{n}")).await;
        let patient = register_patient(&app, &p.clinician, p.id, 900_000 + n * 2).await;
        refer(&app, &p.clinician, p.id, patient).await;
        practices.push(p);
    }
    let mut owner = owner(&app).await;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    // The new worker gets this test's database, empty, with the extension; adding it copies the
    // roles and the schema there.
    create_database(&spare, &database, None).await;
    let mut on_spare = PgConnection::connect(&with_database(&spare, &database))
        .await
        .expect("connect to the spare node");
    on_spare
        .execute("CREATE EXTENSION citus")
        .await
        .expect("citus on the spare node");
    on_spare.close().await.ok();
    let spare_port: i32 = spare
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|port| port.parse().ok())
        .expect("the spare's port");

    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = practices
        .iter()
        .enumerate()
        .map(|(n, p)| keep_busy(&app, p, 1_000_000 * (n as u32 + 1), &stop))
        .collect();
    let mut rebalance_took = Duration::ZERO;
    let change = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = std::time::Instant::now();
        sqlx::query("SELECT citus_add_node('127.0.0.1', $1)")
            .bind(spare_port)
            .execute(&mut owner)
            .await
            .expect("add the worker");
        // As deploy/citus/README.md says: the migrations again, which give the new worker the
        // service's login, and then the rebalance.
        waymark_persistence::migrate_citus(&app.database_url, &app.service_database_url)
            .await
            .expect("the migrations after adding a worker");
        // Copied, not replicated: PostgreSQL 15 refuses logical replication, Citus's online
        // move, into tables under row-level security. Writes to a shard wait while it moves.
        sqlx::query("SELECT citus_rebalance_start(shard_transfer_mode => 'block_writes')")
            .execute(&mut owner)
            .await
            .expect("start the rebalance");
        sqlx::query("SELECT citus_rebalance_wait()")
            .execute(&mut owner)
            .await
            .expect("the rebalance finishes");
        rebalance_took = started.elapsed();
        // Requests go on a while against the new layout.
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
    };
    let (results, ()) = tokio::join!(futures_util::future::join_all(load), change);

    let moved: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid \
         WHERE n.nodeport = $1",
    )
    .bind(spare_port)
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert!(moved > 0, "the rebalance moved no shard to the new worker");
    let state: String = sqlx::query_scalar(
        "SELECT state::text FROM pg_dist_background_job ORDER BY job_id DESC LIMIT 1",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert_eq!(state, "finished");

    let mut answered = 0;
    for (p, made) in practices.iter().zip(&results) {
        let failed: Vec<String> = made
            .outcomes
            .iter()
            .filter(|o| !(200..300).contains(&o.status))
            .map(|o| format!("{}: {} {}", o.what, o.status, o.body))
            .collect();
        assert!(
            failed.is_empty(),
            "requests failed during the rebalance: {failed:#?}"
        );
        answered += made.outcomes.len();
        // Everything made is there afterwards, wherever its shard now lives.
        let base = format!("/v1/practices/{}", p.id);
        for patient in &made.patients {
            json_of(
                get(&app, &p.clinician, &format!("{base}/patients/{patient}")).await,
                200,
            )
            .await;
        }
        for referral in &made.referrals {
            json_of(
                get(&app, &p.clinician, &format!("{base}/referrals/{referral}")).await,
                200,
            )
            .await;
        }
    }
    assert!(
        answered > 20,
        "the requests ran during the rebalance ({answered})"
    );
    eprintln!(
        "{answered} requests answered, none failed, while a worker was added and {moved} shard \
         placements moved to it in {rebalance_took:?}"
    );
}
