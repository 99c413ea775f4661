//! Writing many rows in one statement.
//!
//! Many rows go in as one `INSERT … VALUES (…), (…)`, never `INSERT … SELECT … FROM unnest(…)`.
//! On Citus an `INSERT … SELECT` whose `SELECT` reads no distributed table is run on the
//! coordinator and its rows copied into the shards with `COPY`, which PostgreSQL refuses on a
//! table under row-level security; a multi-row `VALUES` goes to the shard as an `INSERT`, under
//! the policies like any other. (An `UPDATE … FROM unnest(…)`, or an `INSERT … SELECT` joined to
//! the federation's own rows, is routed to the shard whole and may stay as it is.)

/// Rows per statement, well inside PostgreSQL's 65,535 bind parameters for the widest table
/// written this way (a dozen columns).
pub(crate) const PER_STATEMENT: usize = 1000;
