//! When a service runs: its regular weekly opening hours, as periods of one day of the week from
//! an opening to a closing time, in UK local time (what a sign on the door would say, through
//! GMT and BST alike). The free-text `opening_times` stay beside them for what a week cannot say
//! ("not on bank holidays", "every other Tuesday").

use crate::validation::{FieldError, ValidationErrors};
use std::fmt;
use std::str::FromStr;

/// The most opening periods one service may have: four a day, every day, and some to spare.
pub const MAX_OPENING_PERIODS: usize = 50;

/// A day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DayOfWeek {
    Monday = 1,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl DayOfWeek {
    pub const ALL: [DayOfWeek; 7] = [
        DayOfWeek::Monday,
        DayOfWeek::Tuesday,
        DayOfWeek::Wednesday,
        DayOfWeek::Thursday,
        DayOfWeek::Friday,
        DayOfWeek::Saturday,
        DayOfWeek::Sunday,
    ];

    /// The code Waymark's API uses: `monday` to `sunday`.
    pub const fn code(self) -> &'static str {
        match self {
            DayOfWeek::Monday => "monday",
            DayOfWeek::Tuesday => "tuesday",
            DayOfWeek::Wednesday => "wednesday",
            DayOfWeek::Thursday => "thursday",
            DayOfWeek::Friday => "friday",
            DayOfWeek::Saturday => "saturday",
            DayOfWeek::Sunday => "sunday",
        }
    }

    /// The RFC 5545 `BYDAY` code that Open Referral schedules use: `MO` to `SU`.
    pub const fn rfc5545(self) -> &'static str {
        match self {
            DayOfWeek::Monday => "MO",
            DayOfWeek::Tuesday => "TU",
            DayOfWeek::Wednesday => "WE",
            DayOfWeek::Thursday => "TH",
            DayOfWeek::Friday => "FR",
            DayOfWeek::Saturday => "SA",
            DayOfWeek::Sunday => "SU",
        }
    }

    /// ISO 8601's number of the day: 1 for Monday to 7 for Sunday.
    pub const fn number(self) -> i16 {
        self as i16
    }

    pub fn from_number(number: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.number() == number)
    }
}

impl fmt::Display for DayOfWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown day `{0}`; use monday to sunday, mon to sun, or MO to SU")]
pub struct UnknownDay(pub String);

impl FromStr for DayOfWeek {
    type Err = UnknownDay;

    /// A day's code, its first three letters or its RFC 5545 code, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|d| {
                wanted == d.code()
                    || wanted == d.code()[..3]
                    || wanted == d.rfc5545().to_ascii_lowercase()
            })
            .ok_or_else(|| UnknownDay(s.trim().to_owned()))
    }
}

/// A time of day to the minute, from 00:00 to 23:59.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeOfDay {
    minutes: u16,
}

impl TimeOfDay {
    pub fn from_hm(hour: u32, minute: u32) -> Option<Self> {
        (hour < 24 && minute < 60).then(|| Self {
            minutes: (hour * 60 + minute) as u16,
        })
    }

    /// `HH:MM` (the hour may have one digit), or `HH:MM:00`: opening hours are given to the
    /// minute.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                "invalid_format",
                format!(
                    "{:?} is not a time of day as HH:MM, from 00:00 to 23:59",
                    raw.trim()
                ),
            )
        };
        let mut parts = raw.trim().split(':');
        let (hour, minute) = (
            parts.next().ok_or_else(invalid)?,
            parts.next().ok_or_else(invalid)?,
        );
        match parts.next() {
            None | Some("00") => {}
            Some(_) => {
                return Err(FieldError::new(
                    "invalid_format",
                    "times are given to the minute (HH:MM)",
                ))
            }
        }
        if parts.next().is_some()
            || !(1..=2).contains(&hour.len())
            || minute.len() != 2
            || !hour
                .bytes()
                .chain(minute.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(invalid());
        }
        let number = |digits: &str| digits.parse::<u32>().map_err(|_| invalid());
        Self::from_hm(number(hour)?, number(minute)?).ok_or_else(invalid)
    }

    pub fn hour(self) -> u32 {
        u32::from(self.minutes / 60)
    }

    pub fn minute(self) -> u32 {
        u32::from(self.minutes % 60)
    }

    pub fn to_naive_time(self) -> chrono::NaiveTime {
        chrono::NaiveTime::from_hms_opt(self.hour(), self.minute(), 0).expect("in range")
    }

    /// The time, if it falls on a whole minute.
    pub fn from_naive_time(time: chrono::NaiveTime) -> Option<Self> {
        use chrono::Timelike;
        (time.second() == 0 && time.nanosecond() == 0)
            .then(|| Self::from_hm(time.hour(), time.minute()))
            .flatten()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

/// One regular opening: a day of the week, from `opens_at` until `closes_at` later that day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpeningPeriod {
    day: DayOfWeek,
    opens_at: TimeOfDay,
    closes_at: TimeOfDay,
}

impl OpeningPeriod {
    /// A period closes after it opens, on the same day: one that runs past midnight is two
    /// periods, one on each day.
    pub fn new(
        day: DayOfWeek,
        opens_at: TimeOfDay,
        closes_at: TimeOfDay,
    ) -> Result<Self, FieldError> {
        if closes_at <= opens_at {
            return Err(FieldError::new(
                "out_of_range",
                format!(
                    "{day} closes at {closes_at}, not after it opens at {opens_at}; \
                     a period past midnight is two periods, one on each day"
                ),
            ));
        }
        Ok(Self {
            day,
            opens_at,
            closes_at,
        })
    }

    pub fn day(&self) -> DayOfWeek {
        self.day
    }

    pub fn opens_at(&self) -> TimeOfDay {
        self.opens_at
    }

    pub fn closes_at(&self) -> TimeOfDay {
        self.closes_at
    }

    /// The period in the form it is submitted in.
    pub fn to_input(&self) -> OpeningPeriodInput {
        OpeningPeriodInput {
            day: self.day.code().to_owned(),
            opens_at: self.opens_at.to_string(),
            closes_at: self.closes_at.to_string(),
        }
    }
}

impl fmt::Display for OpeningPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}-{}", self.day, self.opens_at, self.closes_at)
    }
}

/// An opening period as submitted, before validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpeningPeriodInput {
    pub day: String,
    pub opens_at: String,
    pub closes_at: String,
}

/// A service's weekly opening hours: at most [`MAX_OPENING_PERIODS`] periods, none of which
/// overlaps another on the same day (one may close as the next opens), in week order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WeeklySchedule(Vec<OpeningPeriod>);

impl WeeklySchedule {
    /// Checks every period, reporting each bad one at `schedules[i]` (its fields, or the whole
    /// period when it overlaps another).
    pub fn parse(inputs: &[OpeningPeriodInput]) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if inputs.len() > MAX_OPENING_PERIODS {
            errors.add(
                "schedules",
                "too_long",
                format!("a service has at most {MAX_OPENING_PERIODS} opening periods"),
            );
            return Err(errors);
        }
        let mut periods = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            let field = |name: &str| format!("schedules[{i}].{name}");
            let day = input
                .day
                .parse::<DayOfWeek>()
                .map_err(|e| errors.add(field("day"), "unknown", e.to_string()))
                .ok();
            let opens_at = errors.check(&field("opens_at"), TimeOfDay::parse(&input.opens_at));
            let closes_at = errors.check(&field("closes_at"), TimeOfDay::parse(&input.closes_at));
            if let (Some(day), Some(opens_at), Some(closes_at)) = (day, opens_at, closes_at) {
                if let Some(period) = errors.check(
                    &field("closes_at"),
                    OpeningPeriod::new(day, opens_at, closes_at),
                ) {
                    periods.push((i, period));
                }
            }
        }
        if errors.is_empty() {
            let mut problems = Self::check_overlaps(&mut periods);
            problems.sort_by_key(|(i, _)| *i);
            for (i, error) in problems {
                errors.add(format!("schedules[{i}]"), error.code, error.message);
            }
        }
        errors.finish(|| Self(periods.into_iter().map(|(_, p)| p).collect()))
    }

    /// Periods already checked one by one (as the CSV notation and Open Referral schedules
    /// give them), checked together; the error names the periods that collide.
    pub fn from_periods(periods: Vec<OpeningPeriod>) -> Result<Self, FieldError> {
        if periods.len() > MAX_OPENING_PERIODS {
            return Err(FieldError::new(
                "too_long",
                format!("a service has at most {MAX_OPENING_PERIODS} opening periods"),
            ));
        }
        let mut numbered: Vec<(usize, OpeningPeriod)> = periods.into_iter().enumerate().collect();
        if let Some((_, error)) = Self::check_overlaps(&mut numbered).into_iter().next() {
            return Err(error);
        }
        Ok(Self(numbered.into_iter().map(|(_, p)| p).collect()))
    }

    /// Sorts the periods into week order and finds each that overlaps an earlier one, with the
    /// index it was given at.
    fn check_overlaps(periods: &mut [(usize, OpeningPeriod)]) -> Vec<(usize, FieldError)> {
        periods.sort_by_key(|(i, p)| (*p, *i));
        let mut problems = Vec::new();
        // The period of the day so far that closes last: a later one that opens before it
        // closes overlaps it.
        let mut latest: Option<OpeningPeriod> = None;
        for (i, period) in periods.iter() {
            match latest.filter(|e| e.day == period.day) {
                Some(earlier) if period.opens_at < earlier.closes_at => {
                    problems.push((
                        *i,
                        if *period == earlier {
                            FieldError::new("duplicate", format!("{period} is given twice"))
                        } else {
                            FieldError::new("overlapping", format!("{period} overlaps {earlier}"))
                        },
                    ));
                    if period.closes_at > earlier.closes_at {
                        latest = Some(*period);
                    }
                }
                _ => latest = Some(*period),
            }
        }
        problems
    }

    /// Reads the CSV notation: periods separated by `;`, each a day, a list of days or a range
    /// of days, then the hours: `mon-fri 09:00-12:00; tue,thu 13:00-16:30; sat 10:00-12:00`.
    /// Days are written as in [`DayOfWeek::from_str`]; a blank text is no periods.
    pub fn parse_text(text: &str) -> Result<Self, FieldError> {
        let mut periods = Vec::new();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let invalid = |why: String| {
                FieldError::new(
                    "invalid_format",
                    format!(
                        "{entry:?}: {why}; write periods as `mon-fri 09:00-12:00; sat 10:00-12:00`"
                    ),
                )
            };
            let (days, hours) = entry
                .split_once(char::is_whitespace)
                .ok_or_else(|| invalid("give the days, a space, then the hours".into()))?;
            let (opens, closes) = hours
                .trim()
                .split_once('-')
                .ok_or_else(|| invalid("give the hours as opens-closes".into()))?;
            let opens_at = TimeOfDay::parse(opens).map_err(|e| invalid(e.message))?;
            let closes_at = TimeOfDay::parse(closes).map_err(|e| invalid(e.message))?;
            for day in parse_days(days).map_err(invalid)? {
                periods.push(
                    OpeningPeriod::new(day, opens_at, closes_at).map_err(|e| invalid(e.message))?,
                );
            }
        }
        Self::from_periods(periods)
    }

    /// The periods in the CSV notation, one day at a time: `mon 09:00-12:00; tue 13:00-16:30`.
    pub fn to_text(&self) -> String {
        self.0
            .iter()
            .map(|p| format!("{} {}-{}", &p.day.code()[..3], p.opens_at, p.closes_at))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// In week order: by day, then by opening time.
    pub fn periods(&self) -> &[OpeningPeriod] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_inputs(&self) -> Vec<OpeningPeriodInput> {
        self.0.iter().map(OpeningPeriod::to_input).collect()
    }
}

/// A query parameter's value, where a blank one counts as absent.
fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// `mon`, `mon,wed,fri`, `mon-fri` or a mixture (`mon-wed,sat`); a range runs forward through
/// the week and does not wrap past Sunday.
fn parse_days(text: &str) -> Result<Vec<DayOfWeek>, String> {
    let mut days = Vec::new();
    for part in text.split(',').map(str::trim) {
        match part.split_once('-') {
            None => days.push(part.parse::<DayOfWeek>().map_err(|e| e.to_string())?),
            Some((first, last)) => {
                let first = first.parse::<DayOfWeek>().map_err(|e| e.to_string())?;
                let last = last.parse::<DayOfWeek>().map_err(|e| e.to_string())?;
                if last < first {
                    return Err(format!("the range {part} runs backwards through the week"));
                }
                days.extend(
                    DayOfWeek::ALL
                        .into_iter()
                        .filter(|d| (first..=last).contains(d)),
                );
            }
        }
    }
    Ok(days)
}

/// The Open Referral UK time filters, which a service meets when one of its opening periods
/// meets them all: on `day`, opening at `opens_from` or later, closing at `closes_by` or
/// earlier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpeningFilter {
    pub day: Option<DayOfWeek>,
    pub opens_from: Option<TimeOfDay>,
    pub closes_by: Option<TimeOfDay>,
}

impl OpeningFilter {
    /// The `day`, `start_time` and `end_time` query parameters; blank ones are absent.
    pub fn parse(
        day: Option<&str>,
        start_time: Option<&str>,
        end_time: Option<&str>,
    ) -> Result<Self, String> {
        let day = given(day)
            .map(str::parse::<DayOfWeek>)
            .transpose()
            .map_err(|e| format!("day: {e}"))?;
        let time = |name: &str, v: Option<&str>| {
            given(v)
                .map(TimeOfDay::parse)
                .transpose()
                .map_err(|e| format!("{name}: {}", e.message))
        };
        let opens_from = time("start_time", start_time)?;
        let closes_by = time("end_time", end_time)?;
        if let (Some(from), Some(by)) = (opens_from, closes_by) {
            if by <= from {
                return Err(format!(
                    "end_time {by} must be after start_time {from}: no period could meet both"
                ));
            }
        }
        Ok(Self {
            day,
            opens_from,
            closes_by,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn matches(&self, period: &OpeningPeriod) -> bool {
        self.day.is_none_or(|d| d == period.day)
            && self.opens_from.is_none_or(|t| period.opens_at >= t)
            && self.closes_by.is_none_or(|t| period.closes_at <= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(raw: &str) -> TimeOfDay {
        TimeOfDay::parse(raw).unwrap()
    }

    fn period(day: &str, opens: &str, closes: &str) -> OpeningPeriodInput {
        OpeningPeriodInput {
            day: day.into(),
            opens_at: opens.into(),
            closes_at: closes.into(),
        }
    }

    fn fields(errors: &ValidationErrors) -> Vec<(&str, &str)> {
        errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect()
    }

    #[test]
    fn days_are_read_in_every_usual_spelling() {
        for raw in ["monday", "Mon", "MO", " mo "] {
            assert_eq!(raw.parse::<DayOfWeek>().unwrap(), DayOfWeek::Monday);
        }
        assert_eq!("SU".parse::<DayOfWeek>().unwrap(), DayOfWeek::Sunday);
        for bad in ["", "m", "mondays", "lundi", "1"] {
            assert!(bad.parse::<DayOfWeek>().is_err(), "{bad:?}");
        }
        for day in DayOfWeek::ALL {
            assert_eq!(DayOfWeek::from_number(day.number()), Some(day));
            assert_eq!(day.rfc5545().parse::<DayOfWeek>().unwrap(), day);
        }
        assert_eq!(DayOfWeek::from_number(0), None);
        assert_eq!(DayOfWeek::from_number(8), None);
    }

    #[test]
    fn times_are_to_the_minute() {
        assert_eq!(t("09:05").to_string(), "09:05");
        assert_eq!(t("9:05").to_string(), "09:05");
        assert_eq!(t("23:59:00").to_string(), "23:59");
        assert_eq!(t("00:00"), TimeOfDay::from_hm(0, 0).unwrap());
        for bad in [
            "",
            "24:00",
            "12:60",
            "12",
            "12:5",
            "123:00",
            "12:00:30",
            "ab:cd",
            "+1:00",
            "12:00Z",
            "12:00:00:00",
        ] {
            assert!(TimeOfDay::parse(bad).is_err(), "{bad:?}");
        }
        let naive = t("17:45").to_naive_time();
        assert_eq!(TimeOfDay::from_naive_time(naive), Some(t("17:45")));
        assert_eq!(
            TimeOfDay::from_naive_time(chrono::NaiveTime::from_hms_opt(1, 2, 3).unwrap()),
            None
        );
    }

    #[test]
    fn a_period_closes_after_it_opens() {
        assert!(OpeningPeriod::new(DayOfWeek::Monday, t("09:00"), t("09:01")).is_ok());
        for (opens, closes) in [("09:00", "09:00"), ("22:00", "02:00")] {
            let error = OpeningPeriod::new(DayOfWeek::Monday, t(opens), t(closes)).unwrap_err();
            assert_eq!(error.code, "out_of_range");
        }
    }

    #[test]
    fn a_schedule_is_put_in_week_order() {
        let schedule = WeeklySchedule::parse(&[
            period("sunday", "10:00", "12:00"),
            period("monday", "13:00", "16:30"),
            period("MO", "09:00", "12:00"),
        ])
        .unwrap();
        assert_eq!(
            schedule.to_text(),
            "mon 09:00-12:00; mon 13:00-16:30; sun 10:00-12:00"
        );
        assert_eq!(schedule.to_inputs()[0], period("monday", "09:00", "12:00"));
    }

    #[test]
    fn every_bad_field_of_every_period_is_reported() {
        let errors = WeeklySchedule::parse(&[
            period("funday", "9am", "12:00"),
            period("tuesday", "14:00", "13:00"),
            period("wednesday", "10:00", "25:00"),
        ])
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                ("schedules[0].day", "unknown"),
                ("schedules[0].opens_at", "invalid_format"),
                ("schedules[1].closes_at", "out_of_range"),
                ("schedules[2].closes_at", "invalid_format"),
            ]
        );
    }

    #[test]
    fn periods_may_touch_but_not_overlap_or_repeat() {
        assert!(WeeklySchedule::parse(&[
            period("monday", "09:00", "12:00"),
            period("monday", "12:00", "14:00"),
            period("tuesday", "11:00", "13:00"),
        ])
        .is_ok());
        let overlap = WeeklySchedule::parse(&[
            period("monday", "09:00", "17:00"),
            period("monday", "10:00", "11:00"),
            period("monday", "12:00", "13:00"),
        ])
        .unwrap_err();
        assert_eq!(
            fields(&overlap),
            [
                ("schedules[1]", "overlapping"),
                ("schedules[2]", "overlapping")
            ]
        );
        assert_eq!(
            overlap.0[0].message,
            "monday 10:00-11:00 overlaps monday 09:00-17:00"
        );
        // A later period overlapping one that is not its neighbour is still found.
        let hidden = WeeklySchedule::parse(&[
            period("friday", "09:00", "17:00"),
            period("friday", "09:30", "10:00"),
            period("friday", "16:00", "18:00"),
        ])
        .unwrap_err();
        assert_eq!(
            fields(&hidden),
            [
                ("schedules[1]", "overlapping"),
                ("schedules[2]", "overlapping")
            ]
        );
        assert_eq!(
            hidden.0[1].message,
            "friday 16:00-18:00 overlaps friday 09:00-17:00"
        );
        let repeated = WeeklySchedule::parse(&[
            period("monday", "09:00", "12:00"),
            period("mon", "09:00", "12:00:00"),
        ])
        .unwrap_err();
        assert_eq!(fields(&repeated), [("schedules[1]", "duplicate")]);
    }

    #[test]
    fn a_schedule_has_a_bounded_number_of_periods() {
        let many: Vec<_> = (0..=MAX_OPENING_PERIODS)
            .map(|i| {
                period(
                    "monday",
                    &format!("{:02}:{:02}", i / 4, (i % 4) * 15),
                    &format!("{:02}:{:02}", i / 4, (i % 4) * 15 + 10),
                )
            })
            .collect();
        assert!(WeeklySchedule::parse(&many[..MAX_OPENING_PERIODS]).is_ok());
        assert_eq!(
            fields(&WeeklySchedule::parse(&many).unwrap_err()),
            [("schedules", "too_long")]
        );
    }

    #[test]
    fn the_csv_notation_takes_days_lists_and_ranges() {
        let schedule = WeeklySchedule::parse_text(
            " Mon-Wed 09:00-12:00 ; fri,SU 9:30-11:00;; sat 13:00-16:30 ",
        )
        .unwrap();
        assert_eq!(
            schedule.to_text(),
            "mon 09:00-12:00; tue 09:00-12:00; wed 09:00-12:00; fri 09:30-11:00; \
             sat 13:00-16:30; sun 09:30-11:00"
        );
        assert!(WeeklySchedule::parse_text("  ").unwrap().is_empty());
        for bad in [
            "mon",
            "mon 09:00",
            "mon 09:00-",
            "fri-mon 09:00-12:00",
            "someday 09:00-12:00",
            "mon 12:00-09:00",
            "mon 09:00-12:00; mon 11:00-13:00",
            "mon-tue 09:00-12:00; tue 09:00-12:00",
        ] {
            assert!(WeeklySchedule::parse_text(bad).is_err(), "{bad:?}");
        }
        let overlap = WeeklySchedule::parse_text("mon 09:00-12:00; mon 11:00-13:00").unwrap_err();
        assert_eq!(overlap.code, "overlapping");
        assert_eq!(
            overlap.message,
            "monday 11:00-13:00 overlaps monday 09:00-12:00"
        );
    }

    #[test]
    fn the_time_filters_meet_one_period_together() {
        let filter = OpeningFilter::parse(Some("TU"), Some("09:00"), Some("12:00")).unwrap();
        let on =
            |day, opens: &str, closes: &str| OpeningPeriod::new(day, t(opens), t(closes)).unwrap();
        assert!(filter.matches(&on(DayOfWeek::Tuesday, "09:00", "12:00")));
        assert!(filter.matches(&on(DayOfWeek::Tuesday, "10:00", "11:00")));
        assert!(!filter.matches(&on(DayOfWeek::Tuesday, "08:59", "11:00")));
        assert!(!filter.matches(&on(DayOfWeek::Tuesday, "10:00", "12:01")));
        assert!(!filter.matches(&on(DayOfWeek::Wednesday, "10:00", "11:00")));
        assert!(OpeningFilter::parse(None, Some(" "), None)
            .unwrap()
            .is_empty());
        for (day, start, end) in [
            (Some("someday"), None, None),
            (None, Some("9"), None),
            (None, None, Some("24:00")),
            (None, Some("12:00"), Some("12:00")),
            (None, Some("13:00"), Some("12:00")),
        ] {
            assert!(
                OpeningFilter::parse(day, start, end).is_err(),
                "{day:?} {start:?} {end:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn the_csv_notation_reads_back_what_it_writes(
            raw in proptest::collection::vec((1i16..=7, 0u32..1439, 1u32..240), 0..20)
        ) {
            let periods: Vec<OpeningPeriod> = raw
                .into_iter()
                .map(|(day, opens, length)| {
                    let closes = (opens + length).min(1439);
                    OpeningPeriod::new(
                        DayOfWeek::from_number(day).unwrap(),
                        TimeOfDay::from_hm(opens / 60, opens % 60).unwrap(),
                        TimeOfDay::from_hm(closes / 60, closes % 60).unwrap(),
                    )
                })
                .filter_map(Result::ok)
                .collect();
            if let Ok(schedule) = WeeklySchedule::from_periods(periods) {
                prop_assert_eq!(WeeklySchedule::parse_text(&schedule.to_text()).unwrap(), schedule.clone());
                prop_assert_eq!(WeeklySchedule::parse(&schedule.to_inputs()).unwrap(), schedule);
            }
        }
    }
}
