//! The persistence layer's one error type.

/// What can go wrong storing or loading; constraint violations a client can cause are named.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; `field` is the request field that collided.
    #[error("{field} is already taken")]
    Duplicate { field: &'static str },
    /// A referenced row does not exist (or is not visible to this tenant).
    #[error("{field} refers to nothing")]
    MissingReference { field: &'static str },
    /// The row changed since the caller read it (optimistic concurrency).
    #[error("the row has changed since it was read")]
    VersionMismatch { current_version: i32 },
    /// The database refused a value only for being beyond what its type holds (a date before
    /// 4713 BC, say), which the request's own validation let through: the client's doing.
    #[error("a value is beyond what can be stored")]
    OutOfRange,
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        const DATETIME_FIELD_OVERFLOW: &str = "22008";
        const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
        match error.as_database_error().and_then(|e| e.code()).as_deref() {
            Some(DATETIME_FIELD_OVERFLOW | NUMERIC_VALUE_OUT_OF_RANGE) => StoreError::OutOfRange,
            _ => StoreError::Database(error),
        }
    }
}

/// Maps a database error on `constraint` to a client-meaningful error about `field`.
pub(crate) fn on_constraint(error: sqlx::Error, constraints: &[(&str, StoreError)]) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        if let Some(name) = db.constraint() {
            for (constraint, mapped) in constraints {
                if *constraint == name {
                    return match mapped {
                        StoreError::Duplicate { field } => StoreError::Duplicate { field },
                        StoreError::MissingReference { field } => {
                            StoreError::MissingReference { field }
                        }
                        _ => error.into(),
                    };
                }
            }
        }
    }
    error.into()
}
