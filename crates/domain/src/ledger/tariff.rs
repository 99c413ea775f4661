//! Tariffs: the price in pence of one unit of an activity type at a service, for a period. The
//! price of an activity is the tariff in force on the day it was delivered.

use super::money::Pence;
use crate::pathway::onward::ActivityType;
use crate::validation::ValidationErrors;
use chrono::NaiveDate;

/// The days a tariff is in force: from `from` to `to`, both included; open-ended without `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

impl Period {
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && self.to.is_none_or(|to| day <= to)
    }

    pub fn overlaps(&self, other: &Period) -> bool {
        self.from <= other.to.unwrap_or(NaiveDate::MAX)
            && other.from <= self.to.unwrap_or(NaiveDate::MAX)
    }
}

/// A valid tariff, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTariff {
    pub activity_type: ActivityType,
    pub unit_price: Pence,
    pub period: Period,
}

impl NewTariff {
    pub fn parse(
        activity_type: &str,
        unit_price_pence: i64,
        effective_from: NaiveDate,
        effective_to: Option<NaiveDate>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let activity_type = errors.check("activity_type", ActivityType::parse(activity_type));
        let unit_price = errors.check("unit_price_pence", Pence::positive(unit_price_pence));
        if effective_to.is_some_and(|to| to < effective_from) {
            errors.add(
                "effective_to",
                "out_of_range",
                "must be on or after effective_from",
            );
        }
        errors.finish(|| NewTariff {
            activity_type: activity_type.expect("checked"),
            unit_price: unit_price.expect("checked"),
            period: Period {
                from: effective_from,
                to: effective_to,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 4, d).unwrap()
    }

    #[test]
    fn periods_include_both_ends_and_may_be_open() {
        let april = Period {
            from: day(1),
            to: Some(day(30)),
        };
        assert!(april.contains(day(1)) && april.contains(day(30)));
        assert!(!april.contains(day(1).pred_opt().unwrap()));
        let open = Period {
            from: day(15),
            to: None,
        };
        assert!(open.contains(NaiveDate::from_ymd_opt(2030, 1, 1).unwrap()));
        assert!(april.overlaps(&open));
        let may = Period {
            from: NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(),
            to: None,
        };
        assert!(!april.overlaps(&may));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errors = NewTariff::parse("Session Attended", 0, day(10), Some(day(9))).unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["activity_type", "unit_price_pence", "effective_to"]
        );
        let tariff = NewTariff::parse("session_attended", 1500, day(1), None).unwrap();
        assert_eq!(tariff.unit_price, Pence(1500));
    }
}
