//! Volunteers and who among them may run a clinic. Patients meet volunteers alone, so nobody runs
//! a clinic without a current background check and current training; the rule is checked against
//! the day of the clinic, not the day it is booked.

use crate::directory::contact::{optional_email, optional_phone};
use crate::user::DISPLAY_NAME_MAX;
use crate::validation::{bounded_text, ValidationErrors};
use chrono::{Months, NaiveDate};
use std::collections::BTreeMap;

/// A background check is renewed every three years: it counts up to the day before its third
/// anniversary and has lapsed on the anniversary itself.
pub const BACKGROUND_CHECK_VALID_YEARS: u32 = 3;

pub const COURSE_MAX: usize = 200;

/// The first day on which a background check made on `checked_on` no longer counts. A check
/// made on 29 February lapses on 28 February three years later.
pub fn background_check_lapses_on(checked_on: NaiveDate) -> NaiveDate {
    checked_on
        .checked_add_months(Months::new(12 * BACKGROUND_CHECK_VALID_YEARS))
        .unwrap_or(NaiveDate::MAX)
}

/// A training course a volunteer completed, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainingRecord {
    pub course: String,
    pub completed_on: NaiveDate,
    /// The last day the training counts; `None` for training that never expires.
    pub expires_on: Option<NaiveDate>,
}

/// A validated training record, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTrainingRecord {
    pub course: String,
    pub completed_on: NaiveDate,
    /// The last day the training counts; `None` for training that never expires.
    pub expires_on: Option<NaiveDate>,
}

impl NewTrainingRecord {
    pub fn parse(
        course: &str,
        completed_on: NaiveDate,
        expires_on: Option<NaiveDate>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let course = errors.check("course", bounded_text(course, COURSE_MAX));
        if expires_on.is_some_and(|expires_on| expires_on <= completed_on) {
            errors.add(
                "expires_on",
                "out_of_range",
                "must be after the date the course was completed",
            );
        }
        errors.finish(|| NewTrainingRecord {
            course: course.expect("checked"),
            completed_on,
            expires_on,
        })
    }
}

impl From<NewTrainingRecord> for TrainingRecord {
    fn from(record: NewTrainingRecord) -> Self {
        TrainingRecord {
            course: record.course,
            completed_on: record.completed_on,
            expires_on: record.expires_on,
        }
    }
}

/// A validated volunteer, ready to store. Contact details are optional: blank means absent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewVolunteer {
    pub display_name: String,
    /// Lower-cased, checked for shape only.
    pub email: Option<String>,
    pub phone: Option<String>,
    /// When the volunteer's current background check was made, if they have had one.
    pub background_check_on: Option<NaiveDate>,
}

impl NewVolunteer {
    pub fn parse(
        display_name: &str,
        email: Option<&str>,
        phone: Option<&str>,
        background_check_on: Option<NaiveDate>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let display_name =
            errors.check("display_name", bounded_text(display_name, DISPLAY_NAME_MAX));
        let email = optional_email(&mut errors, "email", email.map(str::to_owned));
        let phone = optional_phone(&mut errors, "phone", phone.map(str::to_owned));
        errors.finish(|| NewVolunteer {
            display_name: display_name.expect("checked"),
            email,
            phone,
            background_check_on,
        })
    }
}

/// Why a volunteer may not run a clinic on a given day. Only the first unmet rule is reported,
/// background check before training.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotCleared {
    #[error("the volunteer is not active")]
    Inactive,
    #[error("the volunteer has no background check on record")]
    NoBackgroundCheck,
    #[error(
        "the volunteer's background check lapsed on {lapsed_on}; checks are renewed every three years"
    )]
    BackgroundCheckLapsed { lapsed_on: NaiveDate },
    #[error("the volunteer has not completed any training")]
    NoTraining,
    /// A course the volunteer has taken has no current record; `lapsed_on` is the latest
    /// expiry among its records, the last day it counted.
    #[error("the volunteer's {course} training expired on {lapsed_on}")]
    TrainingLapsed {
        course: String,
        lapsed_on: NaiveDate,
    },
}

impl NotCleared {
    /// Every code a refusal can carry, for the API's schema.
    pub const CODES: [&'static str; 5] = [
        "no_background_check",
        "background_check_lapsed",
        "no_training",
        "training_lapsed",
        "inactive",
    ];

    pub const fn code(&self) -> &'static str {
        match self {
            NotCleared::Inactive => "inactive",
            NotCleared::NoBackgroundCheck => "no_background_check",
            NotCleared::BackgroundCheckLapsed { .. } => "background_check_lapsed",
            NotCleared::NoTraining => "no_training",
            NotCleared::TrainingLapsed { .. } => "training_lapsed",
        }
    }
}

/// Whether a volunteer who is `active` may run a clinic on `on`: an inactive volunteer never
/// may, whatever their records; otherwise as [`clearance`] decides.
pub fn may_run_clinic(
    active: bool,
    background_check_on: Option<NaiveDate>,
    training: &[TrainingRecord],
    on: NaiveDate,
) -> Result<(), NotCleared> {
    if !active {
        return Err(NotCleared::Inactive);
    }
    clearance(background_check_on, training, on)
}

/// Whether a volunteer may run a clinic on `on`: a background check made on or before `on`
/// that has not lapsed, at least one course completed on or before `on`, and every course they
/// have taken still current (training counts through its expiry date, and a renewal of a course
/// supersedes its older records). A check or course dated after `on` does not count, as though
/// it had not happened yet. Courses are told apart by name, ignoring case.
pub fn clearance(
    background_check_on: Option<NaiveDate>,
    training: &[TrainingRecord],
    on: NaiveDate,
) -> Result<(), NotCleared> {
    let checked_on = background_check_on
        .filter(|&checked_on| checked_on <= on)
        .ok_or(NotCleared::NoBackgroundCheck)?;
    let lapsed_on = background_check_lapses_on(checked_on);
    if on >= lapsed_on {
        return Err(NotCleared::BackgroundCheckLapsed { lapsed_on });
    }
    // Per course: whether any record is current, else the last day one counted.
    let mut courses: BTreeMap<String, (&str, Option<NaiveDate>, bool)> = BTreeMap::new();
    for record in training.iter().filter(|record| record.completed_on <= on) {
        let course = courses.entry(record.course.to_lowercase()).or_insert((
            record.course.as_str(),
            None,
            false,
        ));
        match record.expires_on {
            Some(expires_on) if expires_on < on => {
                course.1 = course.1.max(Some(expires_on));
            }
            _ => course.2 = true,
        }
    }
    if courses.is_empty() {
        return Err(NotCleared::NoTraining);
    }
    match courses.values().find(|(_, _, current)| !current) {
        None => Ok(()),
        Some((course, lapsed_on, _)) => Err(NotCleared::TrainingLapsed {
            course: (*course).to_owned(),
            lapsed_on: lapsed_on.expect("a course with no current record has expired records"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn an_inactive_volunteer_never_runs_a_clinic_and_every_code_is_listed() {
        let on = date(2026, 6, 1);
        let training = [course(date(2026, 1, 1), None)];
        assert_eq!(
            may_run_clinic(true, Some(date(2026, 1, 1)), &training, on),
            Ok(())
        );
        let refused = may_run_clinic(false, Some(date(2026, 1, 1)), &training, on).unwrap_err();
        assert_eq!(refused, NotCleared::Inactive);
        let every = [
            NotCleared::NoBackgroundCheck,
            NotCleared::BackgroundCheckLapsed { lapsed_on: on },
            NotCleared::NoTraining,
            NotCleared::TrainingLapsed {
                course: "x".into(),
                lapsed_on: on,
            },
            NotCleared::Inactive,
        ];
        let codes: Vec<&str> = every.iter().map(NotCleared::code).collect();
        assert_eq!(codes, NotCleared::CODES);
    }

    fn course(completed_on: NaiveDate, expires_on: Option<NaiveDate>) -> TrainingRecord {
        TrainingRecord {
            course: "Safeguarding adults level 2".into(),
            completed_on,
            expires_on,
        }
    }

    #[test]
    fn training_records_are_trimmed_and_must_expire_after_completion() {
        let record = NewTrainingRecord::parse(
            "  Safeguarding adults  ",
            date(2025, 3, 1),
            Some(date(2027, 3, 1)),
        )
        .unwrap();
        assert_eq!(record.course, "Safeguarding adults");
        assert!(NewTrainingRecord::parse("First aid", date(2025, 3, 1), None).is_ok());
        let errors =
            NewTrainingRecord::parse("", date(2025, 3, 1), Some(date(2025, 3, 1))).unwrap_err();
        let found: Vec<_> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            found,
            [("course", "required"), ("expires_on", "out_of_range")]
        );
        let long = "x".repeat(COURSE_MAX + 1);
        assert_eq!(
            NewTrainingRecord::parse(&long, date(2025, 3, 1), None)
                .unwrap_err()
                .0[0]
                .code,
            "too_long"
        );
    }

    #[test]
    fn volunteers_have_a_name_and_optional_contact_details() {
        let volunteer = NewVolunteer::parse(
            " Ann Jones ",
            Some("Ann@Example.org"),
            Some(" "),
            Some(date(2025, 1, 10)),
        )
        .unwrap();
        assert_eq!(volunteer.display_name, "Ann Jones");
        assert_eq!(volunteer.email.as_deref(), Some("ann@example.org"));
        assert_eq!(volunteer.phone, None);
        let errors = NewVolunteer::parse("", Some("ann"), Some("call me"), None).unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["display_name", "email", "phone"]);
    }

    #[test]
    fn background_checks_lapse_on_their_third_anniversary() {
        let trained = [course(date(2020, 1, 1), None)];
        let checked = Some(date(2023, 6, 15));
        assert_eq!(clearance(checked, &trained, date(2023, 6, 15)), Ok(()));
        assert_eq!(clearance(checked, &trained, date(2026, 6, 14)), Ok(()));
        assert_eq!(
            clearance(checked, &trained, date(2026, 6, 15)),
            Err(NotCleared::BackgroundCheckLapsed {
                lapsed_on: date(2026, 6, 15)
            })
        );
        assert_eq!(
            background_check_lapses_on(date(2024, 2, 29)),
            date(2027, 2, 28)
        );
    }

    #[test]
    fn a_missing_or_future_background_check_does_not_count() {
        let trained = [course(date(2024, 1, 1), None)];
        assert_eq!(
            clearance(None, &trained, date(2025, 1, 1)),
            Err(NotCleared::NoBackgroundCheck)
        );
        assert_eq!(
            clearance(Some(date(2025, 1, 2)), &trained, date(2025, 1, 1)),
            Err(NotCleared::NoBackgroundCheck)
        );
    }

    #[test]
    fn training_must_be_completed_by_the_day_and_not_expired() {
        let checked = Some(date(2024, 1, 1));
        let on = date(2025, 5, 20);
        assert_eq!(clearance(checked, &[], on), Err(NotCleared::NoTraining));
        assert_eq!(
            clearance(checked, &[course(date(2025, 5, 21), None)], on),
            Err(NotCleared::NoTraining)
        );
        assert_eq!(
            clearance(checked, &[course(on, Some(on))], on),
            Ok(()),
            "completed and expiring on the day itself still counts"
        );
        assert_eq!(
            clearance(
                checked,
                &[
                    course(date(2022, 1, 1), Some(date(2024, 1, 1))),
                    course(date(2023, 1, 1), Some(date(2025, 5, 19))),
                    course(date(2025, 6, 1), None),
                ],
                on
            ),
            Err(NotCleared::TrainingLapsed {
                course: "Safeguarding adults level 2".into(),
                lapsed_on: date(2025, 5, 19)
            })
        );
        assert_eq!(
            clearance(
                checked,
                &[
                    course(date(2022, 1, 1), Some(date(2024, 1, 1))),
                    course(date(2023, 1, 1), None),
                ],
                on
            ),
            Ok(())
        );
    }

    #[test]
    fn every_course_taken_must_be_current_and_a_renewal_supersedes() {
        let checked = Some(date(2024, 1, 1));
        let on = date(2025, 5, 20);
        let taken = |name: &str, completed_on, expires_on| TrainingRecord {
            course: name.into(),
            completed_on,
            expires_on,
        };
        let scenario = taken(
            "Scenario training",
            date(2025, 1, 10),
            Some(date(2027, 1, 10)),
        );
        let old_first_aid = taken("First aid", date(2022, 3, 1), Some(date(2025, 3, 1)));
        assert_eq!(
            clearance(checked, &[scenario.clone(), old_first_aid.clone()], on),
            Err(NotCleared::TrainingLapsed {
                course: "First aid".into(),
                lapsed_on: date(2025, 3, 1)
            }),
            "a current course does not cover for a lapsed one"
        );
        let renewed = taken("first aid", date(2025, 4, 1), Some(date(2028, 4, 1)));
        assert_eq!(
            clearance(checked, &[scenario, old_first_aid, renewed], on),
            Ok(()),
            "a renewal of the course, however it is capitalised, supersedes the lapsed record"
        );
    }

    #[test]
    fn refusals_have_stable_codes_and_readable_messages() {
        let lapsed = NotCleared::BackgroundCheckLapsed {
            lapsed_on: date(2026, 6, 15),
        };
        assert_eq!(lapsed.code(), "background_check_lapsed");
        assert_eq!(
            lapsed.to_string(),
            "the volunteer's background check lapsed on 2026-06-15; checks are renewed every three years"
        );
        assert_eq!(NotCleared::NoBackgroundCheck.code(), "no_background_check");
        assert_eq!(NotCleared::NoTraining.code(), "no_training");
        let expired = NotCleared::TrainingLapsed {
            course: "First aid".into(),
            lapsed_on: date(2025, 5, 19),
        };
        assert_eq!(expired.code(), "training_lapsed");
        assert_eq!(
            expired.to_string(),
            "the volunteer's First aid training expired on 2025-05-19"
        );
    }

    proptest! {
        /// With training that never expires, clearance depends only on the check's age: cleared
        /// from the check day up to, not including, its lapse date.
        #[test]
        fn a_check_counts_for_exactly_its_window(check_day in 0i64..3000, offset in -10i64..1200) {
            let checked_on = date(2020, 1, 1) + chrono::Days::new(check_day as u64);
            let on = checked_on + chrono::TimeDelta::days(offset);
            let trained = [course(date(2000, 1, 1), None)];
            let result = clearance(Some(checked_on), &trained, on);
            let lapses_on = background_check_lapses_on(checked_on);
            if on < checked_on {
                prop_assert_eq!(result, Err(NotCleared::NoBackgroundCheck));
            } else if on < lapses_on {
                prop_assert_eq!(result, Ok(()));
            } else {
                prop_assert_eq!(result, Err(NotCleared::BackgroundCheckLapsed { lapsed_on: lapses_on }));
            }
        }
    }
}
