//! Loading many rows at once with `COPY … FROM STDIN`, for generated federations
//! (`waymark seed-synthetic`): rows are written in PostgreSQL's binary format into a buffer per
//! table and sent a buffer at a time, in the caller's transaction.
//!
//! COPY is refused on a table under row-level security to a role the policies apply to, and
//! every tenant table forces its policies, so loading needs a role that bypasses them (a
//! superuser, or one with `BYPASSRLS`): the schema owner of a development or benchmark database.
//! [`begin_load`] checks that first and says so.
//!
//! Checking each row's foreign keys as it arrives is most of a large load's time (a lookup in
//! each parent per row). A superuser can instead load the rows with triggers off
//! (`session_replication_role = replica`, which also turns the foreign keys' triggers off) and
//! then check every key of the tables loaded with one set-wise query per table
//! ([`check_keys`]), as `pg_restore` does when it adds a foreign key after the data. The load
//! fails, and leaves nothing, if any row refers to nothing.

use crate::error::StoreError;
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use std::fmt::Write as _;
use uuid::Uuid;

mod copy_rows;
pub use copy_rows::{CopyBatch, CopyRows, Row};

/// Why rows could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "{0} is subject to row-level security, which COPY cannot load through; connect as a \
         superuser or a role with BYPASSRLS (the schema owner of a development database)"
    )]
    SubjectToPolicies(String),
    #[error("rows loaded refer to nothing: {}", .0.join("; "))]
    BrokenKeys(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LoadError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::from(e))
    }
}

/// Opens the transaction a load runs in, on a connection whose role bypasses row-level
/// security. Nothing is visible to anyone else until it commits, and a failure leaves nothing.
pub async fn begin_load(conn: &mut PgConnection) -> Result<Transaction<'_, Postgres>, LoadError> {
    let role = sqlx::query!(
        r#"SELECT current_user AS "name!", rolsuper OR rolbypassrls AS "bypasses!"
           FROM pg_roles WHERE rolname = current_user"#
    )
    .fetch_one(&mut *conn)
    .await?;
    if !role.bypasses {
        return Err(LoadError::SubjectToPolicies(role.name));
    }
    Ok(conn.begin().await?)
}

/// Whether the connection may load rows with their foreign keys checked afterwards (its role
/// is a superuser, which `session_replication_role` needs).
pub async fn may_check_keys_afterwards(conn: &mut PgConnection) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT rolsuper AS "superuser!" FROM pg_roles WHERE rolname = current_user"#
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Refreshes the planner's statistics of `tables` inside the load's transaction (ANALYZE counts
/// the transaction's own rows), so the joins that follow a load are planned for its size.
/// Citus refuses a distributed ANALYZE once the transaction has written to placements on the
/// coordinator; there nothing is done and `false` answered, and the caller analyses after the
/// commit instead.
pub async fn analyze_in_load(conn: &mut PgConnection, tables: &[&str]) -> Result<bool, StoreError> {
    let distributed = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS "citus!""#
    )
    .fetch_one(&mut *conn)
    .await?;
    if distributed {
        return Ok(false);
    }
    sqlx::query(&format!("ANALYZE {}", tables.join(", ")))
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Indexes dropped for a load into tables that were empty, to be built again from their
/// definitions once the rows are in ([`build_indexes`]).
#[derive(Debug, Default)]
#[must_use = "the indexes set aside must be built again before the load commits"]
pub struct IndexesSetAside {
    /// What rebuilds each: a `CREATE INDEX`, or an `ALTER TABLE … ADD CONSTRAINT` for a key.
    statements: Vec<String>,
}

impl IndexesSetAside {
    /// How many indexes wait to be built.
    pub fn len(&self) -> usize {
        self.statements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }
}

/// In a database that holds no federation yet, drops the indexes of `tables`, so the load
/// fills them without an index insertion per row, and [`build_indexes`] builds each in one
/// sort afterwards, as `pg_restore` does. A primary key or unique constraint is dropped and
/// added again only when no foreign key depends on its index (its parents' keys stay, for
/// whatever checks keys during the load). A table no foreign key refers to is also emptied
/// again with TRUNCATE, so that its rows lie in the order they were copied in. The drops and
/// truncations are part of the load's transaction: they are undone if it fails, and nobody
/// else sees the tables without their indexes.
///
/// Each table set aside is locked (`ACCESS EXCLUSIVE`) until the load commits. With no
/// federation, no request of the service touches a tenant table, so that keeps nobody
/// waiting; once there is one, an empty table (the statistics' pending changes, say) may be
/// written by any request at any moment, so every table keeps its indexes, as every table
/// does on Citus.
pub async fn set_indexes_aside(
    conn: &mut PgConnection,
    tables: &[&str],
) -> Result<IndexesSetAside, StoreError> {
    let distributed = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS "citus!""#
    )
    .fetch_one(&mut *conn)
    .await?;
    let mut set_aside = IndexesSetAside::default();
    if distributed {
        return Ok(set_aside);
    }
    let federations = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM federations) AS "any!""#)
        .fetch_one(&mut *conn)
        .await?;
    if federations {
        return Ok(set_aside);
    }
    for table in tables {
        // Looked at before the lock, so a table in use is never locked; and again after it,
        // since a row may have been committed in between.
        let has_rows = format!("SELECT EXISTS (SELECT 1 FROM {table})");
        if sqlx::query_scalar::<_, bool>(&has_rows)
            .fetch_one(&mut *conn)
            .await?
        {
            continue;
        }
        sqlx::query(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            .execute(&mut *conn)
            .await?;
        if sqlx::query_scalar::<_, bool>(&has_rows)
            .fetch_one(&mut *conn)
            .await?
        {
            continue;
        }
        // Emptied again, the table gets a file of this transaction's own, which COPY fills
        // strictly in order (it looks for no free space left in earlier pages): rows copied in
        // their key's order stay in it, and the key is built from them without a full sort.
        // Not for a table a foreign key refers to, which TRUNCATE refuses, nor one whose
        // triggers refuse it.
        let truncatable = sqlx::query_scalar::<_, bool>(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_constraint
                                WHERE confrelid = $1::text::regclass AND contype = 'f')
                AND NOT EXISTS (SELECT 1 FROM pg_trigger
                                WHERE tgrelid = $1::text::regclass AND tgtype & 32 <> 0)",
        )
        .bind(table)
        .fetch_one(&mut *conn)
        .await?;
        if truncatable {
            sqlx::query(&format!("TRUNCATE {table}"))
                .execute(&mut *conn)
                .await?;
        }
        let indexes = sqlx::query!(
            r#"SELECT i.indexrelid::regclass::text AS "index!",
                      quote_ident(con.conname) AS "constraint?",
                      pg_get_indexdef(i.indexrelid) AS "index_definition!",
                      pg_get_constraintdef(con.oid) AS "constraint_definition?"
               FROM pg_index i
               LEFT JOIN pg_constraint con
                 ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                AND con.contype IN ('p', 'u')
               WHERE i.indrelid = $1::text::regclass
                 -- Nothing but its own constraint may depend on it (a foreign key does).
                 AND NOT EXISTS (
                     SELECT 1 FROM pg_depend d
                     WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indexrelid
                       AND NOT (d.classid = 'pg_constraint'::regclass
                                AND d.objid IS NOT DISTINCT FROM con.oid))
                 -- An index behind any other kind of constraint (an exclusion) stays.
                 AND NOT EXISTS (
                     SELECT 1 FROM pg_constraint x
                     WHERE x.conindid = i.indexrelid AND x.contype NOT IN ('p', 'u', 'f'))
               ORDER BY 1"#,
            table
        )
        .fetch_all(&mut *conn)
        .await?;
        for index in indexes {
            match (index.constraint, index.constraint_definition) {
                (Some(constraint), Some(definition)) => {
                    sqlx::query(&format!("ALTER TABLE {table} DROP CONSTRAINT {constraint}"))
                        .execute(&mut *conn)
                        .await?;
                    set_aside.statements.push(format!(
                        "ALTER TABLE {table} ADD CONSTRAINT {constraint} {definition}"
                    ));
                }
                _ => {
                    sqlx::query(&format!("DROP INDEX {}", index.index))
                        .execute(&mut *conn)
                        .await?;
                    set_aside.statements.push(index.index_definition);
                }
            }
        }
    }
    Ok(set_aside)
}

/// Builds the indexes [`set_indexes_aside`] dropped, in the load's transaction (a key that the
/// rows break fails the load). Each build sorts its table once, with parallel workers where
/// the server allows them.
pub async fn build_indexes(
    conn: &mut PgConnection,
    set_aside: IndexesSetAside,
) -> Result<(), StoreError> {
    if set_aside.is_empty() {
        return Ok(());
    }
    sqlx::query("SET LOCAL maintenance_work_mem = '512MB'")
        .execute(&mut *conn)
        .await?;
    for statement in &set_aside.statements {
        sqlx::query(statement).execute(&mut *conn).await?;
    }
    sqlx::query("SET LOCAL maintenance_work_mem TO DEFAULT")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Checks every foreign key of `tables` for the federation's rows: each table is read once,
/// joined to each table it refers to. Rows with a null in a key refer to nothing and pass, as
/// they do under the key itself (`MATCH SIMPLE`).
pub async fn check_keys(
    conn: &mut PgConnection,
    tables: &[&str],
    federation: Uuid,
) -> Result<(), LoadError> {
    let tables: Vec<String> = tables.iter().map(|t| (*t).to_owned()).collect();
    let keys = sqlx::query!(
        r#"SELECT c.conname::text AS "name!", c.conrelid::regclass::text AS "child!",
                  c.confrelid::regclass::text AS "parent!",
                  array_agg(a.attname::text ORDER BY k.n) AS "child_columns!",
                  array_agg(b.attname::text ORDER BY k.n) AS "parent_columns!"
           FROM pg_constraint c
           CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k (child_att, parent_att, n)
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.child_att
           JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = k.parent_att
           WHERE c.contype = 'f' AND c.conrelid = ANY ($1::text[]::regclass[])
           GROUP BY c.oid, c.conname, c.conrelid, c.confrelid
           ORDER BY 2, 1"#,
        &tables
    )
    .fetch_all(&mut *conn)
    .await?;
    // The parents are hashed whole: give the joins room to do that in memory.
    sqlx::query("SET LOCAL work_mem = '256MB'")
        .execute(&mut *conn)
        .await?;
    let mut broken = Vec::new();
    for table in &tables {
        let table_keys: Vec<_> = keys.iter().filter(|k| &k.child == table).collect();
        if table_keys.is_empty() {
            continue;
        }
        let mut missing = Vec::new();
        let mut joins = String::new();
        for (i, key) in table_keys.iter().enumerate() {
            let on: Vec<String> = key
                .child_columns
                .iter()
                .zip(&key.parent_columns)
                .map(|(c, p)| format!("p{i}.{p} = c.{c}"))
                .collect();
            let present: Vec<String> = key
                .child_columns
                .iter()
                .map(|c| format!("c.{c} IS NOT NULL"))
                .collect();
            write!(
                joins,
                " LEFT JOIN {} p{i} ON {}",
                key.parent,
                on.join(" AND ")
            )
            .expect("writing to a string");
            // A parent's key columns are never null where the join found one.
            missing.push(format!(
                "count(*) FILTER (WHERE {} AND p{i}.{} IS NULL)",
                present.join(" AND "),
                key.parent_columns[0]
            ));
        }
        let counts: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT ARRAY[{}]::bigint[] FROM {table} c{joins} WHERE c.federation_id = $1",
            missing.join(", ")
        ))
        .bind(federation)
        .fetch_one(&mut *conn)
        .await?;
        for (key, count) in table_keys.iter().zip(counts) {
            if count > 0 {
                broken.push(format!(
                    "{count} rows of {} break {} (to {})",
                    key.child, key.name, key.parent
                ));
            }
        }
    }
    sqlx::query("SET LOCAL work_mem TO DEFAULT")
        .execute(&mut *conn)
        .await?;
    if broken.is_empty() {
        Ok(())
    } else {
        Err(LoadError::BrokenKeys(broken))
    }
}
