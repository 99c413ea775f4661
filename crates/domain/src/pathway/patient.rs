//! Patients registered at a practice, and what they consented to share with providers and
//! beyond the practice.

use super::demographics::{EthnicCategory, ImdDecile, Sex};
use super::nhs_number::NhsNumber;
use crate::directory::contact::{optional_email, optional_phone, optional_text};
use crate::directory::service::postcode;
use crate::validation::{bounded_text, ValidationErrors};
use chrono::NaiveDate;

/// The oldest date of birth accepted: nobody registered today was born before it.
const EARLIEST_BIRTH: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(date) => date,
    None => panic!("1900-01-01 is a date"),
};

/// What the patient agreed may be shared. Without consent a provider sees the referral and its
/// needs, never who the patient is; and what leaves the practice's own records for the GP
/// system or the referrer (the message back to the GP) is the coded events only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Consent {
    /// The patient's name.
    pub share_name_with_providers: bool,
    /// Telephone number and email address.
    pub share_contact_with_providers: bool,
    /// The story of the referral beyond its codes (what matters, concerns, goals, support,
    /// wellbeing scores, outcome notes) in what leaves the practice: the message back to the
    /// GP and referrer, and the FHIR export.
    #[serde(default)]
    pub share_beyond_practice: bool,
}

/// A patient's details as a client sends them, before validation.
#[derive(Clone, Debug, Default)]
pub struct PatientInput {
    pub nhs_number: String,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub sex: Option<Sex>,
    /// An NHS ethnic category code.
    pub ethnic_category: Option<String>,
    pub imd_decile: Option<i64>,
    pub consent: Consent,
}

/// A valid patient, ready to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPatient {
    pub nhs_number: NhsNumber,
    pub details: PatientDetails,
}

/// Everything about a patient except the NHS number, which never changes once registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientDetails {
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: NaiveDate,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub sex: Option<Sex>,
    pub ethnic_category: Option<EthnicCategory>,
    pub imd_decile: Option<ImdDecile>,
    pub consent: Consent,
}

impl NewPatient {
    /// Validates every field, reporting each bad one; `today` bounds the date of birth.
    pub fn parse(input: PatientInput, today: NaiveDate) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let nhs_number = errors.check("nhs_number", NhsNumber::parse(&input.nhs_number));
        let details = PatientDetails::check(&mut errors, input, today);
        errors.finish(|| NewPatient {
            nhs_number: nhs_number.expect("checked"),
            details: details.expect("checked"),
        })
    }
}

impl PatientDetails {
    /// Validates replacement details (the whole record but its NHS number).
    pub fn parse(input: PatientInput, today: NaiveDate) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let details = Self::check(&mut errors, input, today);
        errors.finish(|| details.expect("checked"))
    }

    fn check(errors: &mut ValidationErrors, input: PatientInput, today: NaiveDate) -> Option<Self> {
        let given_name = errors.check("given_name", bounded_text(&input.given_name, 100));
        let family_name = errors.check("family_name", bounded_text(&input.family_name, 100));
        if input.date_of_birth > today {
            errors.add("date_of_birth", "in_future", "must not be in the future");
        } else if input.date_of_birth < EARLIEST_BIRTH {
            errors.add(
                "date_of_birth",
                "out_of_range",
                "must be on or after 1900-01-01",
            );
        }
        let email = optional_email(errors, "email", input.email);
        let phone = optional_phone(errors, "phone", input.phone);
        let address = optional_text(errors, "address", input.address, 300);
        let postcode = input
            .postcode
            .filter(|p| !p.trim().is_empty())
            .and_then(|p| errors.check("postcode", postcode(&p)));
        let ethnic_category = input
            .ethnic_category
            .filter(|e| !e.trim().is_empty())
            .and_then(|e| errors.check("ethnic_category", EthnicCategory::parse(&e)));
        let imd_decile = input
            .imd_decile
            .and_then(|d| errors.check("imd_decile", ImdDecile::parse(d)));
        if !errors.is_empty() {
            return None;
        }
        Some(Self {
            given_name: given_name?,
            family_name: family_name?,
            date_of_birth: input.date_of_birth,
            email,
            phone,
            address,
            postcode,
            sex: input.sex,
            ethnic_category,
            imd_decile,
            consent: input.consent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    fn input() -> PatientInput {
        PatientInput {
            nhs_number: "943 476 5919".into(),
            given_name: " Ada ".into(),
            family_name: "Lovelace".into(),
            date_of_birth: NaiveDate::from_ymd_opt(1950, 12, 10).unwrap(),
            email: None,
            phone: Some("01509 123456".into()),
            address: None,
            postcode: Some("le11 1aa".into()),
            sex: Some(Sex::Female),
            ethnic_category: Some("b".into()),
            imd_decile: Some(3),
            consent: Consent {
                share_name_with_providers: true,
                share_contact_with_providers: false,
                share_beyond_practice: true,
            },
        }
    }

    #[test]
    fn a_valid_patient_is_normalised() {
        let patient = NewPatient::parse(input(), today()).unwrap();
        assert_eq!(patient.nhs_number.as_str(), "9434765919");
        assert_eq!(patient.details.given_name, "Ada");
        assert_eq!(patient.details.email, None);
        assert_eq!(patient.details.postcode.as_deref(), Some("LE11 1AA"));
        let blank_email = PatientInput {
            email: Some("".into()),
            ..input()
        };
        assert!(NewPatient::parse(blank_email, today()).is_err());
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut bad = input();
        bad.nhs_number = "9434765918".into();
        bad.given_name = " ".into();
        bad.date_of_birth = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        bad.email = Some("not-an-email".into());
        bad.postcode = Some("nowhere".into());
        bad.ethnic_category = Some("Q".into());
        bad.imd_decile = Some(11);
        let errors = NewPatient::parse(bad, today()).unwrap_err();
        let fields: Vec<(&str, &str)> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            fields,
            [
                ("nhs_number", "invalid_check_digit"),
                ("given_name", "required"),
                ("date_of_birth", "in_future"),
                ("email", "invalid_format"),
                ("postcode", "invalid_format"),
                ("ethnic_category", "unknown_code"),
                ("imd_decile", "out_of_range"),
            ]
        );
    }

    #[test]
    fn very_old_dates_of_birth_are_refused() {
        let mut old = input();
        old.date_of_birth = NaiveDate::from_ymd_opt(1899, 12, 31).unwrap();
        let errors = PatientDetails::parse(old, today()).unwrap_err();
        assert_eq!(errors.0[0].code, "out_of_range");
    }
}
