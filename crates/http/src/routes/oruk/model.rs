//! Waymark's directory in the shapes of the Open Referral UK 3.0 schemas
//! (`schema/compiled/service.json`, `service_list.json`, `taxonomy.json`, `taxonomy_term.json`).
//! Absent values are left out, never `null`, as the schemas type them as strings and numbers.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::directory::need::{TAXONOMY_ID, TAXONOMY_NAME};
use waymark_domain::directory::{DeliveryMode, NeedCategory};
use waymark_domain::pagination::NumberedPageSummary;
use waymark_persistence::directory::services::ServiceRecord;

/// The profile's paginated page.
#[derive(Serialize, ToSchema)]
pub struct OrukPage<T: ToSchema> {
    pub total_items: u64,
    pub total_pages: u64,
    pub page_number: u32,
    pub size: u32,
    pub first_page: bool,
    pub last_page: bool,
    pub empty: bool,
    pub contents: Vec<T>,
}

impl<T: ToSchema> OrukPage<T> {
    pub fn new(summary: NumberedPageSummary, contents: Vec<T>) -> Self {
        Self {
            total_items: summary.total_items,
            total_pages: summary.total_pages,
            page_number: summary.page_number,
            size: summary.size,
            first_page: summary.first_page,
            last_page: summary.last_page,
            empty: summary.empty,
            contents,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrukOrganization {
    pub id: Uuid,
    pub name: String,
    pub description: String,
}

#[derive(Serialize, ToSchema)]
pub struct OrukTaxonomyTerm {
    pub id: Uuid,
    pub name: &'static str,
    pub description: &'static str,
    pub taxonomy: &'static str,
    pub taxonomy_id: Uuid,
    /// The need category's code in Waymark.
    pub term: &'static str,
}

impl From<NeedCategory> for OrukTaxonomyTerm {
    fn from(c: NeedCategory) -> Self {
        Self {
            id: c.term_id(),
            name: c.name(),
            description: c.description(),
            taxonomy: TAXONOMY_NAME,
            taxonomy_id: TAXONOMY_ID,
            term: c.code(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct OrukTaxonomy {
    pub id: Uuid,
    pub name: &'static str,
    pub description: &'static str,
    pub version: &'static str,
    pub taxonomy_terms: Vec<OrukTaxonomyTerm>,
}

impl OrukTaxonomy {
    pub fn needs() -> Self {
        Self {
            id: TAXONOMY_ID,
            name: TAXONOMY_NAME,
            description: "The needs people are referred to social prescribing for",
            version: "1",
            taxonomy_terms: NeedCategory::ALL
                .into_iter()
                .map(OrukTaxonomyTerm::from)
                .collect(),
        }
    }
}

/// A service as listed: its one-to-one fields and its organisation.
#[derive(Serialize, ToSchema)]
pub struct OrukServiceSummary {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `active`, or `temporarily closed` while it takes no referrals.
    pub status: &'static str,
    pub fees: String,
    pub last_modified: String,
    pub organization: OrukOrganization,
}

#[derive(Serialize, ToSchema)]
pub struct OrukAttribute {
    pub id: Uuid,
    pub link_id: Uuid,
    pub link_type: &'static str,
    pub taxonomy_term_id: Uuid,
    pub taxonomy_term: OrukTaxonomyTerm,
}

#[derive(Serialize, ToSchema)]
pub struct OrukAddress {
    pub id: Uuid,
    pub location_id: Uuid,
    pub address_1: String,
    pub city: String,
    pub state_province: String,
    pub postal_code: String,
    pub country: &'static str,
    pub address_type: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct OrukLocation {
    pub id: Uuid,
    pub location_type: &'static str,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    pub addresses: Vec<OrukAddress>,
}

#[derive(Serialize, ToSchema)]
pub struct OrukServiceAtLocation {
    pub id: Uuid,
    pub service_id: Uuid,
    pub location_id: Uuid,
    pub location: OrukLocation,
}

#[derive(Serialize, ToSchema)]
pub struct OrukSchedule {
    pub id: Uuid,
    pub service_id: Uuid,
    pub description: String,
}

#[derive(Serialize, ToSchema)]
pub struct OrukCostOption {
    pub id: Uuid,
    pub service_id: Uuid,
    pub amount_description: String,
}

/// A service in full.
#[derive(Serialize, ToSchema)]
pub struct OrukService {
    #[serde(flatten)]
    pub summary: OrukServiceSummary,
    pub service_at_locations: Vec<OrukServiceAtLocation>,
    pub schedules: Vec<OrukSchedule>,
    pub cost_options: Vec<OrukCostOption>,
    pub attributes: Vec<OrukAttribute>,
}

/// A second id derived from an entity's own, for the one-to-one parts the profile gives ids of
/// their own (a service's location, its schedule, its cost, its classification by a term).
fn derived_id(id: Uuid, salt: Uuid) -> Uuid {
    Uuid::from_u128(id.as_u128() ^ salt.as_u128())
}

const LOCATION_SALT: Uuid = Uuid::from_u128(0x1);
const ADDRESS_SALT: Uuid = Uuid::from_u128(0x2);
const SCHEDULE_SALT: Uuid = Uuid::from_u128(0x3);
const COST_SALT: Uuid = Uuid::from_u128(0x4);

impl From<&ServiceRecord> for OrukServiceSummary {
    fn from(s: &ServiceRecord) -> Self {
        Self {
            id: s.id,
            organization_id: s.organisation_id,
            name: s.name.clone(),
            description: s.description.clone(),
            url: s.website.clone(),
            email: s.contact_email.clone(),
            status: if s.accepting_referrals {
                "active"
            } else {
                "temporarily closed"
            },
            fees: s.cost_to_patient.clone(),
            last_modified: s
                .updated_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            organization: OrukOrganization {
                id: s.organisation_id,
                name: s.organisation_name.clone(),
                description: s.organisation_name.clone(),
            },
        }
    }
}

impl From<&ServiceRecord> for OrukService {
    fn from(s: &ServiceRecord) -> Self {
        let mut service_at_locations = Vec::new();
        let in_person = s.delivery_modes.contains(&DeliveryMode::InPerson);
        if in_person && (s.latitude.is_some() || s.postcode.is_some()) {
            let location_id = derived_id(s.id, LOCATION_SALT);
            let addresses = s
                .postcode
                .iter()
                .map(|postcode| OrukAddress {
                    id: derived_id(s.id, ADDRESS_SALT),
                    location_id,
                    address_1: s
                        .address
                        .as_deref()
                        .and_then(|a| a.lines().next())
                        .unwrap_or(&s.name)
                        .to_owned(),
                    city: String::new(),
                    state_province: String::new(),
                    postal_code: postcode.clone(),
                    country: "GB",
                    address_type: "physical",
                })
                .collect();
            service_at_locations.push(OrukServiceAtLocation {
                id: s.id,
                service_id: s.id,
                location_id,
                location: OrukLocation {
                    id: location_id,
                    location_type: "physical",
                    name: s.name.clone(),
                    latitude: s.latitude,
                    longitude: s.longitude,
                    addresses,
                },
            });
        }
        let schedules = s
            .opening_times
            .iter()
            .map(|times| OrukSchedule {
                id: derived_id(s.id, SCHEDULE_SALT),
                service_id: s.id,
                description: times.clone(),
            })
            .collect();
        let cost_options = vec![OrukCostOption {
            id: derived_id(s.id, COST_SALT),
            service_id: s.id,
            amount_description: s.cost_to_patient.clone(),
        }];
        let attributes = s
            .need_categories
            .iter()
            .map(|category| OrukAttribute {
                id: derived_id(s.id, category.term_id()),
                link_id: s.id,
                link_type: "service",
                taxonomy_term_id: category.term_id(),
                taxonomy_term: OrukTaxonomyTerm::from(*category),
            })
            .collect();
        Self {
            summary: OrukServiceSummary::from(s),
            service_at_locations,
            schedules,
            cost_options,
            attributes,
        }
    }
}
