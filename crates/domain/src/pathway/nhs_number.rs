//! NHS numbers: ten digits whose last is a Modulus 11 check digit (NHS Data Dictionary).

use crate::validation::FieldError;
use std::fmt;

/// A valid NHS number, stored as its ten digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NhsNumber(String);

impl NhsNumber {
    /// Accepts the digits with or without the usual spaces or hyphens (`943 476 5919`).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::new(
                "invalid_format",
                "an NHS number is ten digits",
            ));
        }
        let Some(check) = check_digit(&digits[..9]) else {
            return Err(FieldError::new(
                "invalid_check_digit",
                "this is not a valid NHS number: no check digit can make it valid",
            ));
        };
        if u32::from(check) != u32::from(digits.as_bytes()[9] - b'0') {
            return Err(FieldError::new(
                "invalid_check_digit",
                "this is not a valid NHS number: its check digit does not match",
            ));
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The Modulus 11 check digit of an NHS number's first nine digits (weights 10 down to 2), or
/// `None` when it would be 10, which makes no valid number.
pub fn check_digit(first_nine: &str) -> Option<u8> {
    let sum: u32 = first_nine
        .bytes()
        .zip((2..=10).rev())
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        check => Some(check as u8),
    }
}

impl fmt::Display for NhsNumber {
    /// The usual 3-3-4 grouping.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", &self.0[..3], &self.0[3..6], &self.0[6..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_numbers_in_any_usual_spelling() {
        for raw in ["9434765919", "943 476 5919", "943-476-5919", "4010232137"] {
            let number = NhsNumber::parse(raw).unwrap();
            assert_eq!(number.as_str().len(), 10);
        }
        assert_eq!(
            NhsNumber::parse("9434765919").unwrap().to_string(),
            "943 476 5919"
        );
    }

    #[test]
    fn wrong_shapes_and_check_digits_are_named() {
        assert_eq!(
            NhsNumber::parse("943476591").unwrap_err().code,
            "invalid_format"
        );
        assert_eq!(
            NhsNumber::parse("94347659190").unwrap_err().code,
            "invalid_format"
        );
        assert_eq!(
            NhsNumber::parse("943476591X").unwrap_err().code,
            "invalid_format"
        );
        assert_eq!(
            NhsNumber::parse("9434765918").unwrap_err().code,
            "invalid_check_digit"
        );
    }

    proptest! {
        #[test]
        fn exactly_one_check_digit_fits_unless_none_can(first_nine in "[0-9]{9}") {
            let fitting: Vec<u32> = (0..10).filter(|d| NhsNumber::parse(&format!("{first_nine}{d}")).is_ok()).collect();
            prop_assert!(fitting.len() <= 1);
        }

        #[test]
        fn changing_one_digit_of_a_valid_number_invalidates_it(first_nine in "[0-9]{9}", position in 0usize..10, delta in 1u8..10) {
            let valid = (0..10).map(|d| format!("{first_nine}{d}")).find(|n| NhsNumber::parse(n).is_ok());
            if let Some(valid) = valid {
                let mut bytes = valid.into_bytes();
                bytes[position] = b'0' + (bytes[position] - b'0' + delta) % 10;
                let changed = String::from_utf8(bytes).unwrap();
                prop_assert!(NhsNumber::parse(&changed).is_err(), "{changed}");
            }
        }
    }
}
