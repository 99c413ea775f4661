//! Patients of a practice.

use crate::error::{on_constraint, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::pathway::demographics::Sex;
use waymark_domain::pathway::patient::{NewPatient, PatientDetails};
use waymark_domain::{FederationId, PracticeId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientRecord {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub nhs_number: String,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub postcode: Option<String>,
    /// A `Sex` code.
    pub sex: Option<String>,
    pub ethnic_category: Option<String>,
    pub imd_decile: Option<i16>,
    pub share_name_with_providers: bool,
    pub share_contact_with_providers: bool,
    pub share_beyond_practice: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const DUPLICATE_NHS_NUMBER: (&str, StoreError) = (
    "patients_practice_id_nhs_number_key",
    StoreError::Duplicate {
        field: "nhs_number",
    },
);

pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
    registered_by: Uuid,
    patient: &NewPatient,
) -> Result<PatientRecord, StoreError> {
    let d = &patient.details;
    sqlx::query_as!(
        PatientRecord,
        r#"INSERT INTO patients (federation_id, practice_id, id, nhs_number, given_name,
               family_name, date_of_birth, email, phone, address, postcode,
               share_name_with_providers, share_contact_with_providers, registered_by,
               sex, ethnic_category, imd_decile, share_beyond_practice)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                   $18)
           RETURNING id, practice_id, nhs_number, given_name, family_name, date_of_birth, email,
                     phone, address, postcode, sex, ethnic_category, imd_decile,
                     share_name_with_providers, share_contact_with_providers,
                     share_beyond_practice, version, created_at, updated_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        patient.nhs_number.as_str(),
        d.given_name,
        d.family_name,
        d.date_of_birth,
        d.email,
        d.phone,
        d.address,
        d.postcode,
        d.consent.share_name_with_providers,
        d.consent.share_contact_with_providers,
        registered_by,
        d.sex.map(Sex::code),
        d.ethnic_category.map(|e| e.code()),
        d.imd_decile.map(|i| i16::from(i.value())),
        d.consent.share_beyond_practice,
    )
    .fetch_one(conn)
    .await
    .map_err(|e| on_constraint(e, &[DUPLICATE_NHS_NUMBER]))
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
) -> Result<PatientRecord, StoreError> {
    sqlx::query_as!(
        PatientRecord,
        r#"SELECT id, practice_id, nhs_number, given_name, family_name, date_of_birth, email,
                  phone, address, postcode, sex, ethnic_category, imd_decile,
                  share_name_with_providers, share_contact_with_providers,
                  share_beyond_practice, version, created_at, updated_at
           FROM patients WHERE federation_id = $1 AND practice_id = $2 AND id = $3"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// The practice's patients by id, optionally only the one with `nhs_number`.
pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    nhs_number: Option<&str>,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<PatientRecord>, StoreError> {
    Ok(sqlx::query_as!(
        PatientRecord,
        r#"SELECT id, practice_id, nhs_number, given_name, family_name, date_of_birth, email,
                  phone, address, postcode, sex, ethnic_category, imd_decile,
                  share_name_with_providers, share_contact_with_providers,
                  share_beyond_practice, version, created_at, updated_at
           FROM patients
           WHERE federation_id = $1 AND practice_id = $2
             AND ($3::text IS NULL OR nhs_number = $3)
             AND ($4::uuid IS NULL OR id > $4)
           ORDER BY id LIMIT $5"#,
        federation.as_uuid(),
        practice.as_uuid(),
        nhs_number,
        after,
        probe,
    )
    .fetch_all(conn)
    .await?)
}

/// Replaces the patient's details if it is still at `expected_version`.
pub async fn update(
    conn: &mut PgConnection,
    federation: FederationId,
    practice: PracticeId,
    id: Uuid,
    expected_version: i32,
    d: &PatientDetails,
) -> Result<PatientRecord, StoreError> {
    let updated = sqlx::query_as!(
        PatientRecord,
        r#"UPDATE patients
           SET given_name = $5, family_name = $6, date_of_birth = $7, email = $8, phone = $9,
               address = $10, postcode = $11, share_name_with_providers = $12,
               share_contact_with_providers = $13, sex = $14, ethnic_category = $15,
               imd_decile = $16, share_beyond_practice = $17, version = version + 1,
               updated_at = now()
           WHERE federation_id = $1 AND practice_id = $2 AND id = $3 AND version = $4
           RETURNING id, practice_id, nhs_number, given_name, family_name, date_of_birth, email,
                     phone, address, postcode, sex, ethnic_category, imd_decile,
                     share_name_with_providers, share_contact_with_providers,
                     share_beyond_practice, version, created_at, updated_at"#,
        federation.as_uuid(),
        practice.as_uuid(),
        id,
        expected_version,
        d.given_name,
        d.family_name,
        d.date_of_birth,
        d.email,
        d.phone,
        d.address,
        d.postcode,
        d.consent.share_name_with_providers,
        d.consent.share_contact_with_providers,
        d.sex.map(Sex::code),
        d.ethnic_category.map(|e| e.code()),
        d.imd_decile.map(|i| i16::from(i.value())),
        d.consent.share_beyond_practice,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match updated {
        Some(record) => Ok(record),
        None => {
            let current = find(conn, federation, practice, id).await?;
            Err(StoreError::VersionMismatch {
                current_version: current.version,
            })
        }
    }
}
