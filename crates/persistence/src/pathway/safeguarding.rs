//! Safeguarding concerns raised by volunteers, practice staff or providers, tracked by the
//! practice to resolution.

use crate::error::StoreError;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::pathway::safeguarding::{ConcernStatus, NewConcern};
use waymark_domain::{FederationId, PracticeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConcernRecord {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub referral_id: Uuid,
    pub patient_id: Uuid,
    pub raised_by: Uuid,
    pub raised_by_role: String,
    pub raised_by_organisation_id: Option<Uuid>,
    pub summary: String,
    pub details: String,
    pub status: ConcernStatus,
    pub resolution: Option<String>,
    pub resolved_by: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub raised_at: DateTime<Utc>,
}

struct ConcernRow {
    id: Uuid,
    practice_id: Uuid,
    referral_id: Uuid,
    patient_id: Uuid,
    raised_by: Uuid,
    raised_by_role: String,
    raised_by_organisation_id: Option<Uuid>,
    summary: String,
    details: String,
    status: String,
    resolution: Option<String>,
    resolved_by: Option<Uuid>,
    resolved_at: Option<DateTime<Utc>>,
    raised_at: DateTime<Utc>,
}

impl TryFrom<ConcernRow> for ConcernRecord {
    type Error = StoreError;

    fn try_from(r: ConcernRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            practice_id: r.practice_id,
            referral_id: r.referral_id,
            patient_id: r.patient_id,
            raised_by: r.raised_by,
            raised_by_role: r.raised_by_role,
            raised_by_organisation_id: r.raised_by_organisation_id,
            summary: r.summary,
            details: r.details,
            status: r
                .status
                .parse()
                .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?,
            resolution: r.resolution,
            resolved_by: r.resolved_by,
            resolved_at: r.resolved_at,
            raised_at: r.raised_at,
        })
    }
}

/// Who raised a concern.
pub struct Raiser<'a> {
    pub id: Uuid,
    pub role: &'a str,
    pub organisation: Option<Uuid>,
    /// The onward referral a provider raises the concern under.
    pub onward_referral: Option<Uuid>,
}

pub async fn raise(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
    patient: Uuid,
    raiser: &Raiser<'_>,
    concern: &NewConcern,
) -> Result<ConcernRecord, StoreError> {
    sqlx::query_as!(
        ConcernRow,
        r#"INSERT INTO safeguarding_concerns (federation_id, practice_id, id, referral_id,
               patient_id, raised_by, raised_by_role, raised_by_organisation_id, onward_referral_id,
               summary, details)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $11, $9, $10)
           RETURNING id, practice_id, referral_id, patient_id, raised_by, raised_by_role,
                     raised_by_organisation_id, summary, details, status, resolution,
                     resolved_by, resolved_at, raised_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        Uuid::now_v7(),
        referral,
        patient,
        raiser.id,
        raiser.role,
        raiser.organisation,
        concern.summary,
        concern.details,
        raiser.onward_referral,
    )
    .fetch_one(conn)
    .await?
    .try_into()
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
) -> Result<ConcernRecord, StoreError> {
    sqlx::query_as!(
        ConcernRow,
        r#"SELECT id, practice_id, referral_id, patient_id, raised_by, raised_by_role,
                  raised_by_organisation_id, summary, details, status, resolution,
                  resolved_by, resolved_at, raised_at
           FROM safeguarding_concerns WHERE federation_id = $1 AND practice_id = $2 AND id = $3"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// The practice's concerns, oldest first, optionally only those in `status`.
pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    status: Option<ConcernStatus>,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<ConcernRecord>, StoreError> {
    sqlx::query_as!(
        ConcernRow,
        r#"SELECT id, practice_id, referral_id, patient_id, raised_by, raised_by_role,
                  raised_by_organisation_id, summary, details, status, resolution,
                  resolved_by, resolved_at, raised_at
           FROM safeguarding_concerns
           WHERE federation_id = $1 AND practice_id = $2
             AND ($3::text IS NULL OR status = $3)
             AND ($4::uuid IS NULL OR id > $4)
           ORDER BY id LIMIT $5"#,
        federation.as_uuid(),
        practice.as_uuid(),
        status.map(ConcernStatus::code),
        after,
        probe,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(ConcernRecord::try_from)
    .collect()
}

/// Resolves an open concern; `None` when it was already resolved (or does not exist).
pub async fn resolve(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
    resolution: &str,
    by: Uuid,
) -> Result<Option<ConcernRecord>, StoreError> {
    sqlx::query_as!(
        ConcernRow,
        r#"UPDATE safeguarding_concerns
           SET status = 'resolved', resolution = $4, resolved_by = $5, resolved_at = now(),
               version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND practice_id = $2 AND id = $3 AND status = 'open'
           RETURNING id, practice_id, referral_id, patient_id, raised_by, raised_by_role,
                     raised_by_organisation_id, summary, details, status, resolution,
                     resolved_by, resolved_at, raised_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        resolution,
        by,
    )
    .fetch_optional(conn)
    .await?
    .map(ConcernRecord::try_from)
    .transpose()
}
