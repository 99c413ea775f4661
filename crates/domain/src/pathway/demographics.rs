//! The demographics of the Social Prescribing Information Standard's minimum dataset (PRSB
//! v1.1, "Person demographics"): sex, ethnic category and the deprivation decile of where the
//! patient lives, each with the national coding a GP system files it under.

use crate::validation::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The person's phenotypic sex (NHS Data Dictionary, PERSON PHENOTYPIC SEX).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
    /// Unable to be classified as either male or female.
    Indeterminate,
    NotKnown,
}

impl Sex {
    pub const ALL: [Sex; 4] = [Sex::Male, Sex::Female, Sex::Indeterminate, Sex::NotKnown];

    pub const fn code(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Indeterminate => "indeterminate",
            Sex::NotKnown => "not_known",
        }
    }

    /// The NHS Data Dictionary's code.
    pub const fn nhs_code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
            Sex::Indeterminate => "9",
            Sex::NotKnown => "X",
        }
    }

    /// FHIR's administrative gender, which carries it in a Patient resource.
    pub const fn fhir_gender(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Indeterminate => "other",
            Sex::NotKnown => "unknown",
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Sex {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Sex::ALL
            .into_iter()
            .find(|sex| sex.code() == s)
            .ok_or_else(|| {
                format!(
                    "unknown sex {s:?}; use one of: {}",
                    Sex::ALL.map(Sex::code).join(", ")
                )
            })
    }
}

/// The ethnic categories of the NHS Data Dictionary (ETHNIC CATEGORY, the 2001 census
/// classification), as UK Core's `UKCore-EthnicCategoryEngland` codes them: the code and what it
/// means.
pub const ETHNIC_CATEGORIES: [(&str, &str); 18] = [
    ("A", "White - British"),
    ("B", "White - Irish"),
    ("C", "White - Any other White background"),
    ("D", "Mixed - White and Black Caribbean"),
    ("E", "Mixed - White and Black African"),
    ("F", "Mixed - White and Asian"),
    ("G", "Mixed - Any other mixed background"),
    ("H", "Asian or Asian British - Indian"),
    ("J", "Asian or Asian British - Pakistani"),
    ("K", "Asian or Asian British - Bangladeshi"),
    ("L", "Asian or Asian British - Any other Asian background"),
    ("M", "Black or Black British - Caribbean"),
    ("N", "Black or Black British - African"),
    ("P", "Black or Black British - Any other Black background"),
    ("R", "Other Ethnic Groups - Chinese"),
    ("S", "Other Ethnic Groups - Any other ethnic group"),
    ("Z", "Not stated"),
    ("99", "Not known"),
];

/// A code of [`ETHNIC_CATEGORIES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthnicCategory(&'static str);

impl EthnicCategory {
    pub fn parse(code: &str) -> Result<Self, FieldError> {
        let code = code.trim().to_ascii_uppercase();
        ETHNIC_CATEGORIES
            .iter()
            .find(|(known, _)| *known == code)
            .map(|(known, _)| EthnicCategory(known))
            .ok_or_else(|| {
                FieldError::new(
                    "unknown_code",
                    format!(
                        "must be an NHS ethnic category code: {}",
                        ETHNIC_CATEGORIES.map(|(c, _)| c).join(", ")
                    ),
                )
            })
    }

    pub fn code(self) -> &'static str {
        self.0
    }

    pub fn display(self) -> &'static str {
        ETHNIC_CATEGORIES
            .iter()
            .find(|(code, _)| *code == self.0)
            .map(|(_, display)| *display)
            .expect("made from the list")
    }
}

/// The decile of the Index of Multiple Deprivation of the small area the patient lives in (1 the
/// most deprived tenth of England, 10 the least), as the practice's system derives it from the
/// postcode: Waymark records it when supplied, and does not look postcodes up itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImdDecile(u8);

impl ImdDecile {
    pub fn parse(value: i64) -> Result<Self, FieldError> {
        u8::try_from(value)
            .ok()
            .filter(|d| (1..=10).contains(d))
            .map(ImdDecile)
            .ok_or_else(|| {
                FieldError::new(
                    "out_of_range",
                    "must be a decile from 1 (most deprived) to 10",
                )
            })
    }

    pub fn value(self) -> u8 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sexes_round_trip_and_map_to_the_national_and_fhir_codes() {
        for sex in Sex::ALL {
            assert_eq!(sex.code().parse::<Sex>().unwrap(), sex);
        }
        assert!("F".parse::<Sex>().is_err());
        assert_eq!(Sex::Female.nhs_code(), "2");
        assert_eq!(Sex::Indeterminate.fhir_gender(), "other");
        assert_eq!(Sex::NotKnown.fhir_gender(), "unknown");
    }

    #[test]
    fn ethnic_categories_are_the_national_codes() {
        assert_eq!(EthnicCategory::parse("a").unwrap().code(), "A");
        assert_eq!(
            EthnicCategory::parse("H").unwrap().display(),
            "Asian or Asian British - Indian"
        );
        assert_eq!(EthnicCategory::parse("99").unwrap().display(), "Not known");
        for refused in ["I", "O", "Q", "T", "", "AB", "9"] {
            assert_eq!(
                EthnicCategory::parse(refused).unwrap_err().code,
                "unknown_code",
                "{refused}"
            );
        }
    }

    #[test]
    fn deciles_run_from_one_to_ten() {
        assert_eq!(ImdDecile::parse(1).unwrap().value(), 1);
        assert_eq!(ImdDecile::parse(10).unwrap().value(), 10);
        for refused in [0, 11, -1, 256] {
            assert!(ImdDecile::parse(refused).is_err());
        }
    }
}
