//! Clinic sessions: a volunteer at a place for a stretch of time, split into equal slots that
//! referrals are booked into. Only whole slots are offered, so an appointment never runs past the
//! end of the session.

use crate::validation::{bounded_text, ValidationErrors};
use chrono::{DateTime, TimeDelta, Utc};
use std::fmt;
use std::str::FromStr;

/// Long enough for a first conversation about what matters to the patient.
pub const DEFAULT_SLOT_MINUTES: u32 = 30;
pub const SLOT_MINUTES_MIN: i64 = 10;
pub const SLOT_MINUTES_MAX: i64 = 240;
/// No volunteer is asked to run a clinic for longer than a long working day.
pub const SESSION_MAX_HOURS: i64 = 12;
pub const LOCATION_MAX: usize = 200;

/// A validated clinic session, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewClinicSession {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Where the clinic is held, in words ("Rosebery Medical Centre, room 2").
    pub location: String,
    /// 10–240; at least one whole slot fits in the session.
    pub slot_minutes: u32,
}

impl NewClinicSession {
    /// Checks the place, the slot length (30 minutes when not given) and that the session runs
    /// forwards, lasts at most twelve hours and holds at least one whole slot.
    pub fn parse(
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        location: &str,
        slot_minutes: Option<i64>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let location = errors.check("location", bounded_text(location, LOCATION_MAX));
        let slot_minutes = match slot_minutes {
            None => Some(DEFAULT_SLOT_MINUTES),
            Some(minutes) if (SLOT_MINUTES_MIN..=SLOT_MINUTES_MAX).contains(&minutes) => {
                u32::try_from(minutes).ok()
            }
            Some(_) => {
                errors.add(
                    "slot_minutes",
                    "out_of_range",
                    format!("must be from {SLOT_MINUTES_MIN} to {SLOT_MINUTES_MAX} minutes"),
                );
                None
            }
        };
        let length = ends_at - starts_at;
        if length <= TimeDelta::zero() {
            errors.add("ends_at", "out_of_range", "must be after starts_at");
        } else if length > TimeDelta::hours(SESSION_MAX_HOURS) {
            errors.add(
                "ends_at",
                "too_long",
                format!("a clinic session lasts at most {SESSION_MAX_HOURS} hours"),
            );
        } else if let Some(minutes) = slot_minutes {
            if length < TimeDelta::minutes(i64::from(minutes)) {
                errors.add(
                    "ends_at",
                    "too_short",
                    format!("the session must hold at least one whole {minutes}-minute slot"),
                );
            }
        }
        errors.finish(|| NewClinicSession {
            starts_at,
            ends_at,
            location: location.expect("checked"),
            slot_minutes: slot_minutes.expect("checked"),
        })
    }

    /// The session's bookable slots as `(start, end)`, back to back from `starts_at`. Time left
    /// at the end that is shorter than a slot is not offered.
    pub fn slots(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.slot_minutes == 0 {
            return Vec::new();
        }
        let slot = TimeDelta::minutes(i64::from(self.slot_minutes));
        let mut slots = Vec::new();
        let mut start = self.starts_at;
        while start + slot <= self.ends_at {
            slots.push((start, start + slot));
            start += slot;
        }
        slots
    }
}

/// Whether a booked patient came to their slot.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Attendance {
    Attended,
    DidNotAttend,
}

impl Attendance {
    pub const ALL: [Attendance; 2] = [Attendance::Attended, Attendance::DidNotAttend];

    pub const fn code(self) -> &'static str {
        match self {
            Attendance::Attended => "attended",
            Attendance::DidNotAttend => "did_not_attend",
        }
    }
}

/// Attendance recorded before the slot began: nobody can know yet whether the patient came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the slot begins at {starts_at}; record attendance once it has begun")]
pub struct SlotNotStarted {
    pub starts_at: DateTime<Utc>,
}

impl Attendance {
    /// Checks that attendance at a slot beginning at `starts_at` can be recorded `now`.
    pub fn recordable(starts_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), SlotNotStarted> {
        if now >= starts_at {
            Ok(())
        } else {
            Err(SlotNotStarted { starts_at })
        }
    }
}

impl fmt::Display for Attendance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown attendance `{0}`; use attended or did_not_attend")]
pub struct UnknownAttendance(pub String);

impl FromStr for Attendance {
    type Err = UnknownAttendance;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.code() == s)
            .ok_or_else(|| UnknownAttendance(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attendance_is_recorded_from_the_start_of_the_slot() {
        let starts_at = DateTime::parse_from_rfc3339("2026-06-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(Attendance::recordable(starts_at, starts_at), Ok(()));
        assert_eq!(
            Attendance::recordable(starts_at, starts_at + TimeDelta::minutes(45)),
            Ok(())
        );
        assert_eq!(
            Attendance::recordable(starts_at, starts_at - TimeDelta::seconds(1)),
            Err(SlotNotStarted { starts_at })
        );
    }
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 11, 25, hour, minute, 0).unwrap()
    }

    fn fields(errors: &ValidationErrors) -> Vec<(&str, &str)> {
        errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect()
    }

    #[test]
    fn a_morning_clinic_has_thirty_minute_slots_by_default() {
        let session =
            NewClinicSession::parse(at(9, 0), at(11, 15), "  Rosebery Medical Centre ", None)
                .unwrap();
        assert_eq!(session.location, "Rosebery Medical Centre");
        assert_eq!(session.slot_minutes, DEFAULT_SLOT_MINUTES);
        assert_eq!(
            session.slots(),
            [
                (at(9, 0), at(9, 30)),
                (at(9, 30), at(10, 0)),
                (at(10, 0), at(10, 30)),
                (at(10, 30), at(11, 0)),
            ],
            "the last quarter hour is not a slot"
        );
    }

    #[test]
    fn bounds_on_slots_and_sessions() {
        assert!(NewClinicSession::parse(at(9, 0), at(9, 10), "Hall", Some(10)).is_ok());
        assert!(NewClinicSession::parse(at(9, 0), at(13, 0), "Hall", Some(240)).is_ok());
        assert!(NewClinicSession::parse(at(8, 0), at(20, 0), "Hall", None).is_ok());
        let errors = NewClinicSession::parse(at(8, 0), at(20, 1), "Hall", None).unwrap_err();
        assert_eq!(fields(&errors), [("ends_at", "too_long")]);
        let errors = NewClinicSession::parse(at(9, 0), at(9, 29), "Hall", None).unwrap_err();
        assert_eq!(fields(&errors), [("ends_at", "too_short")]);
        for bad in [9, 241, -30, i64::MAX] {
            let errors =
                NewClinicSession::parse(at(9, 0), at(12, 0), "Hall", Some(bad)).unwrap_err();
            assert_eq!(fields(&errors), [("slot_minutes", "out_of_range")], "{bad}");
        }
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errors = NewClinicSession::parse(at(9, 0), at(9, 0), " ", Some(5)).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                ("location", "required"),
                ("slot_minutes", "out_of_range"),
                ("ends_at", "out_of_range")
            ]
        );
        let errors = NewClinicSession::parse(at(10, 0), at(9, 0), "Hall", None).unwrap_err();
        assert_eq!(fields(&errors), [("ends_at", "out_of_range")]);
    }

    #[test]
    fn attendance_codes_round_trip() {
        for attendance in Attendance::ALL {
            assert_eq!(attendance.code().parse::<Attendance>().unwrap(), attendance);
        }
        assert_eq!(Attendance::DidNotAttend.to_string(), "did_not_attend");
        assert!("late".parse::<Attendance>().is_err());
    }

    proptest! {
        #[test]
        fn slots_tile_the_session_from_its_start(
            start_minute in 0i64..100_000,
            start_second in 0i64..60,
            length_seconds in 0i64..=(12 * 3600),
            slot_minutes in 10i64..=240,
        ) {
            let starts_at = at(0, 0) + TimeDelta::minutes(start_minute) + TimeDelta::seconds(start_second);
            let ends_at = starts_at + TimeDelta::seconds(length_seconds);
            let parsed = NewClinicSession::parse(starts_at, ends_at, "Hall", Some(slot_minutes));
            let fits = length_seconds >= slot_minutes * 60;
            prop_assert_eq!(parsed.is_ok(), fits);
            let Ok(session) = parsed else { return Ok(()) };
            let slots = session.slots();
            prop_assert_eq!(slots.len() as i64, length_seconds / (slot_minutes * 60));
            prop_assert_eq!(slots[0].0, starts_at);
            for (start, end) in &slots {
                prop_assert_eq!(*end - *start, TimeDelta::minutes(slot_minutes));
                prop_assert!(*start >= starts_at && *end <= ends_at);
            }
            for pair in slots.windows(2) {
                prop_assert_eq!(pair[0].1, pair[1].0);
            }
            let (_, last_end) = slots[slots.len() - 1];
            prop_assert!(ends_at - last_end < TimeDelta::minutes(slot_minutes));
        }
    }
}
