//! Loading many rows at once with `COPY … FROM STDIN`, for generated federations
//! (`waymark seed-synthetic`): rows are written in PostgreSQL's text format into a buffer per
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
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use std::fmt::Write as _;
use uuid::Uuid;

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

/// Rows for one table, in COPY's text format.
pub struct CopyRows {
    statement: String,
    table: String,
    columns: usize,
    buffer: Vec<u8>,
    rows: u64,
    sent: u64,
    keys_checked_afterwards: bool,
}

impl CopyRows {
    pub fn new(table: &str, columns: &[&str]) -> Self {
        Self {
            statement: format!("COPY {table} ({}) FROM STDIN", columns.join(", ")),
            table: table.to_owned(),
            columns: columns.len(),
            buffer: Vec::with_capacity(1 << 16),
            rows: 0,
            sent: 0,
            keys_checked_afterwards: false,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Loads this table's rows with its triggers off, foreign keys included; the caller must
    /// then [`check_keys`] it, in the same transaction, and rebuild whatever its other triggers
    /// keep. Needs a superuser ([`may_check_keys_afterwards`]).
    pub fn check_keys_afterwards(&mut self) {
        self.keys_checked_afterwards = true;
    }

    pub fn keys_checked_afterwards(&self) -> bool {
        self.keys_checked_afterwards
    }

    /// Starts a row; its fields are given in the order of the columns, and it ends when the
    /// writer is dropped.
    pub fn row(&mut self) -> Row<'_> {
        self.rows += 1;
        Row {
            rows: self,
            fields: 0,
        }
    }

    /// Rows buffered and not yet sent.
    pub fn pending(&self) -> u64 {
        self.rows
    }

    /// Bytes buffered and not yet sent.
    pub fn pending_bytes(&self) -> usize {
        self.buffer.len()
    }

    /// Rows sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Sends the buffered rows with one COPY, and empties the buffer.
    pub async fn send(&mut self, conn: &mut PgConnection) -> Result<u64, StoreError> {
        if self.rows == 0 {
            return Ok(0);
        }
        if self.keys_checked_afterwards {
            sqlx::query("SET LOCAL session_replication_role = replica")
                .execute(&mut *conn)
                .await?;
        }
        let mut copy = conn.copy_in_raw(&self.statement).await?;
        if let Err(error) = copy.send(self.buffer.as_slice()).await {
            copy.abort(error.to_string()).await.ok();
            return Err(error.into());
        }
        let copied = copy.finish().await?;
        if self.keys_checked_afterwards {
            sqlx::query("SET LOCAL session_replication_role = origin")
                .execute(&mut *conn)
                .await?;
        }
        self.sent += copied;
        self.buffer.clear();
        self.rows = 0;
        Ok(copied)
    }
}

/// One row being written; each method writes the next field.
pub struct Row<'a> {
    rows: &'a mut CopyRows,
    fields: usize,
}

impl Row<'_> {
    fn separate(&mut self) {
        if self.fields > 0 {
            self.rows.buffer.push(b'\t');
        }
        self.fields += 1;
    }

    fn raw(mut self, value: &str) -> Self {
        self.separate();
        self.rows.buffer.extend_from_slice(value.as_bytes());
        self
    }

    pub fn null(mut self) -> Self {
        self.separate();
        self.rows.buffer.extend_from_slice(b"\\N");
        self
    }

    pub fn text(mut self, value: &str) -> Self {
        self.separate();
        escape_into(&mut self.rows.buffer, value);
        self
    }

    pub fn uuid(self, value: Uuid) -> Self {
        let mut field = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = value.hyphenated().encode_lower(&mut field);
        self.raw(text)
    }

    pub fn int(self, value: i64) -> Self {
        self.raw(&value.to_string())
    }

    pub fn bool(self, value: bool) -> Self {
        self.raw(if value { "t" } else { "f" })
    }

    pub fn date(self, value: NaiveDate) -> Self {
        self.raw(&value.format("%Y-%m-%d").to_string())
    }

    pub fn time(self, value: DateTime<Utc>) -> Self {
        self.raw(&value.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn opt_uuid(self, value: Option<Uuid>) -> Self {
        match value {
            Some(v) => self.uuid(v),
            None => self.null(),
        }
    }

    pub fn opt_text(self, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    pub fn opt_int(self, value: Option<i64>) -> Self {
        match value {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    pub fn opt_date(self, value: Option<NaiveDate>) -> Self {
        match value {
            Some(v) => self.date(v),
            None => self.null(),
        }
    }

    pub fn opt_time(self, value: Option<DateTime<Utc>>) -> Self {
        match value {
            Some(v) => self.time(v),
            None => self.null(),
        }
    }

    /// A `text[]` of the given elements.
    pub fn texts<S: AsRef<str>>(self, values: &[S]) -> Self {
        let mut literal = String::from("{");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                literal.push(',');
            }
            literal.push('"');
            for c in value.as_ref().chars() {
                if c == '"' || c == '\\' {
                    literal.push('\\');
                }
                literal.push(c);
            }
            literal.push('"');
        }
        literal.push('}');
        self.text(&literal)
    }

    /// A `uuid[]` of the given elements.
    pub fn uuids(self, values: &[Uuid]) -> Self {
        let mut literal = String::from("{");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                literal.push(',');
            }
            write!(literal, "{value}").expect("writing to a string");
        }
        literal.push('}');
        self.raw(&literal)
    }

    /// A `smallint[]` (or any integer array) of the given elements.
    pub fn ints(self, values: &[i64]) -> Self {
        let items: Vec<String> = values.iter().map(i64::to_string).collect();
        self.raw(&format!("{{{}}}", items.join(",")))
    }
}

impl Drop for Row<'_> {
    fn drop(&mut self) {
        debug_assert_eq!(
            self.fields, self.rows.columns,
            "a row of {} gives every column",
            self.rows.statement
        );
        self.rows.buffer.push(b'\n');
    }
}

/// `value` as a field of COPY's text format: backslash, tab, newline and carriage return are
/// escaped; everything else is sent as it is.
fn escape_into(buffer: &mut Vec<u8>, value: &str) {
    for byte in value.bytes() {
        match byte {
            b'\\' => buffer.extend_from_slice(b"\\\\"),
            b'\t' => buffer.extend_from_slice(b"\\t"),
            b'\n' => buffer.extend_from_slice(b"\\n"),
            b'\r' => buffer.extend_from_slice(b"\\r"),
            other => buffer.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(build: impl FnOnce(&mut CopyRows)) -> String {
        let mut rows = CopyRows::new("t", &["a", "b", "c"]);
        build(&mut rows);
        String::from_utf8(rows.buffer).unwrap()
    }

    #[test]
    fn fields_are_escaped_and_rows_end_with_a_newline() {
        let text = written(|rows| {
            rows.row().text("tab\there").null().int(-3);
            rows.row()
                .text("back\\slash\nline")
                .bool(true)
                .texts(&["a\"b", "c"]);
        });
        assert_eq!(
            text,
            "tab\\there\t\\N\t-3\nback\\\\slash\\nline\tt\t{\"a\\\\\"b\",\"c\"}\n"
        );
    }

    #[test]
    fn uuids_dates_and_times_are_written_as_postgresql_reads_them() {
        let id = Uuid::from_u128(0x0123_4567_89ab_7def_8123_4567_89ab_cdef);
        let day = NaiveDate::from_ymd_opt(2026, 2, 3).unwrap();
        let at = day.and_hms_opt(4, 5, 6).unwrap().and_utc();
        let text = written(|rows| {
            rows.row().uuid(id).date(day).time(at);
            rows.row().uuids(&[id]).ints(&[1, 2]).opt_time(None);
        });
        assert_eq!(
            text,
            "01234567-89ab-7def-8123-456789abcdef\t2026-02-03\t2026-02-03T04:05:06.000000Z\n\
             {01234567-89ab-7def-8123-456789abcdef}\t{1,2}\t\\N\n"
        );
    }
}
