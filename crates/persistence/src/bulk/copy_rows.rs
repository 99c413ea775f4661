//! Rows in COPY's binary format, a buffer per table, each field written as its column's type.

use crate::error::StoreError;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

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
    /// then [`check_keys`](super::check_keys) it, in the same transaction, and rebuild whatever its other triggers
    /// keep. Needs a superuser ([`may_check_keys_afterwards`](super::may_check_keys_afterwards)).
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

    /// Rows sent so far, or taken to be sent ([`CopyRows::take_batch`]).
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Sends the buffered rows with one COPY, and empties the buffer.
    pub async fn send(&mut self, conn: &mut PgConnection) -> Result<u64, StoreError> {
        match self.take_batch() {
            Some(batch) => batch.send(conn).await,
            None => Ok(0),
        }
    }

    /// Takes the buffered rows, to be sent by the caller (on another thread, say, while more
    /// are made), and empties the buffer. They count as sent; a batch that fails to send fails
    /// the load.
    pub fn take_batch(&mut self) -> Option<CopyBatch> {
        if self.rows == 0 {
            return None;
        }
        // The trailer: a row of -1 fields.
        self.buffer.extend_from_slice(&(-1i16).to_be_bytes());
        let batch = CopyBatch {
            statement: self.statement.clone(),
            buffer: std::mem::take(&mut self.buffer),
            keys_checked_afterwards: self.keys_checked_afterwards,
        };
        self.sent += self.rows;
        self.rows = 0;
        Some(batch)
    }
}

/// Rows of one table taken from its [`CopyRows`], ready for one COPY.
pub struct CopyBatch {
    statement: String,
    buffer: Vec<u8>,
    keys_checked_afterwards: bool,
}

impl CopyBatch {
    /// Sends the rows with one COPY and answers how many the server took (all of them, or
    /// an error).
    pub async fn send(self, conn: &mut PgConnection) -> Result<u64, StoreError> {
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
