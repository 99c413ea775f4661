//! Money as integer pence: never floats.

use crate::validation::FieldError;
use std::fmt;

/// The ledger's one currency.
pub const CURRENCY: &str = "GBP";

/// The largest single amount accepted from a request: ten million pounds.
pub const MAX_AMOUNT: i64 = 1_000_000_000;

/// An amount in pence. Arithmetic is checked: an overflow is an error, never a wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pence(pub i64);

impl Pence {
    pub const ZERO: Pence = Pence(0);

    /// A positive amount from a request: 1p to [`MAX_AMOUNT`].
    pub fn positive(raw: i64) -> Result<Pence, FieldError> {
        if (1..=MAX_AMOUNT).contains(&raw) {
            Ok(Pence(raw))
        } else {
            Err(FieldError::new(
                "out_of_range",
                format!("must be a whole number of pence from 1 to {MAX_AMOUNT}"),
            ))
        }
    }

    pub fn checked_add(self, other: Pence) -> Option<Pence> {
        self.0.checked_add(other.0).map(Pence)
    }

    pub fn checked_sub(self, other: Pence) -> Option<Pence> {
        self.0.checked_sub(other.0).map(Pence)
    }

    pub fn checked_mul(self, times: i64) -> Option<Pence> {
        self.0.checked_mul(times).map(Pence)
    }
}

impl fmt::Display for Pence {
    /// Pounds and pence, e.g. `£1,234.05` or `-£0.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let pounds = (abs / 100).to_string();
        let mut grouped = String::new();
        for (i, c) in pounds.chars().enumerate() {
            if i > 0 && (pounds.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        write!(f, "{sign}£{grouped}.{:02}", abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_whole_positive_pence_within_bounds() {
        assert_eq!(Pence::positive(1).unwrap(), Pence(1));
        assert!(Pence::positive(0).is_err());
        assert!(Pence::positive(-5).is_err());
        assert!(Pence::positive(MAX_AMOUNT + 1).is_err());
    }

    #[test]
    fn display_in_pounds() {
        assert_eq!(Pence(123_405).to_string(), "£1,234.05");
        assert_eq!(Pence(-50).to_string(), "-£0.50");
        assert_eq!(Pence(100_000_000).to_string(), "£1,000,000.00");
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(Pence(i64::MAX).checked_add(Pence(1)), None);
        assert_eq!(Pence(250).checked_mul(3), Some(Pence(750)));
    }
}
