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
    #[error(transparent)]
    Database(#[from] sqlx::Error),
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
                        _ => StoreError::Database(error),
                    };
                }
            }
        }
    }
    StoreError::Database(error)
}
