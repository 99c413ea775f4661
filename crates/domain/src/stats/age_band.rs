//! Age bands, by age in whole years on the day of the referral. The database's
//! `waymark_age_band` is the same rule (the statistics triggers band a referral as it is made);
//! a test compares the two.

use chrono::{Datelike, NaiveDate};
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AgeBand {
    Under18,
    From18To24,
    From25To34,
    From35To44,
    From45To54,
    From55To64,
    From65To74,
    From75To84,
    From85,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown age band `{0}`")]
pub struct UnknownAgeBand(pub String);

impl AgeBand {
    pub const ALL: [AgeBand; 9] = [
        AgeBand::Under18,
        AgeBand::From18To24,
        AgeBand::From25To34,
        AgeBand::From35To44,
        AgeBand::From45To54,
        AgeBand::From55To64,
        AgeBand::From65To74,
        AgeBand::From75To84,
        AgeBand::From85,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            AgeBand::Under18 => "0_17",
            AgeBand::From18To24 => "18_24",
            AgeBand::From25To34 => "25_34",
            AgeBand::From35To44 => "35_44",
            AgeBand::From45To54 => "45_54",
            AgeBand::From55To64 => "55_64",
            AgeBand::From65To74 => "65_74",
            AgeBand::From75To84 => "75_84",
            AgeBand::From85 => "85_plus",
        }
    }

    /// Age in whole years on `on` (a birthday counts from its day; 29 February from 1 March in
    /// other years), as PostgreSQL's `age()` counts it.
    pub fn age(date_of_birth: NaiveDate, on: NaiveDate) -> i32 {
        let mut years = on.year() - date_of_birth.year();
        if (on.month(), on.day()) < (date_of_birth.month(), date_of_birth.day()) {
            years -= 1;
        }
        years
    }

    pub fn of_age(age: i32) -> Self {
        match age {
            ..=17 => AgeBand::Under18,
            18..=24 => AgeBand::From18To24,
            25..=34 => AgeBand::From25To34,
            35..=44 => AgeBand::From35To44,
            45..=54 => AgeBand::From45To54,
            55..=64 => AgeBand::From55To64,
            65..=74 => AgeBand::From65To74,
            75..=84 => AgeBand::From75To84,
            _ => AgeBand::From85,
        }
    }

    pub fn at(date_of_birth: NaiveDate, on: NaiveDate) -> Self {
        Self::of_age(Self::age(date_of_birth, on))
    }
}

impl FromStr for AgeBand {
    type Err = UnknownAgeBand;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgeBand::ALL
            .into_iter()
            .find(|band| band.code() == s)
            .ok_or_else(|| UnknownAgeBand(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_birthday_counts_from_its_day() {
        assert_eq!(AgeBand::age(day(2000, 6, 15), day(2018, 6, 14)), 17);
        assert_eq!(AgeBand::age(day(2000, 6, 15), day(2018, 6, 15)), 18);
        assert_eq!(
            AgeBand::at(day(2000, 6, 15), day(2018, 6, 14)),
            AgeBand::Under18
        );
        assert_eq!(
            AgeBand::at(day(2000, 6, 15), day(2018, 6, 15)),
            AgeBand::From18To24
        );
        assert_eq!(AgeBand::age(day(2000, 2, 29), day(2018, 2, 28)), 17);
        assert_eq!(AgeBand::age(day(2000, 2, 29), day(2018, 3, 1)), 18);
    }

    #[test]
    fn bands_cover_every_age_in_order() {
        let mut last = AgeBand::Under18;
        for age in 0..120 {
            let band = AgeBand::of_age(age);
            assert!(band >= last);
            last = band;
        }
        assert_eq!(AgeBand::of_age(85), AgeBand::From85);
        assert_eq!(AgeBand::of_age(84), AgeBand::From75To84);
        for band in AgeBand::ALL {
            assert_eq!(band.code().parse::<AgeBand>(), Ok(band));
        }
        assert!("all".parse::<AgeBand>().is_err());
    }
}
