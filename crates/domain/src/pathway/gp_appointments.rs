//! GP appointment counts before and after a referral: the usual evidence that social prescribing
//! eased demand on the practice. A count covers a period wholly on one side of the referral: the
//! referral day itself (usually the appointment that made it) is before, so a before-and-after
//! comparison never counts the same appointment twice.

use crate::validation::ValidationErrors;
use chrono::NaiveDate;
use std::fmt;
use std::str::FromStr;

/// A year, counting a leap day.
pub const PERIOD_MAX_DAYS: i64 = 366;
pub const APPOINTMENTS_MAX: i64 = 1000;

/// Which side of the referral a count covers.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentWindow {
    /// A period ending on or before the referral date.
    Before,
    /// A period starting after the referral date.
    After,
}

impl AppointmentWindow {
    pub const ALL: [AppointmentWindow; 2] = [AppointmentWindow::Before, AppointmentWindow::After];

    pub const fn code(self) -> &'static str {
        match self {
            AppointmentWindow::Before => "before",
            AppointmentWindow::After => "after",
        }
    }
}

impl fmt::Display for AppointmentWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown appointment window `{0}`; use before or after")]
pub struct UnknownAppointmentWindow(pub String);

impl FromStr for AppointmentWindow {
    type Err = UnknownAppointmentWindow;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|window| window.code() == s)
            .ok_or_else(|| UnknownAppointmentWindow(s.to_owned()))
    }
}

/// A validated count of GP appointments over a period, both dates inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewAppointmentCount {
    pub window: AppointmentWindow,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// 0–1000.
    pub appointments: u32,
}

impl NewAppointmentCount {
    /// Checks the period runs forwards, lasts at most 366 days (inclusive), has ended by
    /// `today` (appointments are counted, not forecast) and lies on the window's side of
    /// `referred_on`, and that the count is 0–1000.
    pub fn parse(
        window: AppointmentWindow,
        period_start: NaiveDate,
        period_end: NaiveDate,
        appointments: i64,
        referred_on: NaiveDate,
        today: NaiveDate,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if period_end > today {
            errors.add(
                "period_end",
                "in_future",
                format!("a count covers days that have passed: the period must end by {today}"),
            );
        } else if period_end < period_start {
            errors.add(
                "period_end",
                "out_of_range",
                "must be on or after period_start",
            );
        } else if (period_end - period_start).num_days() + 1 > PERIOD_MAX_DAYS {
            errors.add(
                "period_end",
                "too_long",
                format!("a period covers at most {PERIOD_MAX_DAYS} days"),
            );
        }
        match window {
            AppointmentWindow::Before if period_end > referred_on => errors.add(
                "period_end",
                "wrong_side_of_referral",
                format!("a before window must end on or before the referral date, {referred_on}"),
            ),
            AppointmentWindow::After if period_start <= referred_on => errors.add(
                "period_start",
                "wrong_side_of_referral",
                format!(
                    "an after window must start after the referral date, {referred_on}, which \
                     belongs to the before window"
                ),
            ),
            _ => {}
        }
        let appointments = match u32::try_from(appointments) {
            Ok(count) if appointments <= APPOINTMENTS_MAX => Some(count),
            _ => {
                errors.add(
                    "appointments",
                    "out_of_range",
                    format!("must be from 0 to {APPOINTMENTS_MAX}"),
                );
                None
            }
        };
        errors.finish(|| NewAppointmentCount {
            window,
            period_start,
            period_end,
            appointments: appointments.expect("checked"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use AppointmentWindow::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn fields(errors: &ValidationErrors) -> Vec<(&str, &str)> {
        errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect()
    }

    fn far_future() -> NaiveDate {
        date(2100, 1, 1)
    }

    #[test]
    fn counts_cover_days_that_have_passed() {
        let today = date(2025, 7, 1);
        let errors = NewAppointmentCount::parse(
            After,
            date(2025, 6, 2),
            date(2025, 7, 2),
            1,
            referred(),
            today,
        )
        .unwrap_err();
        assert_eq!(fields(&errors), [("period_end", "in_future")]);
        assert!(
            NewAppointmentCount::parse(After, date(2025, 6, 2), today, 1, referred(), today)
                .is_ok()
        );
    }

    fn referred() -> NaiveDate {
        date(2025, 6, 1)
    }

    #[test]
    fn windows_round_trip() {
        for window in AppointmentWindow::ALL {
            assert_eq!(window.code().parse::<AppointmentWindow>().unwrap(), window);
        }
        assert!("during".parse::<AppointmentWindow>().is_err());
    }

    #[test]
    fn six_months_either_side_of_the_referral() {
        let before = NewAppointmentCount::parse(
            Before,
            date(2024, 12, 1),
            referred(),
            9,
            referred(),
            far_future(),
        )
        .unwrap();
        assert_eq!(before.appointments, 9);
        assert!(NewAppointmentCount::parse(
            After,
            date(2025, 6, 2),
            date(2025, 12, 1),
            0,
            referred(),
            far_future()
        )
        .is_ok());
    }

    #[test]
    fn a_window_on_the_wrong_side_is_refused() {
        let errors = NewAppointmentCount::parse(
            Before,
            date(2025, 1, 1),
            date(2025, 6, 2),
            3,
            referred(),
            far_future(),
        )
        .unwrap_err();
        assert_eq!(fields(&errors), [("period_end", "wrong_side_of_referral")]);
        for start in [date(2025, 5, 31), referred()] {
            let errors = NewAppointmentCount::parse(
                After,
                start,
                date(2025, 12, 1),
                3,
                referred(),
                far_future(),
            )
            .unwrap_err();
            assert_eq!(
                fields(&errors),
                [("period_start", "wrong_side_of_referral")],
                "the referral day is before"
            );
        }
    }

    #[test]
    fn periods_and_counts_are_bounded() {
        // 2024 is a leap year: 1 January to 31 December is 366 days.
        let referred = date(2025, 1, 1);
        assert!(NewAppointmentCount::parse(
            Before,
            date(2024, 1, 1),
            date(2024, 12, 31),
            1000,
            referred,
            far_future()
        )
        .is_ok());
        let errors = NewAppointmentCount::parse(
            Before,
            date(2023, 12, 31),
            date(2024, 12, 31),
            5,
            referred,
            far_future(),
        )
        .unwrap_err();
        assert_eq!(fields(&errors), [("period_end", "too_long")]);
        assert!(
            NewAppointmentCount::parse(
                Before,
                date(2024, 5, 1),
                date(2024, 5, 1),
                0,
                referred,
                far_future()
            )
            .is_ok(),
            "a single day is a period"
        );
        let errors = NewAppointmentCount::parse(
            After,
            date(2025, 3, 1),
            date(2025, 2, 1),
            -1,
            referred,
            far_future(),
        )
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                ("period_end", "out_of_range"),
                ("appointments", "out_of_range")
            ]
        );
        let errors = NewAppointmentCount::parse(
            After,
            date(2025, 3, 1),
            date(2025, 4, 1),
            1001,
            referred,
            far_future(),
        )
        .unwrap_err();
        assert_eq!(fields(&errors), [("appointments", "out_of_range")]);
    }

    proptest! {
        /// Accepted before and after counts never share a day: the referral day is before.
        #[test]
        fn accepted_windows_lie_on_their_side(start in -800i64..800, length in 0i64..400, window in proptest::sample::select(AppointmentWindow::ALL.to_vec())) {
            let referred = referred();
            let period_start = referred + chrono::TimeDelta::days(start);
            let period_end = period_start + chrono::TimeDelta::days(length);
            if let Ok(count) = NewAppointmentCount::parse(window, period_start, period_end, 1, referred, far_future()) {
                prop_assert!((count.period_end - count.period_start).num_days() < PERIOD_MAX_DAYS);
                match window {
                    Before => prop_assert!(count.period_end <= referred),
                    After => prop_assert!(count.period_start > referred),
                }
            } else {
                let on_side = match window {
                    Before => period_end <= referred,
                    After => period_start > referred,
                };
                prop_assert!(!on_side || length + 1 > PERIOD_MAX_DAYS);
            }
        }
    }
}
