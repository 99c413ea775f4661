//! Bulk import of a directory: rows of organisation and service fields, keyed by external ids,
//! checked together so that a file either imports whole or not at all.

use super::organisation::{OrganisationDetails, OrganisationInput};
use super::service::{ServiceDetails, ServiceInput};
use crate::ids::OrganisationId;
use std::collections::HashMap;

/// One service to import, with the organisation that runs it. `row` counts from 1 as a person
/// reading the file would (the CSV header is row 1, so the first record is row 2).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportRow {
    pub row: usize,
    pub organisation: OrganisationInput,
    pub service: ServiceInput,
}

/// Why one row cannot be imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRowError {
    pub row: usize,
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

/// A whole file, validated: organisations by external id, and services by external id with the
/// external id of their organisation.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedImport {
    pub organisations: Vec<(String, OrganisationDetails)>,
    pub services: Vec<(String, ServiceDetails)>,
}

/// Stands in for an organisation's id until the import knows it.
pub const PENDING_ORGANISATION: OrganisationId = OrganisationId::from_uuid(uuid::Uuid::nil());

impl ValidatedImport {
    /// Checks every row; any error in any row rejects the whole import.
    pub fn validate(rows: Vec<ImportRow>) -> Result<Self, Vec<ImportRowError>> {
        let mut errors = Vec::new();
        let mut organisations: Vec<(String, OrganisationDetails)> = Vec::new();
        let mut organisation_rows: HashMap<String, (usize, OrganisationDetails)> = HashMap::new();
        let mut services: Vec<(String, ServiceDetails)> = Vec::new();
        let mut service_rows: HashMap<String, usize> = HashMap::new();
        if rows.is_empty() {
            errors.push(ImportRowError {
                row: 0,
                field: "file".into(),
                code: "required",
                message: "the file holds no services".into(),
            });
        }
        for ImportRow {
            row,
            organisation,
            mut service,
        } in rows
        {
            let mut fail = |field: &str, code: &'static str, message: String| {
                errors.push(ImportRowError {
                    row,
                    field: field.to_owned(),
                    code,
                    message,
                })
            };
            let organisation_key = organisation
                .external_id
                .clone()
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty());
            let service_key = service
                .external_id
                .clone()
                .map(|k| k.trim().to_owned())
                .filter(|k| !k.is_empty());
            if organisation_key.is_none() {
                fail(
                    "organisation_external_id",
                    "required",
                    "every row names its organisation's external id".into(),
                );
            }
            match &service_key {
                None => fail(
                    "external_id",
                    "required",
                    "every service needs an external id to be upserted by".into(),
                ),
                Some(key) => {
                    if let Some(first) = service_rows.insert(key.clone(), row) {
                        fail(
                            "external_id",
                            "duplicate",
                            format!("service {key} already appears in row {first}"),
                        );
                    }
                }
            }
            match OrganisationDetails::parse(organisation) {
                Err(problems) => {
                    for e in problems.0 {
                        fail(&format!("organisation_{}", e.field), e.code, e.message);
                    }
                }
                Ok(details) => {
                    if let Some(key) = &organisation_key {
                        match organisation_rows.get(key) {
                            Some((first, earlier)) if *earlier != details => fail(
                                "organisation_external_id",
                                "inconsistent",
                                format!(
                                    "organisation {key} is described differently in row {first}"
                                ),
                            ),
                            Some(_) => {}
                            None => {
                                organisation_rows.insert(key.clone(), (row, details.clone()));
                                organisations.push((key.clone(), details));
                            }
                        }
                    }
                }
            }
            service.organisation_id = Some(PENDING_ORGANISATION);
            match ServiceDetails::parse(service) {
                Err(problems) => {
                    for e in problems.0 {
                        fail(&e.field, e.code, e.message);
                    }
                }
                Ok(details) => {
                    if let Some(key) = &organisation_key {
                        services.push((key.clone(), details));
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(Self {
                organisations,
                services,
            })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{DeliveryMode, NeedCategory};

    fn row(row: usize, organisation: &str, service: &str) -> ImportRow {
        ImportRow {
            row,
            organisation: OrganisationInput {
                external_id: Some(organisation.into()),
                name: format!("Organisation {organisation}"),
                active: true,
                ..Default::default()
            },
            service: ServiceInput {
                external_id: Some(service.into()),
                name: format!("Service {service}"),
                description: "Something useful.".into(),
                need_categories: vec![NeedCategory::Food],
                delivery_modes: vec![DeliveryMode::InPerson],
                accepting_referrals: true,
                active: true,
                ..Default::default()
            },
        }
    }

    #[test]
    fn organisations_are_shared_by_their_rows() {
        let import = ValidatedImport::validate(vec![
            row(2, "o1", "s1"),
            row(3, "o1", "s2"),
            row(4, "o2", "s3"),
        ])
        .unwrap();
        assert_eq!(import.organisations.len(), 2);
        assert_eq!(import.services.len(), 3);
        assert_eq!(import.services[1].0, "o1");
    }

    #[test]
    fn every_bad_row_is_reported_with_its_number() {
        let mut bad = row(3, "o1", "s1");
        bad.service.postcode = Some("nowhere".into());
        bad.organisation.name = "Renamed".into();
        let mut nameless = row(4, "", "s2");
        nameless.service.need_categories.clear();
        let errors =
            ValidatedImport::validate(vec![row(2, "o1", "s1"), bad, nameless]).unwrap_err();
        let found: Vec<(usize, &str, &str)> = errors
            .iter()
            .map(|e| (e.row, e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            found,
            [
                (3, "external_id", "duplicate"),
                (3, "organisation_external_id", "inconsistent"),
                (3, "postcode", "invalid_format"),
                (4, "organisation_external_id", "required"),
                (4, "need_categories", "required"),
            ]
        );
    }

    #[test]
    fn an_empty_file_is_refused() {
        assert_eq!(
            ValidatedImport::validate(vec![]).unwrap_err()[0].field,
            "file"
        );
    }
}
