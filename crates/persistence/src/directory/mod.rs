//! The federation's directory: organisations and their services.

pub mod import;
pub mod organisations;
pub mod search;
pub mod services;

use crate::error::StoreError;
use sqlx::PgConnection;
use waymark_domain::FederationId;

/// The version of the federation's directory that this transaction sees: one more for every
/// committed transaction that changed its organisations or services (0 before the first). In a
/// repeatable-read transaction, everything read afterwards is of this same version.
pub async fn version(conn: &mut PgConnection, federation: FederationId) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce((SELECT version FROM directory_versions WHERE federation_id = $1), 0) AS "version!""#,
        federation.as_uuid(),
    )
    .fetch_one(conn)
    .await?)
}
