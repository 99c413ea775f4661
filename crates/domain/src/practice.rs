//! GP practices: the partitions that hold each practice's patients.

use crate::validation::{bounded_text, FieldError, ValidationErrors};
use std::fmt;

/// The NHS Organisation Data Service code of a GP practice: one letter then five digits
/// (e.g. `C82010`). Stored upper-case.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OdsCode(String);

impl OdsCode {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let code = raw.trim().to_ascii_uppercase();
        let bytes = code.as_bytes();
        let valid = bytes.len() == 6
            && bytes[0].is_ascii_uppercase()
            && bytes[1..].iter().all(u8::is_ascii_digit);
        if !valid {
            return Err(FieldError::new(
                "invalid_format",
                "must be a GP practice ODS code: one letter then five digits, e.g. C82010",
            ));
        }
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OdsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const NAME_MAX: usize = 200;

/// A practice to register in a federation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPractice {
    pub ods_code: OdsCode,
    pub name: String,
}

impl NewPractice {
    pub fn parse(ods_code: &str, name: &str) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let ods_code = errors.check("ods_code", OdsCode::parse(ods_code));
        let name = errors.check("name", bounded_text(name, NAME_MAX));
        errors.finish(|| NewPractice {
            ods_code: ods_code.expect("checked"),
            name: name.expect("checked"),
        })
    }
}

/// A change to a practice; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PracticeChanges {
    pub name: Option<String>,
    pub active: Option<bool>,
}

impl PracticeChanges {
    pub fn parse(name: Option<&str>, active: Option<bool>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let name = name.and_then(|name| errors.check("name", bounded_text(name, NAME_MAX)));
        errors.finish(|| PracticeChanges { name, active })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ods_codes_are_normalised_to_upper_case() {
        assert_eq!(OdsCode::parse(" c82010 ").unwrap().as_str(), "C82010");
        for bad in ["", "C8201", "C820100", "882010", "CC2010", "C82O10"] {
            assert!(OdsCode::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn changes_validate_only_what_is_given() {
        assert_eq!(
            PracticeChanges::parse(None, Some(false)).unwrap().active,
            Some(false)
        );
        assert_eq!(
            PracticeChanges::parse(Some(""), None).unwrap_err().0[0].field,
            "name"
        );
    }
}
