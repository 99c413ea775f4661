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
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
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
/// whatever checks keys during the load). The drops are part of the load's transaction: they
/// are undone if it fails, and nobody else sees the tables without their indexes.
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

/// What a column holds, as COPY's binary format writes it (a domain as its base type, an enum
/// as its label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Uuid,
    Text,
    Bool,
    Int2,
    Int4,
    Int8,
    Float8,
    Date,
    Timestamptz,
    /// A one-dimensional array: the element type's oid (checked by the server) and how each
    /// element is written.
    Array(u32, Element),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Element {
    Uuid,
    Text,
    Int2,
    Int4,
    Int8,
}

impl Column {
    fn of(type_name: &str, enumerated: bool, element: Option<(u32, &str, bool)>) -> Option<Self> {
        if enumerated {
            return Some(Self::Text);
        }
        if let Some((oid, element, enumerated)) = element {
            let element = match element {
                _ if enumerated => Element::Text,
                "uuid" => Element::Uuid,
                "text" | "varchar" | "bpchar" => Element::Text,
                "int2" => Element::Int2,
                "int4" => Element::Int4,
                "int8" => Element::Int8,
                _ => return None,
            };
            return Some(Self::Array(oid, element));
        }
        Some(match type_name {
            "uuid" => Self::Uuid,
            "text" | "varchar" | "bpchar" => Self::Text,
            "bool" => Self::Bool,
            "int2" => Self::Int2,
            "int4" => Self::Int4,
            "int8" => Self::Int8,
            "float8" => Self::Float8,
            "date" => Self::Date,
            "timestamptz" => Self::Timestamptz,
            _ => return None,
        })
    }
}

/// COPY's binary format starts with this signature, a flags word and an empty extension area.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Days and microseconds in COPY's binary format count from 2000-01-01 (UTC).
fn postgres_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date")
}

/// Rows for one table, in COPY's binary format, which the server takes without parsing text
/// (a UUID's or a timestamp's text form costs more to read than to store). Each column's
/// type is read from the catalogue when the rows are made ([`CopyRows::new`]), and each field
/// is written as its column's type: a value of the wrong kind for its column is a programming
/// error, and panics.
pub struct CopyRows {
    statement: String,
    table: String,
    columns: Vec<Column>,
    buffer: Vec<u8>,
    rows: u64,
    sent: u64,
    keys_checked_afterwards: bool,
}

impl CopyRows {
    /// Rows for `columns` of `table`, whose types are looked up on `conn`.
    pub async fn new(
        conn: &mut PgConnection,
        table: &str,
        columns: &[&str],
    ) -> Result<Self, StoreError> {
        let names: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        let described = sqlx::query!(
            r#"SELECT c.name AS "name!", b.typname::text AS "type_name!",
                      b.typtype = 'e' AS "enumerated!",
                      e.oid::int8 AS "element_oid?", e.typname::text AS "element_type?",
                      e.typtype = 'e' AS "element_enumerated?"
               FROM unnest($2::text[]) WITH ORDINALITY AS c (name, n)
               LEFT JOIN pg_attribute a
                 ON a.attrelid = $1::text::regclass AND a.attname = c.name
                AND a.attnum > 0 AND NOT a.attisdropped
               LEFT JOIN pg_type t ON t.oid = a.atttypid
               LEFT JOIN pg_type b
                 ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
               LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
               ORDER BY c.n"#,
            table,
            &names
        )
        .fetch_all(&mut *conn)
        .await?;
        let types = described
            .iter()
            .map(|column| {
                let element = match (&column.element_oid, &column.element_type) {
                    (Some(oid), Some(name)) => Some((
                        u32::try_from(*oid).expect("an oid"),
                        name.as_str(),
                        column.element_enumerated.unwrap_or(false),
                    )),
                    _ => None,
                };
                Column::of(&column.type_name, column.enumerated, element).unwrap_or_else(|| {
                    panic!(
                        "{table}.{} is of a type the bulk loader does not write ({})",
                        column.name, column.type_name
                    )
                })
            })
            .collect();
        Ok(Self::with_types(table, columns, types))
    }

    fn with_types(table: &str, columns: &[&str], types: Vec<Column>) -> Self {
        Self {
            statement: format!(
                "COPY {table} ({}) FROM STDIN (FORMAT binary)",
                columns.join(", ")
            ),
            table: table.to_owned(),
            columns: types,
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
        if self.buffer.is_empty() {
            self.buffer.extend_from_slice(BINARY_HEADER);
        }
        self.rows += 1;
        let fields = i16::try_from(self.columns.len()).expect("fewer than 32,768 columns");
        self.buffer.extend_from_slice(&fields.to_be_bytes());
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
        // The trailer: a row of -1 fields.
        self.buffer.extend_from_slice(&(-1i16).to_be_bytes());
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
    /// The column the next field is for.
    fn next(&mut self) -> Column {
        let column = *self.rows.columns.get(self.fields).unwrap_or_else(|| {
            panic!(
                "a row of {} has more fields than columns",
                self.rows.statement
            )
        });
        self.fields += 1;
        column
    }

    fn wrong(&self, value: &str, column: Column) -> ! {
        panic!(
            "field {} of a row of {} is a {value}, for a column of {column:?}",
            self.fields, self.rows.statement
        )
    }

    fn field(&mut self, bytes: &[u8]) {
        let length = i32::try_from(bytes.len()).expect("a field under 2 GB");
        self.rows.buffer.extend_from_slice(&length.to_be_bytes());
        self.rows.buffer.extend_from_slice(bytes);
    }

    pub fn null(mut self) -> Self {
        self.next();
        self.rows.buffer.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    pub fn text(mut self, value: &str) -> Self {
        match self.next() {
            Column::Text => self.field(value.as_bytes()),
            other => self.wrong("text", other),
        }
        self
    }

    pub fn uuid(mut self, value: Uuid) -> Self {
        match self.next() {
            Column::Uuid => self.field(value.as_bytes()),
            other => self.wrong("uuid", other),
        }
        self
    }

    /// An integer, written at its column's width (it must fit).
    pub fn int(mut self, value: i64) -> Self {
        let column = self.next();
        match column {
            Column::Int2 => match i16::try_from(value) {
                Ok(narrow) => self.field(&narrow.to_be_bytes()),
                Err(_) => self.out_of_range(value, column),
            },
            Column::Int4 => match i32::try_from(value) {
                Ok(narrow) => self.field(&narrow.to_be_bytes()),
                Err(_) => self.out_of_range(value, column),
            },
            Column::Int8 => self.field(&value.to_be_bytes()),
            other => self.wrong("integer", other),
        }
        self
    }

    fn out_of_range(&self, value: i64, column: Column) -> ! {
        panic!("{value} does not fit {column:?} in {}", self.rows.statement)
    }

    pub fn float(mut self, value: f64) -> Self {
        match self.next() {
            Column::Float8 => self.field(&value.to_bits().to_be_bytes()),
            other => self.wrong("float", other),
        }
        self
    }

    pub fn bool(mut self, value: bool) -> Self {
        match self.next() {
            Column::Bool => self.field(&[u8::from(value)]),
            other => self.wrong("boolean", other),
        }
        self
    }

    pub fn date(mut self, value: NaiveDate) -> Self {
        match self.next() {
            Column::Date => {
                let days = i32::try_from((value - postgres_epoch()).num_days())
                    .expect("a date PostgreSQL can hold");
                self.field(&days.to_be_bytes());
            }
            other => self.wrong("date", other),
        }
        self
    }

    pub fn time(mut self, value: DateTime<Utc>) -> Self {
        match self.next() {
            Column::Timestamptz => {
                let epoch = postgres_epoch().and_time(NaiveTime::MIN).and_utc();
                let micros = (value - epoch)
                    .num_microseconds()
                    .expect("a time PostgreSQL can hold");
                self.field(&micros.to_be_bytes());
            }
            other => self.wrong("timestamp", other),
        }
        self
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

    /// An array of the given elements, for an array column of `element`s: a one-dimensional
    /// array from 1 without nulls, or an empty one.
    fn array<T>(
        mut self,
        element: Element,
        values: &[T],
        write: impl Fn(&T, &mut Vec<u8>),
    ) -> Self {
        let oid = match self.next() {
            Column::Array(oid, column) if column == element => oid,
            other => self.wrong(&format!("{element:?} array"), other),
        };
        let mut array = Vec::with_capacity(20 + values.len() * 20);
        let dimensions: i32 = if values.is_empty() { 0 } else { 1 };
        array.extend_from_slice(&dimensions.to_be_bytes());
        array.extend_from_slice(&0i32.to_be_bytes());
        array.extend_from_slice(&oid.to_be_bytes());
        if !values.is_empty() {
            let length = i32::try_from(values.len()).expect("an array under 2^31 elements");
            array.extend_from_slice(&length.to_be_bytes());
            array.extend_from_slice(&1i32.to_be_bytes());
        }
        let mut item = Vec::new();
        for value in values {
            item.clear();
            write(value, &mut item);
            let length = i32::try_from(item.len()).expect("an element under 2 GB");
            array.extend_from_slice(&length.to_be_bytes());
            array.extend_from_slice(&item);
        }
        self.field(&array);
        self
    }

    /// A `text[]` of the given elements.
    pub fn texts<S: AsRef<str>>(self, values: &[S]) -> Self {
        self.array(Element::Text, values, |v, out| {
            out.extend_from_slice(v.as_ref().as_bytes())
        })
    }

    /// A `uuid[]` of the given elements.
    pub fn uuids(self, values: &[Uuid]) -> Self {
        self.array(Element::Uuid, values, |v, out| {
            out.extend_from_slice(v.as_bytes())
        })
    }

    /// A `smallint[]`, `integer[]` or `bigint[]` of the given elements (each must fit).
    pub fn ints(self, values: &[i64]) -> Self {
        match self.rows.columns.get(self.fields) {
            Some(Column::Array(_, Element::Int2)) => self.array(Element::Int2, values, |v, out| {
                let narrow = i16::try_from(*v).expect("a smallint element in range");
                out.extend_from_slice(&narrow.to_be_bytes())
            }),
            Some(Column::Array(_, Element::Int4)) => self.array(Element::Int4, values, |v, out| {
                let narrow = i32::try_from(*v).expect("an integer element in range");
                out.extend_from_slice(&narrow.to_be_bytes())
            }),
            _ => self.array(Element::Int8, values, |v, out| {
                out.extend_from_slice(&v.to_be_bytes())
            }),
        }
    }
}

impl Drop for Row<'_> {
    fn drop(&mut self) {
        // Not while a panic above unwinds: that one says what went wrong.
        if !std::thread::panicking() {
            assert_eq!(
                self.fields,
                self.rows.columns.len(),
                "a row of {} gives every column",
                self.rows.statement
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(types: Vec<Column>, build: impl FnOnce(&mut CopyRows)) -> Vec<u8> {
        let names: Vec<String> = (0..types.len()).map(|i| format!("c{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut rows = CopyRows::with_types("t", &names, types);
        build(&mut rows);
        rows.buffer
    }

    fn field(bytes: &[u8]) -> Vec<u8> {
        let mut out = (bytes.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn rows_are_written_in_the_binary_format_at_each_columns_width() {
        let id = Uuid::from_u128(0x0123_4567_89ab_7def_8123_4567_89ab_cdef);
        let bytes = written(
            vec![
                Column::Uuid,
                Column::Int2,
                Column::Int4,
                Column::Int8,
                Column::Text,
            ],
            |rows| {
                rows.row().uuid(id).int(-2).int(70_000).int(1 << 40).null();
            },
        );
        let mut expected = BINARY_HEADER.to_vec();
        expected.extend_from_slice(&5i16.to_be_bytes());
        expected.extend(field(id.as_bytes()));
        expected.extend(field(&(-2i16).to_be_bytes()));
        expected.extend(field(&70_000i32.to_be_bytes()));
        expected.extend(field(&(1i64 << 40).to_be_bytes()));
        expected.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(bytes, expected);
    }

    #[test]
    fn dates_and_times_count_from_the_year_2000_and_text_is_sent_as_it_is() {
        let day = NaiveDate::from_ymd_opt(2000, 1, 3).unwrap();
        let at = day.and_hms_micro_opt(0, 0, 1, 5).unwrap().and_utc();
        let before = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
        let bytes = written(
            vec![
                Column::Date,
                Column::Timestamptz,
                Column::Date,
                Column::Text,
                Column::Bool,
            ],
            |rows| {
                rows.row()
                    .date(day)
                    .time(at)
                    .date(before)
                    .text("tab\there")
                    .bool(true);
            },
        );
        let mut expected = BINARY_HEADER.to_vec();
        expected.extend_from_slice(&5i16.to_be_bytes());
        expected.extend(field(&2i32.to_be_bytes()));
        expected.extend(field(&(2 * 86_400_000_000i64 + 1_000_005).to_be_bytes()));
        expected.extend(field(&(-1i32).to_be_bytes()));
        expected.extend(field(b"tab\there"));
        expected.extend(field(&[1]));
        assert_eq!(bytes, expected);
    }

    #[test]
    fn arrays_name_their_element_type_and_an_empty_one_has_no_dimensions() {
        let bytes = written(
            vec![
                Column::Array(25, Element::Text),
                Column::Array(21, Element::Int2),
            ],
            |rows| {
                rows.row().texts(&["ab", "c"]).ints(&[]);
            },
        );
        let mut text_array = Vec::new();
        for word in [1i32, 0, 25, 2, 1] {
            text_array.extend_from_slice(&word.to_be_bytes());
        }
        text_array.extend(field(b"ab"));
        text_array.extend(field(b"c"));
        let mut empty = Vec::new();
        for word in [0i32, 0, 21] {
            empty.extend_from_slice(&word.to_be_bytes());
        }
        let mut expected = BINARY_HEADER.to_vec();
        expected.extend_from_slice(&2i16.to_be_bytes());
        expected.extend(field(&text_array));
        expected.extend(field(&empty));
        assert_eq!(bytes, expected);
    }

    #[test]
    #[should_panic(expected = "does not fit Int2")]
    fn an_integer_too_wide_for_its_column_is_refused() {
        written(vec![Column::Int2], |rows| {
            rows.row().int(40_000);
        });
    }

    #[test]
    #[should_panic(expected = "is a text, for a column of Uuid")]
    fn a_value_of_the_wrong_kind_for_its_column_is_refused() {
        written(vec![Column::Uuid], |rows| {
            rows.row().text("not a uuid");
        });
    }
}
