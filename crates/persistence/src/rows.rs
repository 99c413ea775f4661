//! Writing many rows in one statement.
//!
//! Many rows go in as one `INSERT … VALUES (…), (…)`, never `INSERT … SELECT … FROM unnest(…)`.
//! On Citus an `INSERT … SELECT` whose `SELECT` reads no distributed table is run on the
//! coordinator and its rows copied into the shards with `COPY`, which PostgreSQL refuses on a
//! table under row-level security; a multi-row `VALUES` goes to the shard as an `INSERT`, under
//! the policies like any other. The same holds for an `INSERT` fed by a data-modifying CTE, so
//! rows that depend on others' ids go in as statements of their own. (An `UPDATE … FROM
//! unnest(…)` filtered by the federation is routed to the shard whole, when planned with its
//! parameters' values, as `deploy/citus/distribute.sql` has every statement planned.)

/// Rows per statement, well inside PostgreSQL's 65,535 bind parameters for the widest table
/// written this way (a dozen columns).
pub(crate) const PER_STATEMENT: usize = 1000;
