//! Practices of a federation.

use crate::error::{on_constraint, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::practice::{NewPractice, PracticeChanges};
use waymark_domain::{FederationId, PracticeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PracticeRecord {
    pub id: Uuid,
    pub federation_id: Uuid,
    pub ods_code: String,
    pub name: String,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    id: PracticeId,
    practice: &NewPractice,
) -> Result<PracticeRecord, StoreError> {
    sqlx::query_as!(
        PracticeRecord,
        r#"INSERT INTO practices (id, federation_id, ods_code, name) VALUES ($1, $2, $3, $4)
           RETURNING id, federation_id, ods_code, name, active, version, created_at, updated_at"#,
        id.as_uuid(),
        federation.as_uuid(),
        practice.ods_code.as_str(),
        practice.name,
    )
    .fetch_one(conn)
    .await
    .map_err(|e| {
        on_constraint(
            e,
            &[(
                "practices_federation_id_ods_code_key",
                StoreError::Duplicate { field: "ods_code" },
            )],
        )
    })
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    id: PracticeId,
) -> Result<PracticeRecord, StoreError> {
    sqlx::query_as!(
        PracticeRecord,
        r#"SELECT id, federation_id, ods_code, name, active, version, created_at, updated_at
           FROM practices WHERE federation_id = $1 AND id = $2"#,
        federation.as_uuid(),
        id.as_uuid(),
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

pub async fn find_by_ods_code(
    conn: &mut PgConnection,
    federation: FederationId,
    ods_code: &str,
) -> Result<PracticeRecord, StoreError> {
    sqlx::query_as!(
        PracticeRecord,
        r#"SELECT id, federation_id, ods_code, name, active, version, created_at, updated_at
           FROM practices WHERE federation_id = $1 AND ods_code = $2"#,
        federation.as_uuid(),
        ods_code,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<PracticeRecord>, StoreError> {
    Ok(sqlx::query_as!(
        PracticeRecord,
        r#"SELECT id, federation_id, ods_code, name, active, version, created_at, updated_at
           FROM practices WHERE federation_id = $1 AND ($2::uuid IS NULL OR id > $2)
           ORDER BY id LIMIT $3"#,
        federation.as_uuid(),
        after,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// Applies `changes` if the practice is still at `expected_version`.
pub async fn update(
    conn: &mut PgConnection,
    federation: FederationId,
    id: PracticeId,
    expected_version: i32,
    changes: &PracticeChanges,
) -> Result<PracticeRecord, StoreError> {
    let updated = sqlx::query_as!(
        PracticeRecord,
        r#"UPDATE practices
           SET name = coalesce($4, name), active = coalesce($5, active),
               version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND id = $2 AND version = $3
           RETURNING id, federation_id, ods_code, name, active, version, created_at, updated_at"#,
        federation.as_uuid(),
        id.as_uuid(),
        expected_version,
        changes.name.as_deref(),
        changes.active,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match updated {
        Some(record) => Ok(record),
        None => {
            let current = find(conn, federation, id).await?;
            Err(StoreError::VersionMismatch {
                current_version: current.version,
            })
        }
    }
}
