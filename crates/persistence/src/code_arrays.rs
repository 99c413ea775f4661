//! Enum lists (roles, scopes, need categories, delivery modes) are stored as `text[]` of their
//! codes; these convert both ways in one place.

use crate::error::StoreError;
use std::fmt::Display;
use std::str::FromStr;

/// The codes of `values`, for a `text[]` column.
pub(crate) fn codes<T: Display>(values: &[T]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

/// Values back from their codes. An unknown code means the schema and the code disagree, which
/// is a bug, not a client error.
pub(crate) fn decode<T: FromStr>(values: &[String]) -> Result<Vec<T>, StoreError>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    values
        .iter()
        .map(|v| v.parse::<T>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
}
