//! Case notes on a referral: written once, never edited (a correction is a further note).

use crate::error::StoreError;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::{FederationId, PracticeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseNoteRecord {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub author_id: Uuid,
    pub author_role: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
    author: Uuid,
    author_role: &str,
    body: &str,
) -> Result<CaseNoteRecord, StoreError> {
    Ok(sqlx::query_as!(
        CaseNoteRecord,
        r#"INSERT INTO case_notes (federation_id, practice_id, id, referral_id, author_id,
               author_role, body)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING id, referral_id, author_id, author_role, body, created_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        Uuid::now_v7(),
        referral,
        author,
        author_role,
        body,
    )
    .fetch_one(conn)
    .await?)
}

/// The referral's notes, oldest first.
pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<CaseNoteRecord>, StoreError> {
    Ok(sqlx::query_as!(
        CaseNoteRecord,
        r#"SELECT id, referral_id, author_id, author_role, body, created_at
           FROM case_notes
           WHERE federation_id = $1 AND practice_id = $2 AND referral_id = $3
             AND ($4::uuid IS NULL OR id > $4)
           ORDER BY id LIMIT $5"#,
        federation.as_uuid(),
        practice.as_uuid(),
        referral,
        after,
        probe,
    )
    .fetch_all(conn)
    .await?)
}
