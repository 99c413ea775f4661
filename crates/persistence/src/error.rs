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
    /// 4713 BC, text with a NUL, say), which the request's own validation let through: the
    /// client's doing.
    #[error("a value is beyond what can be stored")]
    OutOfRange,
    /// The database could not be reached, or went away while the request was using it (a
    /// restart, a failover): nothing the client did, and worth retrying shortly.
    #[error("the database is unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        const DATETIME_FIELD_OVERFLOW: &str = "22008";
        const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
        // A NUL in text, which PostgreSQL cannot hold.
        const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
        if is_connection_loss(&error) {
            return StoreError::Unavailable(error);
        }
        match error.as_database_error().and_then(|e| e.code()).as_deref() {
            Some(
                DATETIME_FIELD_OVERFLOW | NUMERIC_VALUE_OUT_OF_RANGE | CHARACTER_NOT_IN_REPERTOIRE,
            ) => StoreError::OutOfRange,
            _ => StoreError::Database(error),
        }
    }
}

/// Whether `error`, met by the first statement on a pooled connection, says only that this
/// connection is dead, so that the statement may be tried again on another: a connection lost,
/// not a pool that cannot connect at all (which has already waited its acquire timeout).
pub(crate) fn try_another_connection(error: &sqlx::Error) -> bool {
    !matches!(error, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
        && is_connection_loss(error)
}

/// Whether `error` says the database is out of reach rather than that a statement failed: the
/// connection broke or could not be made, or the server is shutting down, starting up or out of
/// connections.
pub fn is_connection_loss(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Class 08: connection exception; 57P01-03: admin shutdown, crash shutdown, cannot
            // connect now (starting up); 53300: too many connections.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Maps a database error on `constraint` to a client-meaningful error about `field`.
pub(crate) fn on_constraint(error: sqlx::Error, constraints: &[(&str, StoreError)]) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        let reported = db.constraint().or_else(|| {
            db.code()
                .filter(|code| code.starts_with("23"))
                .and_then(|_| constraint_in_message(db.message()))
        });
        if let Some(name) = reported {
            for (constraint, mapped) in constraints {
                if names_constraint(name, constraint) {
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

/// The constraint an integrity violation's message names: Citus relays a worker's error with its
/// code and message but without the constraint field. The server's messages are in English
/// (the project's clusters keep the default lc_messages), each ending `constraint "name"`.
fn constraint_in_message(message: &str) -> Option<&str> {
    let (_, quoted) = message.rsplit_once("constraint \"")?;
    quoted.strip_suffix('"')
}

/// Whether the constraint `reported` in an error is `constraint`: on Citus a worker reports the
/// constraint of the shard, which is the table's name with the shard's id (six digits or more)
/// appended.
fn names_constraint(reported: &str, constraint: &str) -> bool {
    reported == constraint
        || reported
            .strip_prefix(constraint)
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|shard| shard.len() >= 6 && shard.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relayed_violation_is_known_by_the_constraint_its_message_names() {
        assert_eq!(
            constraint_in_message(
                r#"duplicate key value violates unique constraint "federations_slug_key_102009""#
            ),
            Some("federations_slug_key_102009")
        );
        assert_eq!(
            constraint_in_message(
                r#"insert or update on table "users_102134" violates foreign key constraint "users_practice_fkey_102134""#
            ),
            Some("users_practice_fkey_102134")
        );
        assert_eq!(constraint_in_message("date out of range"), None);
    }

    #[test]
    fn a_shards_constraint_is_its_tables() {
        assert!(names_constraint("users_email_key", "users_email_key"));
        assert!(names_constraint(
            "users_email_key_102041",
            "users_email_key"
        ));
        assert!(!names_constraint("users_email_key_2", "users_email_key"));
        assert!(!names_constraint(
            "users_email_key_extra",
            "users_email_key"
        ));
        assert!(!names_constraint("users_email", "users_email_key"));
    }

    #[test]
    fn lost_connections_are_unavailable_and_only_dead_ones_are_retried() {
        let reset = || sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into());
        assert!(matches!(
            StoreError::from(reset()),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::from(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(try_another_connection(&reset()));
        assert!(!try_another_connection(&sqlx::Error::PoolTimedOut));
        assert!(!try_another_connection(&sqlx::Error::PoolClosed));
        assert!(!is_connection_loss(&sqlx::Error::RowNotFound));
        assert!(matches!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::Database(_)
        ));
    }
}
