//! Applying a validated import: upserts by external id, inside the caller's transaction, so a
//! file imports whole or not at all; rows that change nothing are left alone.

use super::{organisations, services};
use crate::error::StoreError;
use sqlx::PgConnection;
use std::collections::HashMap;
use waymark_domain::directory::import::ValidatedImport;
use waymark_domain::directory::organisation::OrganisationDetails;
use waymark_domain::directory::service::ServiceDetails;
use waymark_domain::{FederationId, OrganisationId, ServiceId};

/// How many rows of one kind were created, updated or already as the file says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub organisations: UpsertCounts,
    pub services: UpsertCounts,
}

pub async fn apply(
    conn: &mut PgConnection,
    federation: FederationId,
    import: &ValidatedImport,
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    let mut organisation_ids: HashMap<&str, OrganisationId> = HashMap::new();
    for (key, details) in &import.organisations {
        let id = match organisations::find_by_external_id(conn, federation, key).await? {
            None => {
                report.organisations.created += 1;
                organisations::create(conn, federation, OrganisationId::new(), details)
                    .await?
                    .id
            }
            Some(current) => {
                let id = OrganisationId::from(current.id);
                if OrganisationDetails::parse(current.to_input()).as_ref() == Ok(details) {
                    report.organisations.unchanged += 1;
                } else {
                    report.organisations.updated += 1;
                    organisations::update(conn, federation, id, current.version, details).await?;
                }
                current.id
            }
        };
        organisation_ids.insert(key.as_str(), OrganisationId::from(id));
    }
    for (organisation_key, details) in &import.services {
        let organisation = *organisation_ids.get(organisation_key.as_str()).ok_or(
            StoreError::MissingReference {
                field: "organisation_external_id",
            },
        )?;
        let details = ServiceDetails {
            organisation_id: organisation,
            ..details.clone()
        };
        let key = details
            .external_id
            .as_deref()
            .ok_or(StoreError::MissingReference {
                field: "external_id",
            })?;
        match services::find_by_external_id(conn, federation, key).await? {
            None => {
                report.services.created += 1;
                services::create(conn, federation, ServiceId::new(), &details).await?;
            }
            Some(current) => {
                if ServiceDetails::parse(current.to_input()).as_ref() == Ok(&details) {
                    report.services.unchanged += 1;
                } else {
                    report.services.updated += 1;
                    services::update(
                        conn,
                        federation,
                        ServiceId::from(current.id),
                        current.version,
                        &details,
                    )
                    .await?;
                }
            }
        }
    }
    Ok(report)
}
