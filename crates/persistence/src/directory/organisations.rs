//! Provider organisations of a federation's directory.

use crate::error::{on_constraint, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::directory::organisation::{OrganisationDetails, OrganisationInput};
use waymark_domain::{FederationId, OrganisationId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganisationRecord {
    pub id: Uuid,
    pub federation_id: Uuid,
    pub external_id: Option<String>,
    pub name: String,
    pub charity_number: Option<String>,
    pub company_number: Option<String>,
    pub website: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub contact_name: Option<String>,
    pub payee_reference: Option<String>,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrganisationRecord {
    /// The record as input, for applying a partial change and validating the result whole.
    pub fn to_input(&self) -> OrganisationInput {
        OrganisationInput {
            external_id: self.external_id.clone(),
            name: self.name.clone(),
            charity_number: self.charity_number.clone(),
            company_number: self.company_number.clone(),
            website: self.website.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            contact_name: self.contact_name.clone(),
            payee_reference: self.payee_reference.clone(),
            active: self.active,
        }
    }
}

const EXTERNAL_ID_TAKEN: (&str, StoreError) = (
    "organisations_federation_id_external_id_key",
    StoreError::Duplicate {
        field: "external_id",
    },
);

pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    id: OrganisationId,
    o: &OrganisationDetails,
) -> Result<OrganisationRecord, StoreError> {
    sqlx::query_as!(
        OrganisationRecord,
        r#"INSERT INTO organisations (id, federation_id, external_id, name, charity_number, company_number,
               website, email, phone, contact_name, payee_reference, active)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           RETURNING id, federation_id, external_id, name, charity_number, company_number, website, email,
                     phone, contact_name, payee_reference, active, version, created_at, updated_at"#,
        id.as_uuid(),
        federation.as_uuid(),
        o.external_id,
        o.name,
        o.charity_number,
        o.company_number,
        o.website,
        o.email,
        o.phone,
        o.contact_name,
        o.payee_reference,
        o.active,
    )
    .fetch_one(conn)
    .await
    .map_err(|e| on_constraint(e, &[EXTERNAL_ID_TAKEN]))
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    id: OrganisationId,
) -> Result<OrganisationRecord, StoreError> {
    sqlx::query_as!(
        OrganisationRecord,
        r#"SELECT id, federation_id, external_id, name, charity_number, company_number, website, email,
                  phone, contact_name, payee_reference, active, version, created_at, updated_at
           FROM organisations WHERE federation_id = $1 AND id = $2"#,
        federation.as_uuid(),
        id.as_uuid(),
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

pub async fn find_by_external_id(
    conn: &mut PgConnection,
    federation: FederationId,
    external_id: &str,
) -> Result<Option<OrganisationRecord>, StoreError> {
    Ok(sqlx::query_as!(
        OrganisationRecord,
        r#"SELECT id, federation_id, external_id, name, charity_number, company_number, website, email,
                  phone, contact_name, payee_reference, active, version, created_at, updated_at
           FROM organisations WHERE federation_id = $1 AND external_id = $2"#,
        federation.as_uuid(),
        external_id,
    )
    .fetch_optional(conn)
    .await?)
}

/// Organisations in creation order.
pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<OrganisationRecord>, StoreError> {
    Ok(sqlx::query_as!(
        OrganisationRecord,
        r#"SELECT id, federation_id, external_id, name, charity_number, company_number, website, email,
                  phone, contact_name, payee_reference, active, version, created_at, updated_at
           FROM organisations WHERE federation_id = $1 AND ($2::uuid IS NULL OR id > $2)
           ORDER BY id LIMIT $3"#,
        federation.as_uuid(),
        after,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// Replaces the organisation's details if it is still at `expected_version`.
pub async fn update(
    conn: &mut PgConnection,
    federation: FederationId,
    id: OrganisationId,
    expected_version: i32,
    o: &OrganisationDetails,
) -> Result<OrganisationRecord, StoreError> {
    let updated = sqlx::query_as!(
        OrganisationRecord,
        r#"UPDATE organisations SET external_id = $4, name = $5, charity_number = $6, company_number = $7,
               website = $8, email = $9, phone = $10, contact_name = $11, payee_reference = $12, active = $13,
               version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND id = $2 AND version = $3
           RETURNING id, federation_id, external_id, name, charity_number, company_number, website, email,
                     phone, contact_name, payee_reference, active, version, created_at, updated_at"#,
        federation.as_uuid(),
        id.as_uuid(),
        expected_version,
        o.external_id,
        o.name,
        o.charity_number,
        o.company_number,
        o.website,
        o.email,
        o.phone,
        o.contact_name,
        o.payee_reference,
        o.active,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| on_constraint(e, &[EXTERNAL_ID_TAKEN]))?;
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
