//! Federations: created and listed by platform administrators.

use crate::error::{on_constraint, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::federation::NewFederation;
use waymark_domain::FederationId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederationRecord {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn create(
    conn: &mut PgConnection,
    id: FederationId,
    federation: &NewFederation,
) -> Result<FederationRecord, StoreError> {
    sqlx::query_as!(
        FederationRecord,
        r#"INSERT INTO federations (id, slug, name) VALUES ($1, $2, $3)
           RETURNING id, slug, name, version, created_at, updated_at"#,
        id.as_uuid(),
        federation.slug.as_str(),
        federation.name,
    )
    .fetch_one(conn)
    .await
    .map_err(|e| {
        on_constraint(
            e,
            &[(
                "federations_slug_key",
                StoreError::Duplicate { field: "slug" },
            )],
        )
    })
}

pub async fn find(
    conn: &mut PgConnection,
    id: FederationId,
) -> Result<FederationRecord, StoreError> {
    sqlx::query_as!(
        FederationRecord,
        "SELECT id, slug, name, version, created_at, updated_at FROM federations WHERE id = $1",
        id.as_uuid(),
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

pub async fn find_by_slug(
    conn: &mut PgConnection,
    slug: &str,
) -> Result<FederationRecord, StoreError> {
    sqlx::query_as!(
        FederationRecord,
        "SELECT id, slug, name, version, created_at, updated_at FROM federations WHERE slug = $1",
        slug,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Up to `probe` federations after `after`, in creation order.
pub async fn list(
    conn: &mut PgConnection,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<FederationRecord>, StoreError> {
    Ok(sqlx::query_as!(
        FederationRecord,
        r#"SELECT id, slug, name, version, created_at, updated_at FROM federations
           WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2"#,
        after,
        probe,
    )
    .fetch_all(conn)
    .await?)
}
