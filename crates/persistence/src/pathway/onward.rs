//! Onward referrals from a referral to a directory service, as the practice and the provider
//! see them, and the activities providers record against them.

use crate::error::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::pathway::onward::{NewActivity, OnwardKind, OnwardReferralState};
use waymark_domain::{FederationId, OrganisationId, PracticeId};

fn bad_code(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(Box::new(e)))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnwardRecord {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub referral_id: Uuid,
    pub patient_id: Uuid,
    pub service_id: Uuid,
    pub service_name: String,
    pub organisation_id: Uuid,
    pub kind: OnwardKind,
    pub state: OnwardReferralState,
    pub note: Option<String>,
    pub decline_reason: Option<String>,
    pub created_by: Uuid,
    pub responded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

struct OnwardRow {
    id: Uuid,
    practice_id: Uuid,
    referral_id: Uuid,
    patient_id: Uuid,
    service_id: Uuid,
    service_name: String,
    organisation_id: Uuid,
    kind: String,
    state: String,
    note: Option<String>,
    decline_reason: Option<String>,
    created_by: Uuid,
    responded_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<OnwardRow> for OnwardRecord {
    type Error = StoreError;

    fn try_from(r: OnwardRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            practice_id: r.practice_id,
            referral_id: r.referral_id,
            patient_id: r.patient_id,
            service_id: r.service_id,
            service_name: r.service_name,
            organisation_id: r.organisation_id,
            kind: r.kind.parse().map_err(bad_code)?,
            state: r.state.parse().map_err(bad_code)?,
            note: r.note,
            decline_reason: r.decline_reason,
            created_by: r.created_by,
            responded_at: r.responded_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A new onward referral, already checked against the referral and the directory.
pub struct NewOnward<'a> {
    pub referral: Uuid,
    pub patient: Uuid,
    pub service: Uuid,
    pub organisation: Uuid,
    pub kind: OnwardKind,
    pub state: OnwardReferralState,
    pub note: Option<&'a str>,
    pub by: Uuid,
}

pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    new: &NewOnward<'_>,
) -> Result<OnwardRecord, StoreError> {
    let id = Uuid::now_v7();
    sqlx::query!(
        r#"INSERT INTO onward_referrals (federation_id, practice_id, id, referral_id, patient_id,
               service_id, organisation_id, kind, state, note, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        new.referral,
        new.patient,
        new.service,
        new.organisation,
        new.kind.code(),
        new.state.code(),
        new.note,
        new.by,
    )
    .execute(&mut *conn)
    .await?;
    if new.kind == OnwardKind::Referral {
        // The provider may now read the patient's row (what of it the consent shares).
        sqlx::query!(
            r#"UPDATE patients SET referred_to_organisations = referred_to_organisations || $4::uuid
               WHERE federation_id = $1 AND practice_id = $2 AND id = $3
                 AND NOT $4::uuid = ANY (referred_to_organisations)"#,
            federation.as_uuid(),
            practice.as_uuid(),
            new.patient,
            new.organisation,
        )
        .execute(&mut *conn)
        .await?;
    }
    find(conn, federation, practice, id).await
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
) -> Result<OnwardRecord, StoreError> {
    sqlx::query_as!(
        OnwardRow,
        r#"SELECT o.id, o.practice_id, o.referral_id, o.patient_id, o.service_id,
                  s.name AS service_name, o.organisation_id, o.kind, o.state, o.note,
                  o.decline_reason, o.created_by, o.responded_at, o.created_at, o.updated_at
           FROM onward_referrals o JOIN services s ON s.id = o.service_id
           WHERE o.federation_id = $1 AND o.practice_id = $2 AND o.id = $3"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// Locks one of the practice's onward referrals so that its state is decided once.
pub async fn lock(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
    id: Uuid,
) -> Result<OnwardReferralState, StoreError> {
    let state = sqlx::query_scalar!(
        r#"SELECT state FROM onward_referrals
           WHERE federation_id = $1 AND practice_id = $2 AND referral_id = $3 AND id = $4
           FOR UPDATE"#,
        federation.as_uuid(),
        practice.as_uuid(),
        referral,
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    state.parse().map_err(bad_code)
}

/// Withdraws the referral's onward referrals that are in one of `states` (the ones its end
/// takes with it), answering their ids.
pub async fn withdraw_for_referral(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
    states: &[OnwardReferralState],
) -> Result<Vec<Uuid>, StoreError> {
    if states.is_empty() {
        return Ok(Vec::new());
    }
    let codes: Vec<String> = states.iter().map(|s| s.code().to_owned()).collect();
    Ok(sqlx::query_scalar!(
        r#"UPDATE onward_referrals
           SET state = 'withdrawn', version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND practice_id = $2 AND referral_id = $3
             AND state = ANY($4)
           RETURNING id"#,
        federation.as_uuid(),
        practice.as_uuid(),
        referral,
        &codes,
    )
    .fetch_all(conn)
    .await?)
}

/// Withdraws one locked onward referral, which the state machine allowed from `from`.
pub async fn withdraw(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
    from: OnwardReferralState,
) -> Result<OnwardRecord, StoreError> {
    let changed = sqlx::query!(
        r#"UPDATE onward_referrals SET state = 'withdrawn', version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND practice_id = $2 AND id = $3 AND state = $4"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        from.code(),
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed != 1 {
        return Err(StoreError::NotFound);
    }
    find(conn, federation, practice, id).await
}

pub async fn list_for_referral(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    referral: Uuid,
) -> Result<Vec<OnwardRecord>, StoreError> {
    sqlx::query_as!(
        OnwardRow,
        r#"SELECT o.id, o.practice_id, o.referral_id, o.patient_id, o.service_id,
                  s.name AS service_name, o.organisation_id, o.kind, o.state, o.note,
                  o.decline_reason, o.created_by, o.responded_at, o.created_at, o.updated_at
           FROM onward_referrals o JOIN services s ON s.id = o.service_id
           WHERE o.federation_id = $1 AND o.practice_id = $2 AND o.referral_id = $3
           ORDER BY o.id"#,
        federation.as_uuid(),
        practice.as_uuid(),
        referral,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(OnwardRecord::try_from)
    .collect()
}

/// An onward referral as its provider sees it: patient details only where the patient
/// consented to share them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderOnwardRecord {
    pub onward: OnwardRecord,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

struct ProviderOnwardRow {
    id: Uuid,
    practice_id: Uuid,
    referral_id: Uuid,
    patient_id: Uuid,
    service_id: Uuid,
    service_name: String,
    organisation_id: Uuid,
    kind: String,
    state: String,
    note: Option<String>,
    decline_reason: Option<String>,
    created_by: Uuid,
    responded_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    given_name: Option<String>,
    family_name: Option<String>,
    phone: Option<String>,
    email: Option<String>,
}

impl TryFrom<ProviderOnwardRow> for ProviderOnwardRecord {
    type Error = StoreError;

    fn try_from(r: ProviderOnwardRow) -> Result<Self, StoreError> {
        Ok(Self {
            given_name: r.given_name,
            family_name: r.family_name,
            phone: r.phone,
            email: r.email,
            onward: OnwardRow {
                id: r.id,
                practice_id: r.practice_id,
                referral_id: r.referral_id,
                patient_id: r.patient_id,
                service_id: r.service_id,
                service_name: r.service_name,
                organisation_id: r.organisation_id,
                kind: r.kind,
                state: r.state,
                note: r.note,
                decline_reason: r.decline_reason,
                created_by: r.created_by,
                responded_at: r.responded_at,
                created_at: r.created_at,
                updated_at: r.updated_at,
            }
            .try_into()?,
        })
    }
}

/// The organisation's onward referrals (never signposting), oldest first. Consent is applied
/// here, in the query, so fields the patient did not share never leave the database.
pub async fn provider_list(
    conn: &mut PgConnection,
    federation: FederationId,
    organisation: OrganisationId,
    state: Option<OnwardReferralState>,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<ProviderOnwardRecord>, StoreError> {
    sqlx::query_as!(
        ProviderOnwardRow,
        r#"SELECT o.id, o.practice_id, o.referral_id, o.patient_id, o.service_id,
                  s.name AS service_name, o.organisation_id, o.kind, o.state, o.note,
                  o.decline_reason, o.created_by, o.responded_at, o.created_at, o.updated_at,
                  CASE WHEN p.share_name_with_providers THEN p.given_name END AS given_name,
                  CASE WHEN p.share_name_with_providers THEN p.family_name END AS family_name,
                  CASE WHEN p.share_contact_with_providers THEN p.phone END AS phone,
                  CASE WHEN p.share_contact_with_providers THEN p.email END AS email
           FROM onward_referrals o
           JOIN services s ON s.id = o.service_id
           JOIN patients p ON p.practice_id = o.practice_id AND p.id = o.patient_id
           WHERE o.federation_id = $1 AND o.organisation_id = $2 AND o.kind = 'referral'
             AND ($3::text IS NULL OR o.state = $3)
             AND ($4::uuid IS NULL OR o.id > $4)
           ORDER BY o.id LIMIT $5"#,
        federation.as_uuid(),
        organisation.as_uuid(),
        state.map(OnwardReferralState::code),
        after,
        probe,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(ProviderOnwardRecord::try_from)
    .collect()
}

pub async fn provider_find(
    conn: &mut PgConnection,
    federation: FederationId,
    organisation: OrganisationId,
    id: Uuid,
) -> Result<ProviderOnwardRecord, StoreError> {
    sqlx::query_as!(
        ProviderOnwardRow,
        r#"SELECT o.id, o.practice_id, o.referral_id, o.patient_id, o.service_id,
                  s.name AS service_name, o.organisation_id, o.kind, o.state, o.note,
                  o.decline_reason, o.created_by, o.responded_at, o.created_at, o.updated_at,
                  CASE WHEN p.share_name_with_providers THEN p.given_name END AS given_name,
                  CASE WHEN p.share_name_with_providers THEN p.family_name END AS family_name,
                  CASE WHEN p.share_contact_with_providers THEN p.phone END AS phone,
                  CASE WHEN p.share_contact_with_providers THEN p.email END AS email
           FROM onward_referrals o
           JOIN services s ON s.id = o.service_id
           JOIN patients p ON p.practice_id = o.practice_id AND p.id = o.patient_id
           WHERE o.federation_id = $1 AND o.organisation_id = $2 AND o.kind = 'referral'
             AND o.id = $3"#,
        federation.as_uuid(),
        organisation.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// Locks the organisation's onward referral so that its state is decided once.
pub async fn provider_lock(
    conn: &mut PgConnection,
    federation: FederationId,
    organisation: OrganisationId,
    id: Uuid,
) -> Result<(PracticeId, OnwardReferralState), StoreError> {
    let row = sqlx::query!(
        r#"SELECT practice_id, state FROM onward_referrals
           WHERE federation_id = $1 AND organisation_id = $2 AND kind = 'referral' AND id = $3
           FOR UPDATE"#,
        federation.as_uuid(),
        organisation.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok((
        PracticeId::from(row.practice_id),
        row.state.parse().map_err(bad_code)?,
    ))
}

/// Applies a state change already allowed by the state machine to a locked onward referral.
#[allow(clippy::too_many_arguments)]
pub async fn change_state(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
    from: OnwardReferralState,
    to: OnwardReferralState,
    decline_reason: Option<&str>,
    by: Uuid,
) -> Result<(), StoreError> {
    let changed = sqlx::query!(
        r#"UPDATE onward_referrals
           SET state = $5, decline_reason = $6, responded_by = $7,
               version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND practice_id = $2 AND id = $3 AND state = $4"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        from.code(),
        to.code(),
        decline_reason,
        by,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed != 1 {
        return Err(StoreError::NotFound);
    }
    // The first response is stamped by a statement of its own: Citus refuses now() inside a
    // coalesce of an UPDATE. The change above set updated_at to the transaction's time.
    sqlx::query!(
        r#"UPDATE onward_referrals SET responded_at = updated_at
           WHERE federation_id = $1 AND practice_id = $2 AND id = $3 AND responded_at IS NULL"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityRecord {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub onward_referral_id: Uuid,
    pub organisation_id: Uuid,
    pub service_id: Uuid,
    pub activity_type: String,
    pub delivered_on: NaiveDate,
    pub quantity: i32,
    pub note: Option<String>,
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

pub async fn record_activity(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
    onward: &OnwardRecord,
    activity: &NewActivity,
    by: Uuid,
) -> Result<ActivityRecord, StoreError> {
    Ok(sqlx::query_as!(
        ActivityRecord,
        r#"INSERT INTO activities (federation_id, practice_id, id, onward_referral_id,
               organisation_id, service_id, activity_type, delivered_on, quantity, note,
               recorded_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           RETURNING id, practice_id, onward_referral_id, organisation_id, service_id,
                     activity_type, delivered_on, quantity, note, recorded_by, recorded_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        onward.id,
        onward.organisation_id,
        onward.service_id,
        activity.activity_type.as_str(),
        activity.delivered_on,
        i32::try_from(activity.quantity).unwrap_or(i32::MAX),
        activity.note,
        by,
    )
    .fetch_one(conn)
    .await?)
}

pub async fn activities(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    onward: Uuid,
) -> Result<Vec<ActivityRecord>, StoreError> {
    Ok(sqlx::query_as!(
        ActivityRecord,
        r#"SELECT id, practice_id, onward_referral_id, organisation_id, service_id,
                  activity_type, delivered_on, quantity, note, recorded_by, recorded_at
           FROM activities
           WHERE federation_id = $1 AND practice_id = $2 AND onward_referral_id = $3
           ORDER BY id"#,
        federation.as_uuid(),
        practice.as_uuid(),
        onward,
    )
    .fetch_all(conn)
    .await?)
}

pub async fn find_activity(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
) -> Result<ActivityRecord, StoreError> {
    sqlx::query_as!(
        ActivityRecord,
        r#"SELECT id, practice_id, onward_referral_id, organisation_id, service_id,
                  activity_type, delivered_on, quantity, note, recorded_by, recorded_at
           FROM activities WHERE federation_id = $1 AND practice_id = $2 AND id = $3"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}
