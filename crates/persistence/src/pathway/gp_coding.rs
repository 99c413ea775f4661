//! The coding queue: the SNOMED CT codes each referral is to be filed under in the GP record,
//! queued as the referral is made and declined, until the practice's GP-system integration
//! acknowledges them.

use crate::error::StoreError;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::pathway::gp_message::coded_on_entering;
use waymark_domain::pathway::ReferralState;
use waymark_domain::{FederationId, PracticeId};

/// Queues the code a referral takes on entering `state`, if it takes one, with its patient's
/// NHS number; a code already queued for the referral is not queued again.
pub(crate) async fn queue(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
    patient: Uuid,
    state: ReferralState,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Some((code, display)) = coded_on_entering(state) else {
        return Ok(());
    };
    // Two statements rather than an INSERT … SELECT, which Citus runs its own way: during a
    // shard move (writes blocked) one was cancelled in a distributed deadlock, where a read
    // and a plain insert wait for the move like every other statement.
    let nhs_number = sqlx::query_scalar!(
        "SELECT nhs_number FROM patients WHERE federation_id = $1 AND practice_id = $2 AND id = $3",
        federation.as_uuid(),
        practice.as_uuid(),
        patient,
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        r#"INSERT INTO gp_coding_events (federation_id, practice_id, id, referral_id, patient_id,
               nhs_number, code, display, occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT DO NOTHING"#,
        federation.as_uuid(),
        practice.as_uuid(),
        Uuid::now_v7(),
        referral,
        patient,
        nhs_number,
        code,
        display,
        at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A code waiting to be filed, or filed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodingRecord {
    pub id: Uuid,
    pub referral_id: Uuid,
    pub patient_id: Uuid,
    pub nhs_number: String,
    pub code: String,
    pub display: String,
    pub occurred_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// The practice's codes not yet acknowledged, in the order they were queued.
pub async fn waiting(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<CodingRecord>, StoreError> {
    Ok(sqlx::query_as!(
        CodingRecord,
        r#"SELECT id, referral_id, patient_id, nhs_number, code, display, occurred_at,
                  acknowledged_at
           FROM gp_coding_events
           WHERE federation_id = $1 AND practice_id = $2 AND acknowledged_at IS NULL
             AND ($3::uuid IS NULL OR id > $3)
           ORDER BY id LIMIT $4"#,
        federation.as_uuid(),
        practice.as_uuid(),
        after,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// What acknowledging some codes did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acknowledged {
    /// Acknowledged now.
    pub acknowledged: Vec<CodingRecord>,
    /// Acknowledged before: nothing changed.
    pub already: Vec<Uuid>,
    /// Not codes of this practice.
    pub unknown: Vec<Uuid>,
}

/// Marks `ids` filed by `by`, now. Each is acknowledged once; asking again changes nothing.
pub async fn acknowledge(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    ids: &[Uuid],
    by: Uuid,
) -> Result<Acknowledged, StoreError> {
    let acknowledged = sqlx::query_as!(
        CodingRecord,
        r#"UPDATE gp_coding_events SET acknowledged_at = $5, acknowledged_by = $4
           WHERE federation_id = $1 AND practice_id = $2 AND id = ANY ($3)
             AND acknowledged_at IS NULL
           RETURNING id, referral_id, patient_id, nhs_number, code, display, occurred_at,
                     acknowledged_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        ids,
        by,
        Utc::now(),
    )
    .fetch_all(&mut *conn)
    .await?;
    let known = sqlx::query_scalar!(
        "SELECT id FROM gp_coding_events
         WHERE federation_id = $1 AND practice_id = $2 AND id = ANY ($3)",
        federation.as_uuid(),
        practice.as_uuid(),
        ids,
    )
    .fetch_all(conn)
    .await?;
    let now: Vec<Uuid> = acknowledged.iter().map(|a| a.id).collect();
    Ok(Acknowledged {
        already: known
            .iter()
            .filter(|id| !now.contains(id))
            .copied()
            .collect(),
        unknown: ids
            .iter()
            .filter(|id| !known.contains(id))
            .copied()
            .collect(),
        acknowledged,
    })
}
