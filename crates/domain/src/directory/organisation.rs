//! Provider organisations: the voluntary and community sector bodies that run services.

use super::contact::{optional_email, optional_phone, optional_text, optional_url};
use crate::validation::{bounded_text, FieldError, ValidationErrors};

/// An organisation as submitted, before validation (absent optional fields are `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrganisationInput {
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
}

/// A validated organisation, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganisationDetails {
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
}

/// A registered charity number: England and Wales (6–8 digits), Scotland (SC + 6 digits) or
/// Northern Ireland (NIC/NI + digits). Stored upper-case without spaces.
fn charity_number(raw: &str) -> Result<String, FieldError> {
    let number: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let digits = |s: &str, range: std::ops::RangeInclusive<usize>| {
        range.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    let valid = digits(&number, 6..=8)
        || number
            .strip_prefix("SC")
            .is_some_and(|rest| digits(rest, 6..=6))
        || number
            .strip_prefix("NIC")
            .is_some_and(|rest| digits(rest, 5..=6))
        || number
            .strip_prefix("NI")
            .is_some_and(|rest| digits(rest, 5..=6));
    if valid {
        Ok(number)
    } else {
        Err(FieldError::new(
            "invalid_format",
            "must be a registered charity number, e.g. 1123456 or SC012345",
        ))
    }
}

/// A Companies House number: eight characters, digits or two letters then six digits.
fn company_number(raw: &str) -> Result<String, FieldError> {
    let number = raw.trim().to_ascii_uppercase();
    let bytes = number.as_bytes();
    let valid = bytes.len() == 8
        && bytes[..2].iter().all(u8::is_ascii_alphanumeric)
        && bytes[2..].iter().all(u8::is_ascii_digit);
    if valid {
        Ok(number)
    } else {
        Err(FieldError::new(
            "invalid_format",
            "must be a Companies House number, e.g. 01234567 or SC123456",
        ))
    }
}

impl OrganisationDetails {
    pub fn parse(input: OrganisationInput) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let external_id = optional_text(&mut errors, "external_id", input.external_id, 200);
        let name = errors.check("name", bounded_text(&input.name, 200));
        let charity = input.charity_number.filter(|s| !s.trim().is_empty());
        let charity_number =
            charity.and_then(|raw| errors.check("charity_number", charity_number(&raw)));
        let company = input.company_number.filter(|s| !s.trim().is_empty());
        let company_number =
            company.and_then(|raw| errors.check("company_number", company_number(&raw)));
        let website = optional_url(&mut errors, "website", input.website);
        let email = optional_email(&mut errors, "email", input.email);
        let phone = optional_phone(&mut errors, "phone", input.phone);
        let contact_name = optional_text(&mut errors, "contact_name", input.contact_name, 200);
        let payee_reference =
            optional_text(&mut errors, "payee_reference", input.payee_reference, 100);
        errors.finish(|| OrganisationDetails {
            external_id,
            name: name.expect("checked"),
            charity_number,
            company_number,
            website,
            email,
            phone,
            contact_name,
            payee_reference,
            active: input.active,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charity_and_company_numbers_are_normalised() {
        assert_eq!(charity_number("1 123 456").unwrap(), "1123456");
        assert_eq!(charity_number("sc012345").unwrap(), "SC012345");
        assert_eq!(charity_number("NIC101234").unwrap(), "NIC101234");
        assert!(charity_number("12345").is_err());
        assert!(charity_number("AB123456").is_err());
        assert_eq!(company_number("sc123456").unwrap(), "SC123456");
        assert_eq!(company_number("01234567").unwrap(), "01234567");
        assert!(company_number("1234567").is_err());
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errors = OrganisationDetails::parse(OrganisationInput {
            name: "".into(),
            charity_number: Some("12".into()),
            website: Some("ftp://x".into()),
            email: Some("nope".into()),
            active: true,
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "charity_number", "website", "email"]);
    }

    #[test]
    fn blank_optional_fields_are_absent() {
        let details = OrganisationDetails::parse(OrganisationInput {
            name: "Charnwood Walking".into(),
            charity_number: Some(" ".into()),
            website: Some("".into()),
            active: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(details.charity_number, None);
        assert_eq!(details.website, None);
    }
}
