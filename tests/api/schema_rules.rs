//! The schema's distribution rules, read from `pg_catalog` of a freshly migrated database, so a
//! migration that breaks one fails here. The rules (DESIGN.md, Tenancy; ARCHITECTURE.md):
//! every table is a platform table (a reference table on Citus) or a tenant table (distributed by
//! `federation_id`); a tenant table holds `federation_id` in its primary key, in every unique
//! constraint and index, and in every foreign key to another tenant table, matched column to
//! column; practice tables hold `practice_id` likewise; no column takes a value a distributed
//! insert cannot evaluate on the coordinator; and row-level security, forced, holds every tenant
//! table to the transaction's federation in every policy.

use crate::helpers::spawn_app;
use sqlx::{Connection, PgConnection, Row};
use std::collections::BTreeSet;

/// Tables that belong to no federation.
const PLATFORM_TABLES: &[&str] = &[
    "_sqlx_migrations",
    "federations",
    "platform_users",
    "credentials",
    "login_failures",
    "rate_limit_windows",
];

/// Tenant tables partitioned by practice inside their federation.
pub const PRACTICE_TABLES: &[&str] = &[
    "patients",
    "referrals",
    "referral_state_changes",
    "volunteers",
    "volunteer_training",
    "clinic_sessions",
    "clinic_session_volunteers",
    "clinic_slots",
    "assessments",
    "wellbeing_measures",
    "onward_referrals",
    "activities",
    "case_notes",
    "safeguarding_concerns",
    "gp_appointment_counts",
    "audit_events",
    "stats_referrals",
    "gp_coding_events",
];

/// Tenant tables that name a practice but are the federation's records: a charge names the
/// practice of its activity, and the statistics' deltas and rollups the practice they count,
/// read across the federation by its statistics.
const FEDERATION_RECORDS_NAMING_A_PRACTICE: &[&str] = &[
    "charges",
    "stats_referral_deltas",
    "stats_referral_rollups",
    "stats_contact_day_rollups",
    "stats_spend_deltas",
    "stats_spend_rollups",
    "stats_clinic_deltas",
    "stats_clinic_rollups",
];

async fn owner_connection() -> (crate::helpers::TestApp, PgConnection) {
    let app = spawn_app().await;
    let conn = PgConnection::connect(&app.database_url)
        .await
        .expect("connect as the owner");
    (app, conn)
}

async fn strings(conn: &mut PgConnection, sql: &str) -> Vec<String> {
    sqlx::query(sql)
        .fetch_all(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect()
}

fn tenant(table: &str) -> bool {
    !PLATFORM_TABLES.contains(&table)
}

#[tokio::test]
async fn every_table_is_classified_and_every_tenant_table_names_its_federation() {
    let (_app, mut conn) = owner_connection().await;
    let tables = strings(
        &mut conn,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .await;
    for listed in PLATFORM_TABLES.iter().chain(PRACTICE_TABLES) {
        assert!(
            tables.iter().any(|t| t == listed),
            "{listed} is listed but does not exist"
        );
    }
    let without_federation = strings(
        &mut conn,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
           AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                           WHERE a.attrelid = c.oid AND a.attname = 'federation_id'
                             AND a.attnotnull AND a.atttypid = 'uuid'::regtype)",
    )
    .await;
    let wrong: Vec<_> = without_federation.iter().filter(|t| tenant(t)).collect();
    assert!(
        wrong.is_empty(),
        "tenant tables without a NOT NULL uuid federation_id (or list them as platform tables): {wrong:?}"
    );
    // A NOT NULL practice_id makes a table a practice table unless it is a federation's record
    // that names a practice.
    let with_practice = strings(
        &mut conn,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'practice_id' AND a.attnotnull
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')",
    )
    .await;
    let unlisted: Vec<_> = with_practice
        .iter()
        .filter(|t| {
            !PRACTICE_TABLES.contains(&t.as_str())
                && !FEDERATION_RECORDS_NAMING_A_PRACTICE.contains(&t.as_str())
        })
        .collect();
    assert!(
        unlisted.is_empty(),
        "practice tables not listed here: {unlisted:?}"
    );
}

#[tokio::test]
async fn tenant_keys_lead_with_the_federation_and_practice_keys_hold_the_practice() {
    let (_app, mut conn) = owner_connection().await;
    // Every primary key, unique constraint and unique index, with its columns in order.
    let rows = sqlx::query(
        "SELECT c.relname::text, i.relname::text, x.indisprimary,
                array_agg(a.attname::text ORDER BY k.ord) AS columns
         FROM pg_index x
         JOIN pg_class c ON c.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_class i ON i.oid = x.indexrelid
         CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
         WHERE n.nspname = 'public' AND x.indisunique
         GROUP BY 1, 2, 3",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut with_primary_key = BTreeSet::new();
    let mut broken = Vec::new();
    for row in rows {
        let table: String = row.get(0);
        let index: String = row.get(1);
        let primary: bool = row.get(2);
        // An expression column has no name (NULL); it cannot be the distribution column.
        let columns: Vec<Option<String>> = row.get(3);
        let has = |name: &str| columns.iter().any(|c| c.as_deref() == Some(name));
        if primary {
            with_primary_key.insert(table.clone());
        }
        if tenant(&table) && !has("federation_id") {
            broken.push(format!("{table}: {index} {columns:?} lacks federation_id"));
        }
        if PRACTICE_TABLES.contains(&table.as_str()) && !has("practice_id") {
            broken.push(format!("{table}: {index} {columns:?} lacks practice_id"));
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
    let tables = strings(
        &mut conn,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
    .await;
    let keyless: Vec<_> = tables
        .iter()
        .filter(|t| !with_primary_key.contains(*t))
        .collect();
    assert!(
        keyless.is_empty(),
        "tables without a primary key: {keyless:?}"
    );
}

#[tokio::test]
async fn foreign_keys_stay_within_a_federation_and_practice_keys_within_a_practice() {
    let (_app, mut conn) = owner_connection().await;
    let rows = sqlx::query(
        "SELECT k.conname::text, src.relname::text, dst.relname::text,
                array_agg(sa.attname::text ORDER BY p.ord), array_agg(da.attname::text ORDER BY p.ord)
         FROM pg_constraint k
         JOIN pg_class src ON src.oid = k.conrelid
         JOIN pg_class dst ON dst.oid = k.confrelid
         JOIN pg_namespace n ON n.oid = src.relnamespace
         CROSS JOIN LATERAL unnest(k.conkey, k.confkey) WITH ORDINALITY AS p(s, d, ord)
         JOIN pg_attribute sa ON sa.attrelid = k.conrelid AND sa.attnum = p.s
         JOIN pg_attribute da ON da.attrelid = k.confrelid AND da.attnum = p.d
         WHERE n.nspname = 'public' AND k.contype = 'f'
         GROUP BY 1, 2, 3",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(!rows.is_empty(), "the catalog query finds the foreign keys");
    let mut broken = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let from: String = row.get(1);
        let to: String = row.get(2);
        let from_columns: Vec<String> = row.get(3);
        let to_columns: Vec<String> = row.get(4);
        let maps = |source: &str, target: &str| {
            from_columns
                .iter()
                .zip(&to_columns)
                .any(|(s, d)| s == source && d == target)
        };
        match (tenant(&from), tenant(&to)) {
            // A platform table cannot reference a distributed one on Citus.
            (false, true) => broken.push(format!("{name}: platform {from} references tenant {to}")),
            (false, false) => {}
            // A tenant table may reference the federation it belongs to, by its own federation.
            (true, false) => {
                if !(to == "federations"
                    && from_columns == ["federation_id"]
                    && to_columns == ["id"])
                {
                    broken.push(format!(
                        "{name}: tenant {from} references platform {to} other than by federation_id"
                    ));
                }
            }
            (true, true) => {
                if !maps("federation_id", "federation_id") {
                    broken.push(format!(
                        "{name}: {from} {from_columns:?} -> {to} {to_columns:?} does not match federation_id"
                    ));
                }
                let practice_to_practice = PRACTICE_TABLES.contains(&from.as_str())
                    && PRACTICE_TABLES.contains(&to.as_str());
                if practice_to_practice && !maps("practice_id", "practice_id") {
                    broken.push(format!(
                        "{name}: {from} -> {to} between practice tables does not match practice_id"
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

#[tokio::test]
async fn no_column_needs_a_value_a_distributed_insert_cannot_evaluate() {
    let (_app, mut conn) = owner_connection().await;
    // Sequences and identity columns are per node; a volatile default (random, a clock) is
    // evaluated wherever the row lands. The service supplies ids and times itself; `now()`,
    // stable within the transaction, is evaluated once by the coordinator.
    let rows = sqlx::query(
        "SELECT c.relname::text, a.attname::text, a.attidentity::text,
                coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS default_expression
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relname <> '_sqlx_migrations' AND a.attgenerated = ''
           AND (a.attidentity <> '' OR d.adbin IS NOT NULL)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let volatile: BTreeSet<String> = strings(
        &mut conn,
        "SELECT DISTINCT proname::text FROM pg_proc WHERE provolatile = 'v'",
    )
    .await
    .into_iter()
    .collect();
    assert!(volatile.contains("nextval") && volatile.contains("gen_random_uuid"));
    let mut broken = Vec::new();
    for row in rows {
        let table: String = row.get(0);
        let column: String = row.get(1);
        let identity: String = row.get(2);
        let expression: String = row.get(3);
        if !identity.is_empty() {
            broken.push(format!("{table}.{column} is an identity column"));
        }
        for called in function_names(&expression) {
            if volatile.contains(&called) {
                broken.push(format!("{table}.{column} defaults to {expression}"));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
    let sequences = strings(
        &mut conn,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'S'",
    )
    .await;
    assert!(sequences.is_empty(), "sequences: {sequences:?}");
}

/// The names called in a default expression as `pg_get_expr` prints it.
fn function_names(expression: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut current = String::new();
    for ch in expression.chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' {
            current.push(ch);
        } else {
            if ch == '(' && !current.is_empty() {
                names.push(current.clone());
            }
            current.clear();
        }
    }
    names
}

#[test]
fn function_names_are_read_from_default_expressions() {
    assert_eq!(function_names("now()"), ["now"]);
    assert_eq!(
        function_names("(gen_random_uuid())::text"),
        ["gen_random_uuid"]
    );
    assert_eq!(function_names("nextval('a_id_seq'::regclass)"), ["nextval"]);
    assert!(function_names("'received'::text").is_empty());
}

#[tokio::test]
async fn every_tenant_table_is_under_forced_row_level_security_by_federation() {
    let (_app, mut conn) = owner_connection().await;
    let rows = sqlx::query(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
                (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut broken = Vec::new();
    for row in rows {
        let table: String = row.get(0);
        let (enabled, forced, policies): (bool, bool, i64) = (row.get(1), row.get(2), row.get(3));
        if tenant(&table) && !(enabled && forced && policies > 0) {
            broken.push(format!(
                "{table}: row level security enabled {enabled}, forced {forced}, {policies} policies"
            ));
        }
    }
    // Permissive policies are OR-ed together, so each one on its own must confine a row to the
    // transaction's federation, in what it lets a transaction read and what it lets it write.
    let policies = sqlx::query(
        "SELECT c.relname::text, p.polname::text, p.polpermissive,
                coalesce(pg_get_expr(p.polqual, p.polrelid), ''),
                coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
         FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    // A conjunction holding the federation's test; an OR anywhere could let a row through
    // without it.
    let confines = |expression: &str| {
        (expression.contains("(federation_id = waymark_current_federation())")
            || expression.contains("waymark_practice_visible(federation_id, practice_id)"))
            && !expression.contains(" OR ")
    };
    for policy in policies {
        let table: String = policy.get(0);
        let name: String = policy.get(1);
        let permissive: bool = policy.get(2);
        let using: String = policy.get(3);
        let check: String = policy.get(4);
        if !tenant(&table) || !permissive {
            continue;
        }
        for (clause, expression) in [("USING", &using), ("WITH CHECK", &check)] {
            if !expression.is_empty() && !confines(expression) {
                broken.push(format!(
                    "{table}: policy {name} {clause} ({expression}) does not confine rows to the federation"
                ));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}
