//! Tariffs per service and activity type, with the days they are in force.

use crate::error::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::ledger::tariff::NewTariff;
use waymark_domain::{FederationId, OrganisationId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TariffRecord {
    pub id: Uuid,
    pub service_id: Uuid,
    pub organisation_id: Uuid,
    pub activity_type: String,
    pub unit_pence: i64,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub version: i32,
}

/// Serialises tariff changes for one service and activity type, so two overlapping tariffs can
/// never both pass the overlap check.
async fn lock_price_list(
    conn: &mut PgConnection,
    service: Uuid,
    activity_type: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2, 0))",
        service.to_string(),
        activity_type,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The tariff for the same service and activity type whose days overlap these, if any.
async fn overlapping(
    conn: &mut PgConnection,
    federation: FederationId,
    service: Uuid,
    activity_type: &str,
    from: NaiveDate,
    to: Option<NaiveDate>,
    except: Option<Uuid>,
) -> Result<Option<Uuid>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT id FROM tariffs
           WHERE federation_id = $1 AND service_id = $2 AND activity_type = $3
             AND effective_from <= coalesce($5, 'infinity'::date)
             AND coalesce(effective_to, 'infinity'::date) >= $4
             AND ($6::uuid IS NULL OR id <> $6)
           LIMIT 1"#,
        federation.as_uuid(),
        service,
        activity_type,
        from,
        to,
        except,
    )
    .fetch_optional(conn)
    .await?)
}

/// Why a tariff could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum TariffError {
    #[error("its days overlap tariff {0} for the same service and activity type")]
    Overlaps(Uuid),
    #[error("charges priced by it fall after that day")]
    InUse,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    service: Uuid,
    organisation: OrganisationId,
    tariff: &NewTariff,
    by: Uuid,
) -> Result<TariffRecord, TariffError> {
    let activity_type = tariff.activity_type.as_str();
    lock_price_list(conn, service, activity_type).await?;
    if let Some(other) = overlapping(
        conn,
        federation,
        service,
        activity_type,
        tariff.period.from,
        tariff.period.to,
        None,
    )
    .await?
    {
        return Err(TariffError::Overlaps(other));
    }
    Ok(sqlx::query_as!(
        TariffRecord,
        r#"INSERT INTO tariffs (federation_id, id, service_id, organisation_id, activity_type,
               unit_pence, effective_from, effective_to, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           RETURNING id, service_id, organisation_id, activity_type, unit_pence, effective_from,
                     effective_to, created_by, created_at, version"#,
        federation.as_uuid(),
        Uuid::now_v7(),
        service,
        organisation.as_uuid(),
        activity_type,
        tariff.unit_price.0,
        tariff.period.from,
        tariff.period.to,
        by,
    )
    .fetch_one(conn)
    .await
    .map_err(StoreError::from)?)
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
) -> Result<TariffRecord, StoreError> {
    sqlx::query_as!(
        TariffRecord,
        r#"SELECT id, service_id, organisation_id, activity_type, unit_pence, effective_from,
                  effective_to, created_by, created_at, version
           FROM tariffs WHERE federation_id = $1 AND id = $2"#,
        federation.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// The tariff in force on `day` for the service and activity type, for pricing an activity.
/// The service's price list for the activity type is held (shared) until the transaction ends,
/// so a tariff cannot be ended before the day of a charge it is pricing at the same moment.
pub async fn in_force(
    conn: &mut PgConnection,
    federation: FederationId,
    service: Uuid,
    activity_type: &str,
    day: NaiveDate,
) -> Result<Option<TariffRecord>, StoreError> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock_shared(hashtextextended($1::text || '/' || $2, 0))",
        service.to_string(),
        activity_type,
    )
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_as!(
        TariffRecord,
        r#"SELECT id, service_id, organisation_id, activity_type, unit_pence, effective_from,
                  effective_to, created_by, created_at, version
           FROM tariffs
           WHERE federation_id = $1 AND service_id = $2 AND activity_type = $3
             AND effective_from <= $4 AND coalesce(effective_to, 'infinity'::date) >= $4"#,
        federation.as_uuid(),
        service,
        activity_type,
        day,
    )
    .fetch_optional(conn)
    .await?)
}

/// The federation's tariffs (or one organisation's, or one service's), by id.
pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    organisation: Option<Uuid>,
    service: Option<Uuid>,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<TariffRecord>, StoreError> {
    Ok(sqlx::query_as!(
        TariffRecord,
        r#"SELECT id, service_id, organisation_id, activity_type, unit_pence, effective_from,
                  effective_to, created_by, created_at, version
           FROM tariffs
           WHERE federation_id = $1
             AND ($2::uuid IS NULL OR organisation_id = $2)
             AND ($3::uuid IS NULL OR service_id = $3)
             AND ($4::uuid IS NULL OR id > $4)
           ORDER BY id LIMIT $5"#,
        federation.as_uuid(),
        organisation,
        service,
        after,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// Ends a tariff on `to` (its last day in force), if it is still at `expected_version`: a tariff
/// is never deleted, and never ended before an activity it has priced.
pub async fn end(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
    expected_version: i32,
    to: NaiveDate,
) -> Result<TariffRecord, TariffError> {
    let current = find(conn, federation, id).await?;
    lock_price_list(conn, current.service_id, &current.activity_type).await?;
    let priced_later = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM charges
                          WHERE federation_id = $1 AND tariff_id = $2 AND delivered_on > $3)
           AS "exists!""#,
        federation.as_uuid(),
        id,
        to,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    if priced_later {
        return Err(TariffError::InUse);
    }
    if let Some(other) = overlapping(
        conn,
        federation,
        current.service_id,
        &current.activity_type,
        current.effective_from,
        Some(to),
        Some(id),
    )
    .await?
    {
        return Err(TariffError::Overlaps(other));
    }
    let updated = sqlx::query_as!(
        TariffRecord,
        r#"UPDATE tariffs SET effective_to = $4, version = version + 1
           WHERE federation_id = $1 AND id = $2 AND version = $3
           RETURNING id, service_id, organisation_id, activity_type, unit_pence, effective_from,
                     effective_to, created_by, created_at, version"#,
        federation.as_uuid(),
        id,
        expected_version,
        to,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    updated.ok_or(TariffError::Store(StoreError::VersionMismatch {
        current_version: current.version,
    }))
}
