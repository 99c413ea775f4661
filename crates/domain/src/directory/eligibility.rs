//! The ages a service is for, in whole years, and the Open Referral UK filters on them. The
//! free-text `eligibility` stays beside them for everything else ("carers of people with
//! dementia").

use crate::validation::{FieldError, ValidationErrors};

/// The oldest age a service may name.
pub const MAX_AGE: u8 = 130;

/// A service's age limits; either may be absent, meaning no limit that way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EligibleAges {
    minimum: Option<u8>,
    maximum: Option<u8>,
}

impl EligibleAges {
    /// Whole years from 0 to [`MAX_AGE`], the minimum no more than the maximum.
    pub fn parse(minimum: Option<f64>, maximum: Option<f64>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let minimum = minimum.and_then(|age| errors.check("minimum_age", whole_years(age)));
        let maximum = maximum.and_then(|age| errors.check("maximum_age", whole_years(age)));
        if let (Some(minimum), Some(maximum)) = (minimum, maximum) {
            if minimum > maximum {
                errors.add(
                    "maximum_age",
                    "out_of_range",
                    format!("maximum_age {maximum} is below minimum_age {minimum}"),
                );
            }
        }
        errors.finish(|| Self { minimum, maximum })
    }

    pub fn minimum(&self) -> Option<u8> {
        self.minimum
    }

    pub fn maximum(&self) -> Option<u8> {
        self.maximum
    }
}

fn whole_years(age: f64) -> Result<u8, FieldError> {
    if !age.is_finite() || age.fract() != 0.0 {
        return Err(FieldError::new(
            "invalid_format",
            "must be a whole number of years",
        ));
    }
    if !(0.0..=f64::from(MAX_AGE)).contains(&age) {
        return Err(FieldError::new(
            "out_of_range",
            format!("must be between 0 and {MAX_AGE}"),
        ));
    }
    Ok(age as u8)
}

/// The Open Referral UK age filters, as the profile words them: `minimum_age` keeps services
/// whose minimum age is at least the value, `maximum_age` those whose maximum age is at most the
/// value. A service that names no minimum admits from birth (a minimum of 0); one that names no
/// maximum has no upper limit, so a `maximum_age` filter never keeps it. Held as whole-year
/// bounds, which the profile's fractional values round to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgeFilter {
    /// Keep services whose minimum age (0 when none is named) is this or more.
    pub minimum_at_least: Option<u8>,
    /// Keep services that name a maximum age of this or less.
    pub maximum_at_most: Option<u8>,
}

impl AgeFilter {
    /// The `minimum_age` and `maximum_age` query parameters: numbers from 0 to [`MAX_AGE`],
    /// the first no more than the second; blank ones are absent.
    pub fn parse(minimum_age: Option<&str>, maximum_age: Option<&str>) -> Result<Self, String> {
        let age = |name: &str, raw: Option<&str>| -> Result<Option<f64>, String> {
            let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
                return Ok(None);
            };
            match raw.parse::<f64>() {
                Ok(age) if age.is_finite() && (0.0..=f64::from(MAX_AGE)).contains(&age) => {
                    Ok(Some(age))
                }
                _ => Err(format!(
                    "{name} must be a number of years from 0 to {MAX_AGE}, not {raw:?}"
                )),
            }
        };
        let minimum = age("minimum_age", minimum_age)?;
        let maximum = age("maximum_age", maximum_age)?;
        if let (Some(minimum), Some(maximum)) = (minimum, maximum) {
            if minimum > maximum {
                return Err(format!(
                    "minimum_age {minimum} is more than maximum_age {maximum}: no service could meet both"
                ));
            }
        }
        Ok(Self {
            minimum_at_least: minimum.map(|a| a.ceil() as u8),
            maximum_at_most: maximum.map(|a| a.floor() as u8),
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn matches(&self, ages: &EligibleAges) -> bool {
        self.minimum_at_least
            .is_none_or(|at_least| ages.minimum.unwrap_or(0) >= at_least)
            && self
                .maximum_at_most
                .is_none_or(|at_most| ages.maximum.is_some_and(|max| max <= at_most))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(errors: &ValidationErrors) -> Vec<(&str, &str)> {
        errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect()
    }

    #[test]
    fn ages_are_whole_years_in_order() {
        let ages = EligibleAges::parse(Some(18.0), Some(25.0)).unwrap();
        assert_eq!((ages.minimum(), ages.maximum()), (Some(18), Some(25)));
        assert_eq!(
            EligibleAges::parse(None, None).unwrap(),
            EligibleAges::default()
        );
        assert!(EligibleAges::parse(Some(0.0), Some(130.0)).is_ok());
        assert!(EligibleAges::parse(Some(65.0), Some(65.0)).is_ok());
        assert!(EligibleAges::parse(None, Some(0.0)).is_ok());
        let errors = EligibleAges::parse(Some(12.5), Some(131.0)).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                ("minimum_age", "invalid_format"),
                ("maximum_age", "out_of_range")
            ]
        );
        let errors = EligibleAges::parse(Some(-1.0), Some(f64::NAN)).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                ("minimum_age", "out_of_range"),
                ("maximum_age", "invalid_format")
            ]
        );
        let errors = EligibleAges::parse(Some(30.0), Some(18.0)).unwrap_err();
        assert_eq!(fields(&errors), [("maximum_age", "out_of_range")]);
    }

    #[test]
    fn the_filters_read_as_the_profile_words_them() {
        let ages = |min, max| EligibleAges {
            minimum: min,
            maximum: max,
        };
        let adults = AgeFilter::parse(Some("18"), None).unwrap();
        assert!(adults.matches(&ages(Some(18), None)));
        assert!(adults.matches(&ages(Some(65), Some(100))));
        assert!(!adults.matches(&ages(Some(17), None)));
        assert!(
            !adults.matches(&ages(None, None)),
            "no minimum admits from birth"
        );
        let any = AgeFilter::parse(Some("0"), None).unwrap();
        assert!(any.matches(&ages(None, None)));
        let young = AgeFilter::parse(None, Some("25")).unwrap();
        assert!(young.matches(&ages(None, Some(25))));
        assert!(!young.matches(&ages(Some(16), Some(26))));
        assert!(
            !young.matches(&ages(Some(16), None)),
            "no maximum is no limit"
        );
        let both = AgeFilter::parse(Some("16"), Some("25")).unwrap();
        assert!(both.matches(&ages(Some(16), Some(25))));
        assert!(!both.matches(&ages(Some(15), Some(25))));
    }

    #[test]
    fn fractional_filters_round_to_whole_years() {
        let filter = AgeFilter::parse(Some("17.5"), Some("64.9")).unwrap();
        assert_eq!(
            (filter.minimum_at_least, filter.maximum_at_most),
            (Some(18), Some(64))
        );
        assert!(AgeFilter::parse(Some(" "), None).unwrap().is_empty());
        for (min, max) in [
            (Some("adult"), None),
            (Some("-1"), None),
            (None, Some("131")),
            (None, Some("inf")),
            (Some("30"), Some("18")),
        ] {
            assert!(AgeFilter::parse(min, max).is_err(), "{min:?} {max:?}");
        }
    }
}
