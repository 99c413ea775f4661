//! Services in the directory: what a provider offers, to whom, where and how.

use super::contact::{
    long_text, optional_email, optional_long_text, optional_phone, optional_text, optional_url,
};
use super::eligibility::EligibleAges;
use super::geo::GeoPoint;
use super::need::NeedCategory;
use super::schedule::{OpeningPeriodInput, WeeklySchedule};
use crate::ids::OrganisationId;
use crate::validation::{bounded_text, FieldError, ValidationErrors};
use std::fmt;
use std::str::FromStr;

/// How a patient takes part in a service.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    InPerson,
    Phone,
    Online,
}

impl DeliveryMode {
    pub const ALL: [DeliveryMode; 3] = [
        DeliveryMode::InPerson,
        DeliveryMode::Phone,
        DeliveryMode::Online,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            DeliveryMode::InPerson => "in_person",
            DeliveryMode::Phone => "phone",
            DeliveryMode::Online => "online",
        }
    }
}

impl fmt::Display for DeliveryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery mode `{0}`; use in_person, phone or online")]
pub struct UnknownDeliveryMode(pub String);

impl FromStr for DeliveryMode {
    type Err = UnknownDeliveryMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.code() == s)
            .ok_or_else(|| UnknownDeliveryMode(s.to_owned()))
    }
}

/// A UK postcode, normalised to upper case with one space before the inward code (`LE11 1AA`).
pub fn postcode(raw: &str) -> Result<String, FieldError> {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let invalid = || FieldError::new("invalid_format", "must be a UK postcode, e.g. LE11 1AA");
    if !(5..=7).contains(&compact.len()) || !compact.is_ascii() {
        return Err(invalid());
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    let inward_ok = {
        let b = inward.as_bytes();
        b[0].is_ascii_digit() && b[1].is_ascii_alphabetic() && b[2].is_ascii_alphabetic()
    };
    // A9, A99, A9A, AA9, AA99, AA9A; anything but a letter or a digit fits no shape.
    let shape: String = outward
        .chars()
        .map(|c| match c {
            '0'..='9' => '9',
            'A'..='Z' => 'A',
            _ => '?',
        })
        .collect();
    let outward_ok = matches!(
        shape.as_str(),
        "A9" | "A99" | "A9A" | "AA9" | "AA99" | "AA9A"
    );
    if inward_ok && outward_ok {
        Ok(format!("{outward} {inward}"))
    } else {
        Err(invalid())
    }
}

/// A service as submitted, before validation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceInput {
    pub organisation_id: Option<OrganisationId>,
    pub external_id: Option<String>,
    pub name: String,
    pub description: String,
    pub need_categories: Vec<NeedCategory>,
    pub eligibility: Option<String>,
    pub minimum_age: Option<f64>,
    pub maximum_age: Option<f64>,
    pub delivery_modes: Vec<DeliveryMode>,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub opening_times: Option<String>,
    pub schedules: Vec<OpeningPeriodInput>,
    pub capacity: Option<i32>,
    pub accepting_referrals: bool,
    pub cost_to_patient: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub website: Option<String>,
    pub active: bool,
}

/// A validated service, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceDetails {
    pub organisation_id: OrganisationId,
    pub external_id: Option<String>,
    pub name: String,
    pub description: String,
    pub need_categories: Vec<NeedCategory>,
    /// Who the service is for, in words.
    pub eligibility: Option<String>,
    pub ages: EligibleAges,
    pub delivery_modes: Vec<DeliveryMode>,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub location: Option<GeoPoint>,
    /// When the service runs, in words.
    pub opening_times: Option<String>,
    /// When the service runs, as regular weekly opening hours.
    pub schedule: WeeklySchedule,
    /// How many people the service can take on at a time, if it says.
    pub capacity: Option<i32>,
    pub accepting_referrals: bool,
    /// What the patient pays, in words ("Free", "£2 a session").
    pub cost_to_patient: String,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub website: Option<String>,
    pub active: bool,
}

impl ServiceDetails {
    pub fn parse(input: ServiceInput) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if input.organisation_id.is_none() {
            errors.add(
                "organisation_id",
                "required",
                "the organisation that runs the service is required",
            );
        }
        let external_id = optional_text(&mut errors, "external_id", input.external_id, 200);
        let name = errors.check("name", bounded_text(&input.name, 200));
        let description = errors.check("description", long_text(&input.description, 5000));
        let mut need_categories = input.need_categories;
        need_categories.sort();
        need_categories.dedup();
        if need_categories.is_empty() {
            errors.add(
                "need_categories",
                "required",
                "at least one need category is required",
            );
        }
        let eligibility = optional_long_text(&mut errors, "eligibility", input.eligibility, 2000);
        let ages = EligibleAges::parse(input.minimum_age, input.maximum_age)
            .map_err(|e| errors.0.extend(e.0))
            .ok();
        let mut delivery_modes = input.delivery_modes;
        delivery_modes.sort();
        delivery_modes.dedup();
        if delivery_modes.is_empty() {
            errors.add(
                "delivery_modes",
                "required",
                "at least one delivery mode is required",
            );
        }
        let address = optional_long_text(&mut errors, "address", input.address, 500);
        let postcode = input
            .postcode
            .filter(|p| !p.trim().is_empty())
            .and_then(|raw| errors.check("postcode", postcode(&raw)));
        let location = match (input.latitude, input.longitude) {
            (None, None) => None,
            (Some(lat), Some(lng)) => errors.check("latitude", GeoPoint::new(lat, lng)),
            (Some(_), None) => {
                errors.add("longitude", "required", "give longitude with latitude");
                None
            }
            (None, Some(_)) => {
                errors.add("latitude", "required", "give latitude with longitude");
                None
            }
        };
        let opening_times =
            optional_long_text(&mut errors, "opening_times", input.opening_times, 1000);
        let schedule = WeeklySchedule::parse(&input.schedules)
            .map_err(|e| errors.0.extend(e.0))
            .ok();
        if input.capacity.is_some_and(|c| c < 0) {
            errors.add("capacity", "out_of_range", "capacity cannot be negative");
        }
        let cost_to_patient = match input.cost_to_patient.filter(|c| !c.trim().is_empty()) {
            None => Some("Free".to_owned()),
            Some(raw) => errors.check("cost_to_patient", bounded_text(&raw, 200)),
        };
        let contact_email = optional_email(&mut errors, "contact_email", input.contact_email);
        let contact_phone = optional_phone(&mut errors, "contact_phone", input.contact_phone);
        let website = optional_url(&mut errors, "website", input.website);
        errors.finish(|| ServiceDetails {
            organisation_id: input.organisation_id.expect("checked"),
            external_id,
            name: name.expect("checked"),
            description: description.expect("checked"),
            need_categories,
            eligibility,
            ages: ages.expect("checked"),
            delivery_modes,
            address,
            postcode,
            location,
            opening_times,
            schedule: schedule.expect("checked"),
            capacity: input.capacity,
            accepting_referrals: input.accepting_referrals,
            cost_to_patient: cost_to_patient.expect("checked"),
            contact_email,
            contact_phone,
            website,
            active: input.active,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walking_group() -> ServiceInput {
        ServiceInput {
            organisation_id: Some(OrganisationId::new()),
            name: "Health walks".into(),
            description: "Gentle group walks around Loughborough.".into(),
            need_categories: vec![
                NeedCategory::PhysicalActivity,
                NeedCategory::LonelinessIsolation,
                NeedCategory::PhysicalActivity,
            ],
            delivery_modes: vec![DeliveryMode::InPerson],
            postcode: Some("le111aa".into()),
            latitude: Some(52.77),
            longitude: Some(-1.2),
            accepting_referrals: true,
            active: true,
            ..Default::default()
        }
    }

    #[test]
    fn postcodes_are_normalised_and_shape_checked() {
        for (raw, expected) in [
            ("le11 1aa", "LE11 1AA"),
            ("M11AE", "M1 1AE"),
            ("ec1a1bb", "EC1A 1BB"),
            ("W1A 0AX", "W1A 0AX"),
        ] {
            assert_eq!(postcode(raw).unwrap(), expected);
        }
        for bad in [
            "",
            "LE11",
            "LE11 1A1",
            "1E11 1AA",
            "LE111 1AA",
            "LÉ11 1AA",
            "-1 1AA",
            "L+1 1AA",
        ] {
            assert!(postcode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_valid_service_is_normalised() {
        let details = ServiceDetails::parse(walking_group()).unwrap();
        assert_eq!(
            details.need_categories,
            vec![
                NeedCategory::LonelinessIsolation,
                NeedCategory::PhysicalActivity
            ]
        );
        assert_eq!(details.postcode.as_deref(), Some("LE11 1AA"));
        assert_eq!(details.cost_to_patient, "Free");
        assert!(details.location.is_some());
    }

    #[test]
    fn ages_and_opening_hours_are_parsed_with_the_rest() {
        let details = ServiceDetails::parse(ServiceInput {
            minimum_age: Some(18.0),
            maximum_age: Some(65.0),
            schedules: vec![
                OpeningPeriodInput {
                    day: "thursday".into(),
                    opens_at: "13:00".into(),
                    closes_at: "15:00".into(),
                },
                OpeningPeriodInput {
                    day: "TU".into(),
                    opens_at: "10:00".into(),
                    closes_at: "11:30".into(),
                },
            ],
            ..walking_group()
        })
        .unwrap();
        assert_eq!(
            (details.ages.minimum(), details.ages.maximum()),
            (Some(18), Some(65))
        );
        assert_eq!(
            details.schedule.to_text(),
            "tue 10:00-11:30; thu 13:00-15:00"
        );
        let errors = ServiceDetails::parse(ServiceInput {
            minimum_age: Some(70.0),
            maximum_age: Some(65.0),
            schedules: vec![OpeningPeriodInput {
                day: "tuesday".into(),
                opens_at: "10:00".into(),
                closes_at: "09:00".into(),
            }],
            ..walking_group()
        })
        .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["maximum_age", "schedules[0].closes_at"]);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let input = ServiceInput {
            organisation_id: None,
            name: " ".into(),
            need_categories: vec![],
            delivery_modes: vec![],
            latitude: Some(52.0),
            longitude: None,
            capacity: Some(-1),
            contact_email: Some("x".into()),
            ..walking_group()
        };
        let errors = ServiceDetails::parse(input).unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "organisation_id",
                "name",
                "need_categories",
                "delivery_modes",
                "longitude",
                "capacity",
                "contact_email"
            ]
        );
    }
}
