//! Referrals to the social prescribing service and the record of their state changes.

use crate::code_arrays::{codes, decode};
use crate::error::{on_constraint, StoreError};
use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::directory::NeedCategory;
use waymark_domain::pathway::referral::{snomed_concept, Closure, NewReferral, Outcome, Urgency};
use waymark_domain::pathway::ReferralState;
use waymark_domain::{FederationId, PracticeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferralRecord {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub referred_by: Uuid,
    pub need_categories: Vec<NeedCategory>,
    pub note: Option<String>,
    pub urgency: Urgency,
    pub state: ReferralState,
    pub snomed_concept_id: String,
    pub outcome: Option<Outcome>,
    pub outcome_note: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

struct ReferralRow {
    id: Uuid,
    practice_id: Uuid,
    patient_id: Uuid,
    referred_by: Uuid,
    need_categories: Vec<String>,
    note: Option<String>,
    urgency: String,
    state: String,
    snomed_concept_id: String,
    outcome: Option<String>,
    outcome_note: Option<String>,
    closed_at: Option<DateTime<Utc>>,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn bad_code(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(Box::new(e)))
}

impl TryFrom<ReferralRow> for ReferralRecord {
    type Error = StoreError;

    fn try_from(r: ReferralRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            practice_id: r.practice_id,
            patient_id: r.patient_id,
            referred_by: r.referred_by,
            need_categories: decode(&r.need_categories)?,
            note: r.note,
            urgency: r.urgency.parse().map_err(bad_code)?,
            state: r.state.parse().map_err(bad_code)?,
            snomed_concept_id: r.snomed_concept_id,
            outcome: r
                .outcome
                .map(|o| o.parse::<Outcome>())
                .transpose()
                .map_err(bad_code)?,
            outcome_note: r.outcome_note,
            closed_at: r.closed_at,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Records a referral for `patient` (which must be of the same practice), in state received.
pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
    patient: Uuid,
    referred_by: Uuid,
    referral: &NewReferral,
) -> Result<ReferralRecord, StoreError> {
    // The patient is not looked up first: the foreign key finds it (in this practice) or
    // refuses the insert. The first state follows as a statement of its own: Citus would run
    // an INSERT fed by a data-modifying CTE on the coordinator and copy its rows in, which
    // row-level security refuses.
    let row = sqlx::query_as!(
        ReferralRow,
        r#"INSERT INTO referrals (federation_id, practice_id, id, patient_id, referred_by,
               need_categories, note, urgency, state, snomed_concept_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'received', $9)
           RETURNING id, practice_id, patient_id, referred_by, need_categories, note, urgency,
                     state, snomed_concept_id, outcome, outcome_note, closed_at, version,
                     created_at, updated_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        patient,
        referred_by,
        &codes(&referral.need_categories),
        referral.note,
        referral.urgency.code(),
        snomed_concept(ReferralState::Received),
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        let patient = StoreError::MissingReference {
            field: "patient_id",
        };
        match on_constraint(e, &[("referrals_patient_fkey", patient)]) {
            // The patient is in the path: another practice's, or nobody's, is not found.
            StoreError::MissingReference { .. } => StoreError::NotFound,
            other => other,
        }
    })?;
    sqlx::query!(
        r#"INSERT INTO referral_state_changes
               (federation_id, practice_id, id, referral_id, from_state, to_state, changed_by)
           VALUES ($1, $2, $3, $4, NULL, $5, $6)"#,
        federation.as_uuid(),
        practice.as_uuid(),
        Uuid::now_v7(),
        row.id,
        row.state,
        row.referred_by,
    )
    .execute(&mut *conn)
    .await?;
    super::gp_coding::queue(
        conn,
        federation,
        practice,
        row.id,
        row.patient_id,
        ReferralState::Received,
        row.created_at,
    )
    .await?;
    row.try_into()
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
) -> Result<ReferralRecord, StoreError> {
    sqlx::query_as!(
        ReferralRow,
        r#"SELECT id, practice_id, patient_id, referred_by, need_categories, note, urgency,
                  state, snomed_concept_id, outcome, outcome_note, closed_at, version,
                  created_at, updated_at
           FROM referrals WHERE federation_id = $1 AND practice_id = $2 AND id = $3"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// The patient of each of the referrals `ids` (those of the practice), as `(referral, patient)`.
pub async fn patients_of(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    Ok(sqlx::query!(
        r#"SELECT id, patient_id FROM referrals
           WHERE federation_id = $1 AND practice_id = $2 AND id = ANY($3)"#,
        federation.as_uuid(),
        practice.as_uuid(),
        ids,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| (r.id, r.patient_id))
    .collect())
}

/// The referral, locked until the transaction ends so that its state is decided once.
pub async fn lock(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
) -> Result<ReferralRecord, StoreError> {
    sqlx::query_as!(
        ReferralRow,
        r#"SELECT id, practice_id, patient_id, referred_by, need_categories, note, urgency,
                  state, snomed_concept_id, outcome, outcome_note, closed_at, version,
                  created_at, updated_at
           FROM referrals WHERE federation_id = $1 AND practice_id = $2 AND id = $3
           FOR UPDATE"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// Filters of a practice's referral list; absent filters match everything.
#[derive(Clone, Debug, Default)]
pub struct ReferralFilter {
    pub patient: Option<Uuid>,
    pub state: Option<ReferralState>,
}

pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    filter: &ReferralFilter,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<ReferralRecord>, StoreError> {
    sqlx::query_as!(
        ReferralRow,
        r#"SELECT id, practice_id, patient_id, referred_by, need_categories, note, urgency,
                  state, snomed_concept_id, outcome, outcome_note, closed_at, version,
                  created_at, updated_at
           FROM referrals
           WHERE federation_id = $1 AND practice_id = $2
             AND ($3::uuid IS NULL OR patient_id = $3)
             AND ($4::text IS NULL OR state = $4)
             AND ($5::uuid IS NULL OR id > $5)
           ORDER BY id LIMIT $6"#,
        federation.as_uuid(),
        practice.as_uuid(),
        filter.patient,
        filter.state.map(ReferralState::code),
        after,
        probe,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(ReferralRecord::try_from)
    .collect()
}

/// What a practice's referral export holds: referrals made in `[from, to)`, in one state.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReferralExport {
    pub state: Option<ReferralState>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The practice's referrals the export holds, oldest first, as the database sends them (never
/// gathered in memory).
pub fn export<'c>(
    conn: &'c mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    export: ReferralExport,
) -> BoxStream<'c, Result<ReferralRecord, StoreError>> {
    sqlx::query_as!(
        ReferralRow,
        r#"SELECT id, practice_id, patient_id, referred_by, need_categories, note, urgency,
                  state, snomed_concept_id, outcome, outcome_note, closed_at, version,
                  created_at, updated_at
           FROM referrals
           WHERE federation_id = $1 AND practice_id = $2
             AND ($3::text IS NULL OR state = $3)
             AND ($4::timestamptz IS NULL OR created_at >= $4)
             AND ($5::timestamptz IS NULL OR created_at < $5)
           ORDER BY id"#,
        federation.as_uuid(),
        practice.as_uuid(),
        export.state.map(ReferralState::code),
        export.from,
        export.to,
    )
    .fetch(conn)
    .map(|row| {
        row.map_err(StoreError::from)
            .and_then(ReferralRecord::try_from)
    })
    .boxed()
}

/// A state change already allowed by the state machine, applied to a locked referral.
pub struct StateChange<'a> {
    pub from: ReferralState,
    pub to: ReferralState,
    pub reason: Option<&'a str>,
    pub closure: Option<&'a Closure>,
    pub by: Uuid,
}

/// Moves a referral locked with [`lock`] from `change.from` to `change.to`, recording the move.
pub async fn change_state(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
    change: &StateChange<'_>,
) -> Result<ReferralRecord, StoreError> {
    let mut row = sqlx::query_as!(
        ReferralRow,
        r#"UPDATE referrals
           SET state = $5, snomed_concept_id = $6, outcome = $7, outcome_note = $8,
               version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND practice_id = $2 AND id = $3 AND state = $4
           RETURNING id, practice_id, patient_id, referred_by, need_categories, note, urgency,
                     state, snomed_concept_id, outcome, outcome_note, closed_at, version,
                     created_at, updated_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        change.from.code(),
        change.to.code(),
        snomed_concept(change.to),
        change.closure.map(|c| c.outcome.code()),
        change.closure.and_then(|c| c.note.as_deref()),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    if change.to == ReferralState::Closed {
        // Stamped by a statement of its own: Citus refuses now() inside a CASE of an UPDATE.
        // The change above set updated_at to the transaction's time.
        row.closed_at = sqlx::query_scalar!(
            r#"UPDATE referrals SET closed_at = updated_at
               WHERE federation_id = $1 AND practice_id = $2 AND id = $3
               RETURNING closed_at"#,
            federation.as_uuid(),
            practice.as_uuid(),
            id,
        )
        .fetch_one(&mut *conn)
        .await?;
    }
    record_change(
        conn,
        federation,
        practice,
        id,
        Some(change.from),
        change.to,
        change.reason,
        change.by,
    )
    .await?;
    super::gp_coding::queue(
        conn,
        federation,
        practice,
        id,
        row.patient_id,
        change.to,
        row.updated_at,
    )
    .await?;
    row.try_into()
}

#[allow(clippy::too_many_arguments)]
async fn record_change(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
    from: Option<ReferralState>,
    to: ReferralState,
    reason: Option<&str>,
    by: Uuid,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"INSERT INTO referral_state_changes
               (federation_id, practice_id, id, referral_id, from_state, to_state, reason, changed_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"#,
        federation.as_uuid(),
        practice.as_uuid(),
        Uuid::now_v7(),
        referral,
        from.map(ReferralState::code),
        to.code(),
        reason,
        by,
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChangeRecord {
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: Option<String>,
    pub changed_by: Uuid,
    pub changed_at: DateTime<Utc>,
}

/// Every state a referral has been in, oldest first.
pub async fn history(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
) -> Result<Vec<StateChangeRecord>, StoreError> {
    Ok(sqlx::query_as!(
        StateChangeRecord,
        r#"SELECT from_state, to_state, reason, changed_by, changed_at
           FROM referral_state_changes
           WHERE federation_id = $1 AND practice_id = $2 AND referral_id = $3
           ORDER BY id"#,
        federation.as_uuid(),
        practice.as_uuid(),
        referral,
    )
    .fetch_all(conn)
    .await?)
}
