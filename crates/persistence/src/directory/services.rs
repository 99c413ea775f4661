//! Services of a federation's directory, and searching them.

use crate::code_arrays::{codes, decode};
use crate::error::{on_constraint, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::directory::service::{ServiceDetails, ServiceInput};
use waymark_domain::directory::{DeliveryMode, NeedCategory};
use waymark_domain::{FederationId, OrganisationId, ServiceId};

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRecord {
    pub id: Uuid,
    pub federation_id: Uuid,
    pub organisation_id: Uuid,
    pub organisation_name: String,
    pub external_id: Option<String>,
    pub name: String,
    pub description: String,
    pub need_categories: Vec<NeedCategory>,
    pub eligibility: Option<String>,
    pub delivery_modes: Vec<DeliveryMode>,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub opening_times: Option<String>,
    pub capacity: Option<i32>,
    pub accepting_referrals: bool,
    pub cost_to_patient: String,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub website: Option<String>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ServiceRecord {
    /// The record as input, for applying a partial change and validating the result whole.
    pub fn to_input(&self) -> ServiceInput {
        ServiceInput {
            organisation_id: Some(OrganisationId::from(self.organisation_id)),
            external_id: self.external_id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            need_categories: self.need_categories.clone(),
            eligibility: self.eligibility.clone(),
            delivery_modes: self.delivery_modes.clone(),
            address: self.address.clone(),
            postcode: self.postcode.clone(),
            latitude: self.latitude,
            longitude: self.longitude,
            opening_times: self.opening_times.clone(),
            capacity: self.capacity,
            accepting_referrals: self.accepting_referrals,
            cost_to_patient: Some(self.cost_to_patient.clone()),
            contact_email: self.contact_email.clone(),
            contact_phone: self.contact_phone.clone(),
            website: self.website.clone(),
            active: self.active,
        }
    }
}

/// A service as the database returns it, with its organisation's name.
#[derive(sqlx::FromRow)]
pub(super) struct ServiceRow {
    pub(super) id: Uuid,
    federation_id: Uuid,
    organisation_id: Uuid,
    organisation_name: String,
    external_id: Option<String>,
    pub(super) name: String,
    description: String,
    need_categories: Vec<String>,
    eligibility: Option<String>,
    delivery_modes: Vec<String>,
    address: Option<String>,
    postcode: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    opening_times: Option<String>,
    capacity: Option<i32>,
    accepting_referrals: bool,
    cost_to_patient: String,
    contact_email: Option<String>,
    contact_phone: Option<String>,
    website: Option<String>,
    active: bool,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ServiceRow> for ServiceRecord {
    type Error = StoreError;

    fn try_from(r: ServiceRow) -> Result<Self, StoreError> {
        Ok(ServiceRecord {
            need_categories: decode(&r.need_categories)?,
            delivery_modes: decode(&r.delivery_modes)?,
            id: r.id,
            federation_id: r.federation_id,
            organisation_id: r.organisation_id,
            organisation_name: r.organisation_name,
            external_id: r.external_id,
            name: r.name,
            description: r.description,
            eligibility: r.eligibility,
            address: r.address,
            postcode: r.postcode,
            latitude: r.latitude,
            longitude: r.longitude,
            opening_times: r.opening_times,
            capacity: r.capacity,
            accepting_referrals: r.accepting_referrals,
            cost_to_patient: r.cost_to_patient,
            contact_email: r.contact_email,
            contact_phone: r.contact_phone,
            website: r.website,
            active: r.active,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const SERVICE_CONSTRAINTS: [(&str, StoreError); 2] = [
    (
        "services_federation_id_external_id_key",
        StoreError::Duplicate {
            field: "external_id",
        },
    ),
    (
        "services_organisation_fkey",
        StoreError::MissingReference {
            field: "organisation_id",
        },
    ),
];

pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceId,
    s: &ServiceDetails,
) -> Result<ServiceRecord, StoreError> {
    sqlx::query!(
        r#"INSERT INTO services (id, federation_id, organisation_id, external_id, name, description,
               need_categories, eligibility, delivery_modes, address, postcode, latitude, longitude,
               opening_times, capacity, accepting_referrals, cost_to_patient, contact_email, contact_phone,
               website, active)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"#,
        id.as_uuid(),
        federation.as_uuid(),
        s.organisation_id.as_uuid(),
        s.external_id,
        s.name,
        s.description,
        &codes(&s.need_categories),
        s.eligibility,
        &codes(&s.delivery_modes),
        s.address,
        s.postcode,
        s.location.map(|p| p.latitude()),
        s.location.map(|p| p.longitude()),
        s.opening_times,
        s.capacity,
        s.accepting_referrals,
        s.cost_to_patient,
        s.contact_email,
        s.contact_phone,
        s.website,
        s.active,
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| on_constraint(e, &SERVICE_CONSTRAINTS))?;
    find(conn, federation, id).await
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceId,
) -> Result<ServiceRecord, StoreError> {
    sqlx::query_as!(
        ServiceRow,
        r#"SELECT s.id, s.federation_id, s.organisation_id, o.name AS organisation_name, s.external_id, s.name,
                  s.description, s.need_categories, s.eligibility, s.delivery_modes, s.address, s.postcode,
                  s.latitude, s.longitude, s.opening_times, s.capacity, s.accepting_referrals, s.cost_to_patient,
                  s.contact_email, s.contact_phone, s.website, s.active, s.version, s.created_at, s.updated_at
           FROM services s
           JOIN organisations o ON o.federation_id = s.federation_id AND o.id = s.organisation_id
           WHERE s.federation_id = $1 AND s.id = $2"#,
        federation.as_uuid(),
        id.as_uuid(),
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

pub async fn find_by_external_id(
    conn: &mut PgConnection,
    federation: FederationId,
    external_id: &str,
) -> Result<Option<ServiceRecord>, StoreError> {
    let id = sqlx::query_scalar!(
        "SELECT id FROM services WHERE federation_id = $1 AND external_id = $2",
        federation.as_uuid(),
        external_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => find(conn, federation, ServiceId::from(id)).await.map(Some),
        None => Ok(None),
    }
}

/// Replaces the service's details if it is still at `expected_version`.
pub async fn update(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceId,
    expected_version: i32,
    s: &ServiceDetails,
) -> Result<ServiceRecord, StoreError> {
    let updated = sqlx::query!(
        r#"UPDATE services SET organisation_id = $4, external_id = $5, name = $6, description = $7,
               need_categories = $8, eligibility = $9, delivery_modes = $10, address = $11, postcode = $12,
               latitude = $13, longitude = $14, opening_times = $15, capacity = $16, accepting_referrals = $17,
               cost_to_patient = $18, contact_email = $19, contact_phone = $20, website = $21, active = $22,
               version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND id = $2 AND version = $3"#,
        federation.as_uuid(),
        id.as_uuid(),
        expected_version,
        s.organisation_id.as_uuid(),
        s.external_id,
        s.name,
        s.description,
        &codes(&s.need_categories),
        s.eligibility,
        &codes(&s.delivery_modes),
        s.address,
        s.postcode,
        s.location.map(|p| p.latitude()),
        s.location.map(|p| p.longitude()),
        s.opening_times,
        s.capacity,
        s.accepting_referrals,
        s.cost_to_patient,
        s.contact_email,
        s.contact_phone,
        s.website,
        s.active,
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| on_constraint(e, &SERVICE_CONSTRAINTS))?;
    let current = find(conn, federation, id).await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::VersionMismatch {
            current_version: current.version,
        });
    }
    Ok(current)
}

/// Published services: active, of an active organisation. Optionally matching `text` and
/// `category`; ranked by relevance with `text`, else in name order. Returns the page and the
/// number of matches in all.
pub async fn published_page(
    conn: &mut PgConnection,
    federation: FederationId,
    text: Option<&str>,
    category: Option<NeedCategory>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ServiceRecord>, i64), StoreError> {
    let category = category.map(|c| c.code());
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "total!" FROM services s
           JOIN organisations o ON o.id = s.organisation_id
           WHERE s.federation_id = $1 AND s.active AND o.active
             AND ($2::text IS NULL OR s.search @@ websearch_to_tsquery('english', $2))
             AND ($3::text IS NULL OR s.need_categories @> ARRAY[$3::text])"#,
        federation.as_uuid(),
        text,
        category,
    )
    .fetch_one(&mut *conn)
    .await?;
    let rows = sqlx::query_as!(
        ServiceRow,
        r#"SELECT s.id, s.federation_id, s.organisation_id, o.name AS organisation_name, s.external_id, s.name,
                  s.description, s.need_categories, s.eligibility, s.delivery_modes, s.address, s.postcode,
                  s.latitude, s.longitude, s.opening_times, s.capacity, s.accepting_referrals, s.cost_to_patient,
                  s.contact_email, s.contact_phone, s.website, s.active, s.version, s.created_at, s.updated_at
           FROM services s
           JOIN organisations o ON o.id = s.organisation_id
           WHERE s.federation_id = $1 AND s.active AND o.active
             AND ($2::text IS NULL OR s.search @@ websearch_to_tsquery('english', $2))
             AND ($3::text IS NULL OR s.need_categories @> ARRAY[$3::text])
           ORDER BY CASE WHEN $2::text IS NULL THEN 0
                         ELSE -ts_rank(s.search, websearch_to_tsquery('english', $2)) END,
                    s.name, s.id
           OFFSET $4 LIMIT $5"#,
        federation.as_uuid(),
        text,
        category,
        offset,
        limit,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(ServiceRecord::try_from)
    .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total))
}

/// One published service (active, of an active organisation).
pub async fn find_published(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceId,
) -> Result<ServiceRecord, StoreError> {
    sqlx::query_as!(
        ServiceRow,
        r#"SELECT s.id, s.federation_id, s.organisation_id, o.name AS organisation_name, s.external_id, s.name,
                  s.description, s.need_categories, s.eligibility, s.delivery_modes, s.address, s.postcode,
                  s.latitude, s.longitude, s.opening_times, s.capacity, s.accepting_referrals, s.cost_to_patient,
                  s.contact_email, s.contact_phone, s.website, s.active, s.version, s.created_at, s.updated_at
           FROM services s
           JOIN organisations o ON o.id = s.organisation_id
           WHERE s.federation_id = $1 AND s.id = $2 AND s.active AND o.active"#,
        federation.as_uuid(),
        id.as_uuid(),
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}
