//! `waymark seed-synthetic`: the federation it makes keeps every rule the API enforces, reads
//! back through the API, reconciles, and is the same for the same seed.

use crate::helpers::{spawn_app, TestApp};
use crate::journey::{get, json_of};
use chrono::{Duration, NaiveDate, Utc};
use serde_json::Value;
use sqlx::{Connection, PgConnection, Row};
use std::collections::HashMap;
use uuid::Uuid;
use waymark_domain::pathway::ReferralState;
use waymark_domain::Role;

fn seed(app: &TestApp, slug: &str, seed: &str, end: NaiveDate) -> Value {
    serde_json::from_str(&app.run_cli(&[
        "seed-synthetic",
        "--federation",
        slug,
        "--practices",
        "3",
        "--referrals",
        "400",
        "--seed",
        seed,
        "--end-date",
        &end.to_string(),
    ]))
    .expect("a JSON summary")
}

async fn owner(app: &TestApp) -> PgConnection {
    PgConnection::connect(&app.database_url).await.unwrap()
}

async fn count(conn: &mut PgConnection, sql: &str, federation: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(federation)
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn a_synthetic_federation_keeps_the_apis_rules_and_reads_back_through_it() {
    let app = spawn_app().await;
    // A fixed story, so that what the checks below look for (a referral in each state) is
    // there whatever day the test runs.
    let end = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let summary = seed(&app, "synthetic-one", "4", end);
    assert_eq!(summary["referrals"], 400);
    let federation: Uuid = summary["federation_id"].as_str().unwrap().parse().unwrap();
    let mut db = owner(&app).await;

    // Every referral's recorded moves follow the state machine from `received` to where it is.
    let moves = sqlx::query(
        "SELECT r.id, r.state, c.from_state, c.to_state
         FROM referrals r JOIN referral_state_changes c
           ON c.federation_id = r.federation_id AND c.referral_id = r.id
         WHERE r.federation_id = $1 ORDER BY r.id, c.changed_at, c.id",
    )
    .bind(federation)
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut walked: HashMap<Uuid, (String, Option<ReferralState>)> = HashMap::new();
    for row in &moves {
        let id: Uuid = row.get(0);
        let entry = walked
            .entry(id)
            .or_insert_with(|| (row.get::<String, _>(1), None));
        let from: Option<String> = row.get(2);
        let to: ReferralState = row.get::<String, _>(3).parse().unwrap();
        match (entry.1, from) {
            (None, None) => assert_eq!(to, ReferralState::Received),
            (Some(current), Some(from)) => {
                assert_eq!(current.code(), from);
                current.transition(to).unwrap();
            }
            other => panic!("referral {id}: a move out of step: {other:?}"),
        }
        entry.1 = Some(to);
    }
    assert_eq!(walked.len(), 400);
    for (id, (state, reached)) in &walked {
        assert_eq!(reached.unwrap().code(), state, "referral {id}");
    }
    let states: Vec<String> = walked.values().map(|w| w.0.clone()).collect();
    for state in ["received", "booked", "active", "closed", "did_not_attend"] {
        assert!(states.iter().any(|s| s == state), "no referral is {state}");
    }

    // What the pathway allows, and nothing it refuses.
    let refused = [
        // Attendance only for slots that began, of referrals that were booked.
        "SELECT count(*) FROM clinic_slots s JOIN referrals r
           ON r.federation_id = s.federation_id AND r.practice_id = s.practice_id AND r.id = s.referral_id
         WHERE s.federation_id = $1 AND s.attendance IS NOT NULL
           AND (s.attendance_recorded_at < s.starts_at OR r.state IN ('received'))",
        // Assessments and measures only for referrals that reached the clinic.
        "SELECT count(*) FROM assessments a JOIN referrals r
           ON r.federation_id = a.federation_id AND r.practice_id = a.practice_id AND r.id = a.referral_id
         WHERE a.federation_id = $1 AND r.state NOT IN ('seen', 'active', 'closed')",
        // A follow-up only after a baseline.
        "SELECT count(*) FROM wellbeing_measures f
         WHERE f.federation_id = $1 AND f.timepoint = 'follow_up' AND NOT EXISTS (
           SELECT 1 FROM wellbeing_measures b WHERE b.federation_id = f.federation_id
             AND b.referral_id = f.referral_id AND b.timepoint = 'baseline' AND b.recorded_at < f.recorded_at)",
        // Onward referrals after the clinic; sent ones only to services taking referrals, whose
        // organisation the patient's row names so the provider may read it.
        "SELECT count(*) FROM onward_referrals o JOIN services s
           ON s.federation_id = o.federation_id AND s.id = o.service_id
         JOIN patients p ON p.federation_id = o.federation_id AND p.practice_id = o.practice_id AND p.id = o.patient_id
         WHERE o.federation_id = $1 AND o.kind = 'referral'
           AND (NOT s.accepting_referrals OR NOT o.organisation_id = ANY (p.referred_to_organisations))",
        // Activities only under accepted (or completed) onward referrals, never before them.
        "SELECT count(*) FROM activities a JOIN onward_referrals o
           ON o.federation_id = a.federation_id AND o.practice_id = a.practice_id AND o.id = a.onward_referral_id
         WHERE a.federation_id = $1
           AND (o.kind <> 'referral' OR o.state NOT IN ('accepted', 'completed', 'withdrawn')
                OR a.delivered_on < o.created_at::date OR o.responded_at IS NULL)",
        // A closed referral has nothing left open.
        "SELECT count(*) FROM onward_referrals o JOIN referrals r
           ON r.federation_id = o.federation_id AND r.practice_id = o.practice_id AND r.id = o.referral_id
         WHERE o.federation_id = $1 AND r.state = 'closed' AND o.state IN ('pending', 'accepted')",
        // Each charge is its activity at the tariff in force, and paid ones were remitted.
        "SELECT count(*) FROM charges c JOIN tariffs t ON t.federation_id = c.federation_id AND t.id = c.tariff_id
         WHERE c.federation_id = $1 AND (t.service_id <> c.service_id OR t.activity_type <> c.activity_type
           OR t.effective_from > c.delivered_on OR c.unit_pence <> t.unit_pence
           OR (c.status = 'paid') <> (c.remittance_id IS NOT NULL))",
        // GP counts: before ends by the referral day, after starts after it and has passed.
        "SELECT count(*) FROM gp_appointment_counts g JOIN referrals r
           ON r.federation_id = g.federation_id AND r.practice_id = g.practice_id AND r.id = g.referral_id
         WHERE g.federation_id = $1 AND ((g.appointment_window = 'before' AND g.period_end > r.created_at::date)
           OR (g.appointment_window = 'after' AND (g.period_start <= r.created_at::date OR g.period_end >= current_date)))",
        // Clinics are run by volunteers of the practice.
        "SELECT count(*) FROM clinic_sessions s WHERE s.federation_id = $1 AND NOT EXISTS (
           SELECT 1 FROM clinic_session_volunteers v WHERE v.federation_id = s.federation_id
             AND v.practice_id = s.practice_id AND v.session_id = s.id)",
        // Every patient has a valid test-range NHS number.
        "SELECT count(*) FROM patients WHERE federation_id = $1 AND nhs_number NOT LIKE '999%'",
    ];
    for sql in refused {
        assert_eq!(count(&mut db, sql, federation).await, 0, "{sql}");
    }
    assert!(
        count(
            &mut db,
            "SELECT count(*) FROM charges WHERE federation_id = $1 AND status = 'paid'",
            federation
        )
        .await
            > 0
    );

    // The API reads it back: the ledger reconciles, practices list their referrals.
    let admin = app.as_role(Role::FederationAdmin, federation, None);
    let reconciliation = json_of(get(&app, &admin, "/v1/ledger/reconciliation").await, 200).await;
    assert_eq!(reconciliation["balanced"], true, "{reconciliation}");
    assert_eq!(reconciliation["sum_of_balances"]["pence"], 0);
    let practices = json_of(get(&app, &admin, "/v1/practices").await, 200).await;
    let practice: Uuid = practices["items"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let clinician = app.as_role(Role::Clinician, federation, Some(practice));
    let referrals = json_of(
        get(
            &app,
            &clinician,
            &format!("/v1/practices/{practice}/referrals?limit=20"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(referrals["items"].as_array().unwrap().len(), 20);
    let runs = json_of(get(&app, &admin, "/v1/ledger/payment-runs").await, 200).await;
    assert!(!runs["items"].as_array().unwrap().is_empty(), "{runs}");
}

#[tokio::test]
async fn the_loads_referral_rollups_are_those_the_databases_own_rebuild_makes() {
    let app = spawn_app().await;
    let end = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let summary = seed(&app, "synthetic-rollups", "11", end);
    let federation: Uuid = summary["federation_id"].as_str().unwrap().parse().unwrap();
    let mut db = owner(&app).await;
    let rows_of = |table: &str| {
        format!(
            "SELECT coalesce(array_agg(t::text ORDER BY t::text), '{{}}') FROM {table} t \
             WHERE t.federation_id = $1"
        )
    };
    let mut loaded = Vec::new();
    for table in ["stats_referral_rollups", "stats_contact_day_rollups"] {
        let rows: Vec<String> = sqlx::query_scalar(&rows_of(table))
            .bind(federation)
            .fetch_one(&mut db)
            .await
            .unwrap();
        // Every referral's cells, the histogram's by day too: far more than the referrals.
        assert!(rows.len() > 4_000, "{table} has {} rows", rows.len());
        loaded.push((table, rows));
    }

    // The load summed the facts' contributions itself; the database's fold, run over the same
    // facts, makes the same rows to the last figure.
    sqlx::query("SELECT waymark_stats_rebuild($1)")
        .bind(federation)
        .execute(&mut db)
        .await
        .unwrap();
    for (table, rows) in loaded {
        let rebuilt: Vec<String> = sqlx::query_scalar(&rows_of(table))
            .bind(federation)
            .fetch_one(&mut db)
            .await
            .unwrap();
        assert_eq!(rows.len(), rebuilt.len(), "{table}");
        for (loaded, rebuilt) in rows.iter().zip(&rebuilt) {
            assert_eq!(loaded, rebuilt, "{table}");
        }
    }
}

#[tokio::test]
async fn the_same_seed_makes_the_same_federation_and_another_seed_another() {
    let (first, second) = (spawn_app().await, spawn_app().await);
    let end = Utc::now().date_naive() - Duration::days(3);
    let a = seed(&first, "synthetic-same", "42", end);
    let b = seed(&second, "synthetic-same", "42", end);
    assert_eq!(a["federation_id"], b["federation_id"]);
    assert_eq!(a["tables"], b["tables"]);
    let other = seed(&first, "synthetic-other", "43", end);
    assert_ne!(other["tables"], a["tables"]);

    let digest = |table: &'static str| {
        format!(
            "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {table} t \
             WHERE t.federation_id = (SELECT id FROM federations WHERE slug = 'synthetic-same')"
        )
    };
    let (mut x, mut y) = (owner(&first).await, owner(&second).await);
    for table in [
        "patients",
        "referrals",
        "referral_state_changes",
        "clinic_slots",
        "wellbeing_measures",
        "onward_referrals",
        "activities",
        "charges",
        "ledger_entries",
        "remittances",
        "audit_events",
    ] {
        let sql = digest(table);
        let left: Option<String> = sqlx::query_scalar(&sql).fetch_one(&mut x).await.unwrap();
        let right: Option<String> = sqlx::query_scalar(&sql).fetch_one(&mut y).await.unwrap();
        assert!(left.is_some(), "{table} is empty");
        assert_eq!(left, right, "{table} differs between two runs of one seed");
    }
}

#[tokio::test]
async fn a_load_into_a_new_database_builds_its_indexes_afterwards_exactly_as_they_were() {
    let app = spawn_app().await;
    let mut db = owner(&app).await;
    // Every index and constraint of the schema, as the catalogue defines it.
    let catalogue = "SELECT string_agg(definition, E'\\n' ORDER BY definition) FROM (
            SELECT indexdef AS definition FROM pg_indexes WHERE schemaname = 'public'
            UNION ALL
            SELECT concat_ws(' ', conrelid::regclass, conname, pg_get_constraintdef(oid),
                             convalidated, condeferrable, condeferred)
            FROM pg_constraint WHERE connamespace = 'public'::regnamespace) d";
    let before: String = sqlx::query_scalar(catalogue)
        .fetch_one(&mut db)
        .await
        .unwrap();

    let distributed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')")
            .fetch_one(&mut db)
            .await
            .unwrap();

    let end = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let first = seed(&app, "synthetic-first", "4", end);
    let set_aside = first["indexes_built_afterwards"].as_u64().unwrap();
    if distributed {
        // Citus tables keep their indexes: DDL there is not for the middle of a load.
        assert_eq!(set_aside, 0);
    } else {
        // The pathway's secondary indexes, the keys no foreign key uses, and the statistics'.
        assert!(
            set_aside >= 30,
            "only {set_aside} indexes were built afterwards"
        );
        // The rollups were copied in their key's order into tables emptied in the load, so
        // they lie in that order: not one row follows a greater key.
        for (table, key) in [
            (
                "stats_referral_rollups",
                "bucket_kind, need_category, age_band, sex, practice_id, bucket_start",
            ),
            (
                "stats_contact_day_rollups",
                "bucket_kind, need_category, age_band, sex, practice_id, bucket_start, contact_days",
            ),
        ] {
            let out_of_order: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FILTER (WHERE key < before) FROM (
                     SELECT ROW({key}) AS key, lag(ROW({key})) OVER (ORDER BY ctid) AS before
                     FROM {table}) k"
            ))
            .fetch_one(&mut db)
            .await
            .unwrap();
            assert_eq!(out_of_order, 0, "{table} is out of its key's order");
        }
    }
    let after: String = sqlx::query_scalar(catalogue)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(before, after);
    for (index, valid) in sqlx::query_as::<_, (String, bool)>(
        "SELECT indexrelid::regclass::text, indisvalid AND indisready FROM pg_index
         WHERE indrelid::regclass::text IN ('audit_events', 'charges', 'stats_referral_rollups')",
    )
    .fetch_all(&mut db)
    .await
    .unwrap()
    {
        assert!(valid, "{index} is not ready");
    }
    // The keys built afterwards hold: a second copy of a rollup cell is refused.
    let duplicate = sqlx::query(
        "INSERT INTO stats_referral_rollups SELECT * FROM stats_referral_rollups LIMIT 1",
    )
    .execute(&mut db)
    .await
    .unwrap_err();
    assert!(duplicate
        .to_string()
        .contains("stats_referral_rollups_pkey"));

    // A federation loaded beside another fills tables in use: their indexes stay.
    let second = seed(&app, "synthetic-second", "5", end);
    assert_eq!(second["indexes_built_afterwards"], 0);
    let federation: Uuid = second["federation_id"].as_str().unwrap().parse().unwrap();
    let referrals = count(
        &mut db,
        "SELECT sum(referrals)::bigint FROM stats_referral_rollups WHERE federation_id = $1
           AND bucket_kind = 'month' AND need_category = 'all' AND age_band = 'all'
           AND sex = 'all' AND practice_id = '00000000-0000-0000-0000-000000000000'",
        federation,
    )
    .await;
    assert_eq!(referrals, 400);
}

#[tokio::test]
async fn the_generator_refuses_a_taken_slug_and_impossible_sizes_and_loads_nothing() {
    let app = spawn_app().await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_waymark"))
            .arg("seed-synthetic")
            .args(args)
            .env("DATABASE_URL", &app.service_database_url)
            .env("WAYMARK_MIGRATION_DATABASE_URL", &app.database_url)
            .env("WAYMARK_SIGNING_KEY_FILE", &app.signing_key_file)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    app.run_cli(&["seed-demo"]);
    for (args, says) in [
        (vec!["--federation", "north-charnwood"], "exists already"),
        (vec!["--federation", "Not A Slug"], "--federation"),
        (
            vec!["--federation", "fine", "--practices", "0"],
            "--practices",
        ),
        (
            vec!["--federation", "fine", "--referrals", "0"],
            "--referrals",
        ),
        (
            vec![
                "--federation",
                "fine",
                "--practices",
                "1",
                "--referrals",
                "500000",
            ],
            "a practice",
        ),
        (vec!["--federation", "fine", "--months", "30"], "--months"),
    ] {
        let output = run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let mut db = owner(&app).await;
    let federations: i64 = sqlx::query_scalar("SELECT count(*) FROM federations")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(federations, 1);

    // The service's own login is held to the policies, which COPY cannot load through.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(["seed-synthetic", "--federation", "fine"])
        .env("DATABASE_URL", &app.service_database_url)
        .env("WAYMARK_MIGRATION_DATABASE_URL", &app.service_database_url)
        .env("WAYMARK_SIGNING_KEY_FILE", &app.signing_key_file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("BYPASSRLS"));
}

#[tokio::test]
async fn rows_loaded_with_their_keys_checked_afterwards_must_refer_to_something() {
    use waymark_persistence::bulk::{self, CopyRows, LoadError};
    let app = spawn_app().await;
    let summary = seed(&app, "synthetic-keys", "3", Utc::now().date_naive());
    // The tests' owner may skip the per-row checks, so its load checks the keys at the end.
    assert!(summary["phases"]["key_check_seconds"].is_f64());
    let federation: Uuid = summary["federation_id"].as_str().unwrap().parse().unwrap();
    let mut db = owner(&app).await;
    let practice: Uuid =
        sqlx::query_scalar("SELECT id FROM practices WHERE federation_id = $1 LIMIT 1")
            .bind(federation)
            .fetch_one(&mut db)
            .await
            .unwrap();

    // What the generator loaded refers to what it should.
    let mut tx = bulk::begin_load(&mut db).await.unwrap();
    assert!(bulk::may_check_keys_afterwards(&mut tx).await.unwrap());
    let loaded = [
        "volunteers",
        "patients",
        "referrals",
        "referral_state_changes",
        "clinic_slots",
        "onward_referrals",
        "charges",
        "audit_events",
    ];
    bulk::check_keys(&mut tx, &loaded, federation)
        .await
        .unwrap();

    // A volunteer of a practice that does not exist, and one whose user does not: COPY takes
    // both with the keys off, and the check afterwards names each broken key.
    let mut volunteers = CopyRows::new(
        &mut tx,
        "volunteers",
        &[
            "federation_id",
            "practice_id",
            "id",
            "user_id",
            "display_name",
        ],
    )
    .await
    .unwrap();
    volunteers.check_keys_afterwards();
    volunteers
        .row()
        .uuid(federation)
        .uuid(practice)
        .uuid(Uuid::now_v7())
        .uuid(Uuid::now_v7())
        .text("Nobody's user");
    volunteers
        .row()
        .uuid(federation)
        .uuid(Uuid::now_v7())
        .uuid(Uuid::now_v7())
        .null()
        .text("In no practice");
    volunteers
        .row()
        .uuid(federation)
        .uuid(practice)
        .uuid(Uuid::now_v7())
        .null()
        .text("Fine without a user");
    assert_eq!(volunteers.send(&mut tx).await.unwrap(), 3);
    match bulk::check_keys(&mut tx, &["volunteers"], federation).await {
        Err(LoadError::BrokenKeys(broken)) => {
            assert_eq!(
                broken,
                vec![
                    "1 rows of volunteers break volunteers_practice_fkey (to practices)",
                    "1 rows of volunteers break volunteers_user_id_fkey (to users)",
                ]
            );
        }
        other => panic!("the broken rows passed: {other:?}"),
    }
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn a_loader_that_only_bypasses_the_policies_checks_each_row_as_it_arrives() {
    let app = spawn_app().await;
    let mut db = owner(&app).await;
    // Roles belong to the whole cluster, which other tests share.
    let loader = format!("synthetic_loader_{}", Uuid::now_v7().simple());
    for statement in [
        format!(r#"CREATE ROLE "{loader}" LOGIN BYPASSRLS"#),
        format!(
            r#"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{loader}""#
        ),
    ] {
        sqlx::query(&statement).execute(&mut db).await.unwrap();
    }
    let owner_login = crate::helpers::login_of(&app.database_url);
    let loader_url =
        app.database_url
            .replacen(&format!("{owner_login}@"), &format!("{loader}@"), 1);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args([
            "seed-synthetic",
            "--federation",
            "synthetic-rowwise",
            "--practices",
            "2",
            "--referrals",
            "150",
        ])
        .env("DATABASE_URL", &app.service_database_url)
        .env("WAYMARK_MIGRATION_DATABASE_URL", &loader_url)
        .env("WAYMARK_SIGNING_KEY_FILE", &app.signing_key_file)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["referrals"], 150);
    assert_eq!(summary["phases"]["key_check_seconds"], Value::Null);
    let federation: Uuid = summary["federation_id"].as_str().unwrap().parse().unwrap();
    let referrals = count(
        &mut db,
        "SELECT count(*) FROM stats_referrals WHERE federation_id = $1",
        federation,
    )
    .await;
    assert_eq!(referrals, 150);
    for statement in [
        format!(r#"DROP OWNED BY "{loader}""#),
        format!(r#"DROP ROLE "{loader}""#),
    ] {
        sqlx::query(&statement).execute(&mut db).await.unwrap();
    }
}
