//! Waymark's directory in the shapes of the Open Referral UK 3.0 schemas
//! (`schema/compiled/service.json`, `service_list.json`, `service_at_location.json`,
//! `service_at_location_list.json`, `taxonomy.json`, `taxonomy_term.json`).
//! Absent values are left out, never `null`, as the schemas type them as strings and numbers.
//!
//! Waymark has no locations of its own: a service with a place to attend
//! (`ServiceRecord::is_located`) is shown at one location, as one service_at_location, which
//! carries the service's own id (there is one per service, and the profile's ids are unique per
//! kind of entity). The ids of its location, address and other one-to-one parts are derived
//! from the service's, and those of its weekly schedules are UUID v5 names of their hours in
//! the service id's namespace, so all are stable for as long as the service is, unique to it,
//! and the same in every answer that shows them.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::directory::need::{TAXONOMY_ID, TAXONOMY_NAME};
use waymark_domain::directory::schedule::{OpeningPeriod, TimeOfDay};
use waymark_domain::directory::NeedCategory;
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
    /// The youngest age the service is for, in years, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_age: Option<u8>,
    /// The oldest age the service is for, in years, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_age: Option<u8>,
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

/// A location as listed: its one-to-one fields.
#[derive(Serialize, ToSchema)]
pub struct OrukLocationSummary {
    pub id: Uuid,
    pub location_type: &'static str,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct OrukLocation {
    #[serde(flatten)]
    pub summary: OrukLocationSummary,
    pub addresses: Vec<OrukAddress>,
}

/// A service at its location, as a service shows it.
#[derive(Serialize, ToSchema)]
pub struct OrukServiceAtLocation {
    pub id: Uuid,
    pub service_id: Uuid,
    pub location_id: Uuid,
    pub location: OrukLocation,
}

/// A service at its location as listed: one-to-one fields of both.
#[derive(Serialize, ToSchema)]
pub struct OrukServiceAtLocationSummary {
    pub id: Uuid,
    pub service_id: Uuid,
    pub location_id: Uuid,
    pub location: OrukLocationSummary,
    pub service: OrukServiceSummary,
}

/// A service at its location in full: the location with its address, the service with its
/// schedules, costs and classification.
#[derive(Serialize, ToSchema)]
pub struct OrukServiceAtLocationDetail {
    pub id: Uuid,
    pub service_id: Uuid,
    pub location_id: Uuid,
    pub location: OrukLocation,
    pub service: OrukServiceDetail,
}

/// When a service runs: either weekly opening hours (`freq` WEEKLY on `byday` from `opens_at` to
/// `closes_at`, UK local time), or the service's opening times in words (`description`).
#[derive(Serialize, ToSchema)]
pub struct OrukSchedule {
    pub id: Uuid,
    pub service_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freq: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<u32>,
    /// RFC 5545 days, e.g. `MO,WE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byday: Option<String>,
    /// `HH:MM`, UK local time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrukCostOption {
    pub id: Uuid,
    pub service_id: Uuid,
    pub amount_description: String,
}

/// A service with everything about it but its locations.
#[derive(Serialize, ToSchema)]
pub struct OrukServiceDetail {
    #[serde(flatten)]
    pub summary: OrukServiceSummary,
    pub schedules: Vec<OrukSchedule>,
    pub cost_options: Vec<OrukCostOption>,
    pub attributes: Vec<OrukAttribute>,
}

/// A service in full.
#[derive(Serialize, ToSchema)]
pub struct OrukService {
    #[serde(flatten)]
    pub detail: OrukServiceDetail,
    pub service_at_locations: Vec<OrukServiceAtLocation>,
}

/// A second id derived from an entity's own, for the one-to-one parts the profile gives ids of
/// their own (a service's opening times in words, its cost, its classification by a term).
fn derived_id(id: Uuid, salt: Uuid) -> Uuid {
    Uuid::from_u128(id.as_u128() ^ salt.as_u128())
}

const LOCATION_SALT: Uuid = Uuid::from_u128(0x1);
const ADDRESS_SALT: Uuid = Uuid::from_u128(0x2);
const SCHEDULE_SALT: Uuid = Uuid::from_u128(0x3);
const COST_SALT: Uuid = Uuid::from_u128(0x4);

/// The id of the service_at_location of the service `service_id`: the service's own, so that
/// finding one is finding the other.
pub fn service_at_location_id(service_id: Uuid) -> Uuid {
    service_id
}

fn location_id(service_id: Uuid) -> Uuid {
    derived_id(service_id, LOCATION_SALT)
}

fn address_id(service_id: Uuid) -> Uuid {
    derived_id(service_id, ADDRESS_SALT)
}

/// A weekly schedule's id names its hours: the days it covers may change under the same id.
fn weekly_schedule_id(service_id: Uuid, opens_at: TimeOfDay, closes_at: TimeOfDay) -> Uuid {
    Uuid::new_v5(
        &service_id,
        format!("schedule WEEKLY {opens_at}-{closes_at}").as_bytes(),
    )
}

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
            minimum_age: s.ages.minimum(),
            maximum_age: s.ages.maximum(),
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

impl OrukLocation {
    /// The location of a service with a place to attend.
    fn of(s: &ServiceRecord) -> Option<Self> {
        if !s.is_located() {
            return None;
        }
        let location_id = location_id(s.id);
        let addresses = s
            .postcode
            .iter()
            .map(|postcode| OrukAddress {
                id: address_id(s.id),
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
        Some(Self {
            summary: OrukLocationSummary {
                id: location_id,
                location_type: "physical",
                name: s.name.clone(),
                latitude: s.latitude,
                longitude: s.longitude,
            },
            addresses,
        })
    }
}

impl OrukServiceAtLocationSummary {
    /// The service at its location, if it has one.
    pub fn of(s: &ServiceRecord) -> Option<Self> {
        let location = OrukLocation::of(s)?;
        Some(Self {
            id: service_at_location_id(s.id),
            service_id: s.id,
            location_id: location.summary.id,
            location: location.summary,
            service: OrukServiceSummary::from(s),
        })
    }
}

impl OrukServiceAtLocationDetail {
    /// The service at its location in full, if it has one.
    pub fn of(s: &ServiceRecord) -> Option<Self> {
        let location = OrukLocation::of(s)?;
        Some(Self {
            id: service_at_location_id(s.id),
            service_id: s.id,
            location_id: location.summary.id,
            location,
            service: OrukServiceDetail::from(s),
        })
    }
}

/// The weekly opening hours as schedules, one for each opening and closing time, on every day
/// it applies (`MO,WE 10:00-12:00`), in week order of their first day.
fn weekly_schedules(s: &ServiceRecord) -> Vec<OrukSchedule> {
    let mut hours: Vec<(TimeOfDay, TimeOfDay, Vec<&OpeningPeriod>)> = Vec::new();
    for period in s.schedule.periods() {
        let times = (period.opens_at(), period.closes_at());
        match hours.iter_mut().find(|(o, c, _)| (*o, *c) == times) {
            Some((_, _, days)) => days.push(period),
            None => hours.push((times.0, times.1, vec![period])),
        }
    }
    hours
        .into_iter()
        .map(|(opens_at, closes_at, periods)| OrukSchedule {
            id: weekly_schedule_id(s.id, opens_at, closes_at),
            service_id: s.id,
            freq: Some("WEEKLY"),
            interval: Some(1),
            byday: Some(
                periods
                    .iter()
                    .map(|p| p.day().rfc5545())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            opens_at: Some(opens_at.to_string()),
            closes_at: Some(closes_at.to_string()),
            description: None,
        })
        .collect()
}

impl From<&ServiceRecord> for OrukServiceDetail {
    fn from(s: &ServiceRecord) -> Self {
        let mut schedules = weekly_schedules(s);
        schedules.extend(s.opening_times.iter().map(|times| OrukSchedule {
            id: derived_id(s.id, SCHEDULE_SALT),
            service_id: s.id,
            freq: None,
            interval: None,
            byday: None,
            opens_at: None,
            closes_at: None,
            description: Some(times.clone()),
        }));
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
            schedules,
            cost_options,
            attributes,
        }
    }
}

impl From<&ServiceRecord> for OrukService {
    fn from(s: &ServiceRecord) -> Self {
        let service_at_locations = OrukLocation::of(s)
            .map(|location| OrukServiceAtLocation {
                id: service_at_location_id(s.id),
                service_id: s.id,
                location_id: location.summary.id,
                location,
            })
            .into_iter()
            .collect();
        Self {
            detail: OrukServiceDetail::from(s),
            service_at_locations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let service = Uuid::parse_str("019ab1c0-7a00-7000-8000-000000000001").unwrap();
        assert_eq!(service_at_location_id(service), service);
        assert_eq!(
            location_id(service),
            Uuid::parse_str("019ab1c0-7a00-7000-8000-000000000000").unwrap(),
            "a location keeps the id it has always had"
        );
        let ids = [service, location_id(service), address_id(service)];
        for (i, id) in ids.iter().enumerate() {
            assert!(!ids[i + 1..].contains(id));
        }
        assert_ne!(location_id(service), location_id(Uuid::now_v7()));
    }
}
