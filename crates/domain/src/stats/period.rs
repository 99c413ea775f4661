//! The period a statistic covers: whole weeks (Monday to Sunday, as ISO 8601 counts them) or
//! whole calendar months, UTC.

use chrono::{Datelike, Days, Months, NaiveDate};
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BucketKind {
    Week,
    Month,
}

impl BucketKind {
    pub const ALL: [BucketKind; 2] = [BucketKind::Week, BucketKind::Month];

    pub const fn code(self) -> &'static str {
        match self {
            BucketKind::Week => "week",
            BucketKind::Month => "month",
        }
    }

    /// The first day of the bucket holding `day`.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            BucketKind::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            BucketKind::Month => day.with_day(1).expect("every month has a first day"),
        }
    }

    /// The first day of the bucket after the one starting on `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            BucketKind::Week => start + Days::new(7),
            BucketKind::Month => start + Months::new(1),
        }
    }

    /// The most buckets one question may span: two years.
    pub const fn max_buckets(self) -> usize {
        match self {
            BucketKind::Week => 105,
            BucketKind::Month => 24,
        }
    }

    /// Buckets of the period a question without one covers, ending with today's.
    pub const fn default_buckets(self) -> u32 {
        match self {
            BucketKind::Week => 13,
            BucketKind::Month => 12,
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown bucket `{0}`: use week or month")]
pub struct UnknownBucketKind(pub String);

impl FromStr for BucketKind {
    type Err = UnknownBucketKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BucketKind::ALL
            .into_iter()
            .find(|kind| kind.code() == s)
            .ok_or_else(|| UnknownBucketKind(s.to_owned()))
    }
}

/// Whole buckets from `from` to `to`, both days included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    kind: BucketKind,
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("`from` must be the first day of a {0} (a Monday for weeks), not {1}")]
    FromNotAligned(&'static str, NaiveDate),
    #[error("`to` must be the last day of a {0} (a Sunday for weeks), not {1}")]
    ToNotAligned(&'static str, NaiveDate),
    #[error("`to` ({to}) is before `from` ({from})")]
    Reversed { from: NaiveDate, to: NaiveDate },
    #[error("a period spans at most {max} {kind}s; this one spans {found}")]
    TooLong {
        kind: &'static str,
        max: usize,
        found: usize,
    },
}

impl Period {
    /// The period asked for; either end left out is the default's (the buckets ending with
    /// today's).
    pub fn parse(
        kind: BucketKind,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<Self, PeriodError> {
        let default_to = kind.next(kind.start_of(today)) - Days::new(1);
        let to = to.unwrap_or(default_to);
        let from = match from {
            Some(from) => from,
            None => {
                let mut start = kind.start_of(to);
                for _ in 1..kind.default_buckets() {
                    start = match kind {
                        BucketKind::Week => start - Days::new(7),
                        BucketKind::Month => start - Months::new(1),
                    };
                }
                start
            }
        };
        if kind.start_of(from) != from {
            return Err(PeriodError::FromNotAligned(kind.code(), from));
        }
        if kind.next(kind.start_of(to)) - Days::new(1) != to {
            return Err(PeriodError::ToNotAligned(kind.code(), to));
        }
        if to < from {
            return Err(PeriodError::Reversed { from, to });
        }
        let period = Self { kind, from, to };
        let found = period.bucket_count();
        if found > kind.max_buckets() {
            return Err(PeriodError::TooLong {
                kind: kind.code(),
                max: kind.max_buckets(),
                found,
            });
        }
        Ok(period)
    }

    pub fn kind(&self) -> BucketKind {
        self.kind
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn to(&self) -> NaiveDate {
        self.to
    }

    /// The first day of each bucket, in order.
    pub fn buckets(&self) -> Vec<NaiveDate> {
        let mut starts = Vec::new();
        let mut start = self.from;
        while start <= self.to {
            starts.push(start);
            start = self.kind.next(start);
        }
        starts
    }

    fn bucket_count(&self) -> usize {
        match self.kind {
            BucketKind::Week => ((self.to - self.from).num_days() as usize + 1) / 7,
            BucketKind::Month => {
                let months = |d: NaiveDate| d.year() as i64 * 12 + i64::from(d.month0());
                (months(self.to) - months(self.from) + 1) as usize
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_default_is_the_buckets_ending_with_todays() {
        let today = day(2026, 12, 4);
        let months = Period::parse(BucketKind::Month, None, None, today).unwrap();
        assert_eq!(
            (months.from(), months.to()),
            (day(2026, 1, 1), day(2026, 12, 31))
        );
        assert_eq!(months.buckets().len(), 12);
        let weeks = Period::parse(BucketKind::Week, None, None, today).unwrap();
        assert_eq!(weeks.to(), day(2026, 12, 6));
        assert_eq!(weeks.from().weekday(), chrono::Weekday::Mon);
        assert_eq!(weeks.buckets().len(), 13);
        assert_eq!(weeks.buckets()[12], day(2026, 11, 30));
    }

    #[test]
    fn ends_must_be_whole_buckets_in_order_and_within_two_years() {
        let today = day(2026, 12, 4);
        let month = |from, to| Period::parse(BucketKind::Month, Some(from), Some(to), today);
        assert!(month(day(2026, 2, 1), day(2026, 2, 28)).is_ok());
        assert!(matches!(
            month(day(2026, 2, 2), day(2026, 2, 28)),
            Err(PeriodError::FromNotAligned("month", _))
        ));
        assert!(matches!(
            month(day(2026, 2, 1), day(2026, 2, 27)),
            Err(PeriodError::ToNotAligned("month", _))
        ));
        assert!(matches!(
            month(day(2026, 3, 1), day(2026, 2, 28)),
            Err(PeriodError::Reversed { .. })
        ));
        assert!(month(day(2025, 1, 1), day(2026, 12, 31)).is_ok());
        assert!(matches!(
            month(day(2024, 12, 1), day(2026, 12, 31)),
            Err(PeriodError::TooLong { found: 25, .. })
        ));
        let week = |from, to| Period::parse(BucketKind::Week, Some(from), Some(to), today);
        assert_eq!(
            week(day(2026, 11, 30), day(2026, 12, 6)).unwrap().buckets(),
            [day(2026, 11, 30)]
        );
        assert!(week(day(2026, 12, 1), day(2026, 12, 6)).is_err());
        assert!(week(day(2026, 11, 30), day(2026, 12, 5)).is_err());
    }

    #[test]
    fn buckets_start_where_the_calendar_says() {
        assert_eq!(
            BucketKind::Week.start_of(day(2026, 12, 6)),
            day(2026, 11, 30)
        );
        assert_eq!(
            BucketKind::Week.start_of(day(2026, 11, 30)),
            day(2026, 11, 30)
        );
        assert_eq!(
            BucketKind::Month.start_of(day(2024, 2, 29)),
            day(2024, 2, 1)
        );
        assert_eq!(BucketKind::Month.next(day(2026, 12, 1)), day(2027, 1, 1));
    }
}
