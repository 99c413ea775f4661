//! Onward referrals: after the clinic a link worker connects the patient with services in the
//! directory, and the providers record what they delivered, which the payment ledger prices.

use super::referral_state::ReferralState;
use crate::directory::contact::{long_text, optional_long_text};
use crate::validation::{FieldError, ValidationErrors};
use chrono::{Months, NaiveDate};
use std::fmt;
use std::str::FromStr;

/// Where an onward referral stands with the provider. Pending → accepted → completed; the
/// provider may decline a pending one, and the link worker may withdraw one not yet finished.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OnwardReferralState {
    /// Sent to the provider, awaiting their answer.
    Pending,
    /// The provider took the patient on.
    Accepted,
    /// The provider could not take the patient on, with a reason.
    Declined,
    /// The provider finished working with the patient.
    Completed,
    /// Withdrawn by the link worker or the patient before it finished.
    Withdrawn,
}

/// A move an onward referral may not make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an onward referral that is {from} cannot become {to}")]
pub struct IllegalOnwardTransition {
    pub from: OnwardReferralState,
    pub to: OnwardReferralState,
}

impl OnwardReferralState {
    pub const ALL: [OnwardReferralState; 5] = [
        OnwardReferralState::Pending,
        OnwardReferralState::Accepted,
        OnwardReferralState::Declined,
        OnwardReferralState::Completed,
        OnwardReferralState::Withdrawn,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            OnwardReferralState::Pending => "pending",
            OnwardReferralState::Accepted => "accepted",
            OnwardReferralState::Declined => "declined",
            OnwardReferralState::Completed => "completed",
            OnwardReferralState::Withdrawn => "withdrawn",
        }
    }

    /// The states this one may move to.
    pub const fn next(self) -> &'static [OnwardReferralState] {
        use OnwardReferralState::*;
        match self {
            Pending => &[Accepted, Declined, Withdrawn],
            Accepted => &[Completed, Withdrawn],
            Declined | Completed | Withdrawn => &[],
        }
    }

    pub fn is_final(self) -> bool {
        self.next().is_empty()
    }

    pub fn transition(
        self,
        to: OnwardReferralState,
    ) -> Result<OnwardReferralState, IllegalOnwardTransition> {
        if self.next().contains(&to) {
            Ok(to)
        } else {
            Err(IllegalOnwardTransition { from: self, to })
        }
    }
}

impl fmt::Display for OnwardReferralState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown onward referral state `{0}`")]
pub struct UnknownOnwardReferralState(pub String);

impl FromStr for OnwardReferralState {
    type Err = UnknownOnwardReferralState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.code() == s)
            .ok_or_else(|| UnknownOnwardReferralState(s.to_owned()))
    }
}

/// How the patient was connected with a service.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OnwardKind {
    /// Sent to the provider, who accepts or declines it and records what they deliver.
    Referral,
    /// The patient was told about the service and will contact it themselves. Nothing is sent
    /// to the provider and there is nothing for them to accept: it is recorded so the link
    /// worker's advice is on file and can be followed up.
    Signposting,
}

impl OnwardKind {
    pub const ALL: [OnwardKind; 2] = [OnwardKind::Referral, OnwardKind::Signposting];

    pub const fn code(self) -> &'static str {
        match self {
            OnwardKind::Referral => "referral",
            OnwardKind::Signposting => "signposting",
        }
    }
}

impl fmt::Display for OnwardKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown onward referral kind `{0}`; use referral or signposting")]
pub struct UnknownOnwardKind(pub String);

impl FromStr for OnwardKind {
    type Err = UnknownOnwardKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.code() == s)
            .ok_or_else(|| UnknownOnwardKind(s.to_owned()))
    }
}

pub const ACTIVITY_TYPE_MAX: usize = 50;

/// What a provider delivered, as a code such as `session_attended`. The payment ledger's tariffs
/// are keyed by it, so it is held to one spelling: lower-case ASCII letters, digits and
/// underscores, starting with a letter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActivityType(String);

impl ActivityType {
    /// Accepts the code with surrounding whitespace trimmed; anything else must already be in
    /// the one spelling, so two codes never differ only in case.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let code = raw.trim();
        if code.is_empty() {
            return Err(FieldError::new("required", "must not be empty"));
        }
        if code.len() > ACTIVITY_TYPE_MAX {
            return Err(FieldError::new(
                "too_long",
                format!("must be at most {ACTIVITY_TYPE_MAX} characters"),
            ));
        }
        let starts_with_letter = code.as_bytes()[0].is_ascii_lowercase();
        let all_allowed = code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !(starts_with_letter && all_allowed) {
            return Err(FieldError::new(
                "invalid_format",
                "must be lower-case letters, digits and underscores, starting with a letter, \
                 e.g. session_attended",
            ));
        }
        Ok(Self(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ActivityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const QUANTITY_MIN: i64 = 1;
pub const QUANTITY_MAX: i64 = 100;
pub const ACTIVITY_NOTE_MAX: usize = 2000;
/// Activity is recorded within a year of delivery, so claims are made while they can be checked.
pub const ACTIVITY_BACKDATE_MONTHS: u32 = 12;

/// A validated record of what a provider delivered for an onward referral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewActivity {
    pub activity_type: ActivityType,
    pub delivered_on: NaiveDate,
    /// How many of the activity (sessions, hours…), 1–100.
    pub quantity: u32,
    pub note: Option<String>,
}

impl NewActivity {
    /// Checks the activity code, that it was delivered on or before `today` and at most a year
    /// earlier, the quantity (1 when not given) and the optional note; blank notes are absent.
    pub fn parse(
        activity_type: &str,
        delivered_on: NaiveDate,
        quantity: Option<i64>,
        note: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let activity_type = errors.check("activity_type", ActivityType::parse(activity_type));
        let earliest = today
            .checked_sub_months(Months::new(ACTIVITY_BACKDATE_MONTHS))
            .unwrap_or(NaiveDate::MIN);
        if delivered_on > today {
            errors.add("delivered_on", "in_future", "must not be in the future");
        } else if delivered_on < earliest {
            errors.add(
                "delivered_on",
                "out_of_range",
                format!("must be on or after {earliest}: activity is recorded within a year"),
            );
        }
        let quantity = match quantity.unwrap_or(1) {
            q if (QUANTITY_MIN..=QUANTITY_MAX).contains(&q) => u32::try_from(q).ok(),
            _ => {
                errors.add(
                    "quantity",
                    "out_of_range",
                    format!("must be from {QUANTITY_MIN} to {QUANTITY_MAX}"),
                );
                None
            }
        };
        let note = optional_long_text(
            &mut errors,
            "note",
            note.map(str::to_owned),
            ACTIVITY_NOTE_MAX,
        );
        errors.finish(|| NewActivity {
            activity_type: activity_type.expect("checked"),
            delivered_on,
            quantity: quantity.expect("checked"),
            note,
        })
    }
}

/// Why an activity cannot be recorded under an onward referral.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ActivityRefused {
    /// Only an accepted (or completed) onward referral is delivered against.
    #[error("activities are recorded once the onward referral is accepted; it is {0}")]
    NotAccepted(OnwardReferralState),
    /// Nothing delivered before the patient was referred onward is charged to the referral.
    #[error("the onward referral was made on {0}: nothing before then was delivered under it")]
    BeforeReferral(NaiveDate),
}

impl NewActivity {
    /// Checks the activity against the onward referral it is recorded under: in `state`, made
    /// on `referred_on` (UTC). A session delivered before the provider clicked accept still
    /// counts; one before the referral existed does not.
    pub fn check_against(
        &self,
        state: OnwardReferralState,
        referred_on: NaiveDate,
    ) -> Result<(), ActivityRefused> {
        use OnwardReferralState::*;
        match state {
            Accepted | Completed if self.delivered_on < referred_on => {
                Err(ActivityRefused::BeforeReferral(referred_on))
            }
            Accepted | Completed => Ok(()),
            other => Err(ActivityRefused::NotAccepted(other)),
        }
    }
}

/// The onward referrals, by state, that are withdrawn when their referral moves to `to`: a
/// referral withdrawn, declined or not attended takes every open onward referral with it; a
/// closed one only those the provider never answered, since an accepted one may still be
/// delivered (and charged) until the provider completes it.
pub fn withdrawn_with_referral(to: ReferralState) -> &'static [OnwardReferralState] {
    use OnwardReferralState::*;
    match to {
        ReferralState::Withdrawn | ReferralState::Declined | ReferralState::DidNotAttend => {
            &[Pending, Accepted]
        }
        ReferralState::Closed => &[Pending],
        _ => &[],
    }
}

pub const DECLINE_REASON_MAX: usize = 1000;

/// Why a provider declined an onward referral: required, so the link worker can find the
/// patient something else. Line breaks are kept.
pub fn decline_reason(raw: &str) -> Result<String, FieldError> {
    long_text(raw, DECLINE_REASON_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use OnwardReferralState::*;

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

    #[test]
    fn a_referral_that_ends_withdraws_what_its_providers_can_no_longer_deliver() {
        for to in ReferralState::ALL {
            let withdrawn = withdrawn_with_referral(to);
            // Whatever is withdrawn must be able to become withdrawn.
            for state in withdrawn {
                assert_eq!(state.transition(Withdrawn), Ok(Withdrawn));
            }
            if !to.is_final() {
                assert!(withdrawn.is_empty(), "{to} ends nothing");
            }
        }
        assert_eq!(withdrawn_with_referral(ReferralState::Closed), &[Pending]);
        assert_eq!(
            withdrawn_with_referral(ReferralState::Withdrawn),
            &[Pending, Accepted]
        );
    }

    #[test]
    fn activities_belong_to_accepted_referrals_from_the_day_they_were_made() {
        let activity = NewActivity::parse(
            "session_attended",
            date(2026, 3, 10),
            None,
            None,
            date(2026, 4, 1),
        )
        .unwrap();
        assert_eq!(activity.check_against(Accepted, date(2026, 3, 10)), Ok(()));
        assert_eq!(activity.check_against(Completed, date(2026, 3, 1)), Ok(()));
        assert_eq!(
            activity.check_against(Accepted, date(2026, 3, 11)),
            Err(ActivityRefused::BeforeReferral(date(2026, 3, 11)))
        );
        for state in [Pending, Declined, Withdrawn] {
            assert_eq!(
                activity.check_against(state, date(2026, 1, 1)),
                Err(ActivityRefused::NotAccepted(state))
            );
        }
    }

    #[test]
    fn the_main_path_and_its_exits() {
        assert_eq!(
            Pending
                .transition(Accepted)
                .and_then(|s| s.transition(Completed)),
            Ok(Completed)
        );
        assert_eq!(Pending.transition(Declined), Ok(Declined));
        assert_eq!(Pending.transition(Withdrawn), Ok(Withdrawn));
        assert_eq!(Accepted.transition(Withdrawn), Ok(Withdrawn));
        assert_eq!(
            Pending.transition(Completed),
            Err(IllegalOnwardTransition {
                from: Pending,
                to: Completed
            })
        );
        assert_eq!(
            Declined.transition(Accepted).unwrap_err().to_string(),
            "an onward referral that is declined cannot become accepted"
        );
        for state in OnwardReferralState::ALL {
            assert_eq!(state.code().parse::<OnwardReferralState>().unwrap(), state);
        }
        assert!("lost".parse::<OnwardReferralState>().is_err());
    }

    #[test]
    fn kinds_round_trip() {
        for kind in OnwardKind::ALL {
            assert_eq!(kind.code().parse::<OnwardKind>().unwrap(), kind);
        }
        assert_eq!(OnwardKind::Signposting.to_string(), "signposting");
        assert!("Referral".parse::<OnwardKind>().is_err());
    }

    #[test]
    fn activity_types_have_one_spelling() {
        for good in ["session_attended", "a", "hours_1_to_1", " debt_advice "] {
            assert!(ActivityType::parse(good).is_ok(), "{good:?}");
        }
        assert_eq!(
            ActivityType::parse(" debt_advice ").unwrap().as_str(),
            "debt_advice"
        );
        assert_eq!(ActivityType::parse("").unwrap_err().code, "required");
        assert!(ActivityType::parse(&"a".repeat(ACTIVITY_TYPE_MAX)).is_ok());
        assert_eq!(
            ActivityType::parse(&"a".repeat(ACTIVITY_TYPE_MAX + 1))
                .unwrap_err()
                .code,
            "too_long"
        );
        for bad in [
            "Session",
            "1st_session",
            "_session",
            "session-attended",
            "session attended",
            "séance",
        ] {
            assert_eq!(
                ActivityType::parse(bad).unwrap_err().code,
                "invalid_format",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn activities_default_to_one_and_keep_their_note() {
        let today = date(2025, 11, 25);
        let activity = NewActivity::parse(
            "session_attended",
            today,
            None,
            Some(" First walk.\nEnjoyed it. "),
            today,
        )
        .unwrap();
        assert_eq!(activity.activity_type.as_str(), "session_attended");
        assert_eq!(activity.quantity, 1);
        assert_eq!(activity.note.as_deref(), Some("First walk.\nEnjoyed it."));
        let blank_note =
            NewActivity::parse("session_attended", today, Some(100), Some("  "), today).unwrap();
        assert_eq!((blank_note.quantity, blank_note.note), (100, None));
    }

    #[test]
    fn delivery_dates_are_bounded_by_today_and_a_year_back() {
        let today = date(2025, 11, 25);
        let parse = |on| NewActivity::parse("session_attended", on, None, None, today);
        assert!(parse(date(2024, 11, 25)).is_ok());
        assert_eq!(
            fields(&parse(date(2024, 11, 24)).unwrap_err()),
            [("delivered_on", "out_of_range")]
        );
        assert_eq!(
            fields(&parse(date(2025, 11, 26)).unwrap_err()),
            [("delivered_on", "in_future")]
        );
    }

    #[test]
    fn every_bad_activity_field_is_reported() {
        let today = date(2025, 11, 25);
        let long_note = "x".repeat(ACTIVITY_NOTE_MAX + 1);
        let errors = NewActivity::parse(
            "Session",
            date(2026, 1, 1),
            Some(0),
            Some(&long_note),
            today,
        )
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                ("activity_type", "invalid_format"),
                ("delivered_on", "in_future"),
                ("quantity", "out_of_range"),
                ("note", "too_long")
            ]
        );
        let errors = NewActivity::parse("session", today, Some(101), None, today).unwrap_err();
        assert_eq!(fields(&errors), [("quantity", "out_of_range")]);
    }

    #[test]
    fn decline_reasons_are_required_and_bounded() {
        assert_eq!(
            decline_reason(" Group is full until March. ").unwrap(),
            "Group is full until March."
        );
        assert_eq!(decline_reason(" ").unwrap_err().code, "required");
        assert!(decline_reason(&"x".repeat(DECLINE_REASON_MAX)).is_ok());
        assert_eq!(
            decline_reason(&"x".repeat(DECLINE_REASON_MAX + 1))
                .unwrap_err()
                .code,
            "too_long"
        );
    }

    fn any_state() -> impl Strategy<Value = OnwardReferralState> {
        proptest::sample::select(OnwardReferralState::ALL.to_vec())
    }

    proptest! {
        /// Whatever is attempted, an onward referral never returns to a state it has left, stops
        /// once final, and every refusal leaves it where it was.
        #[test]
        fn attempts_never_revisit_a_state(attempts in proptest::collection::vec(any_state(), 0..30)) {
            let mut state = Pending;
            let mut visited = vec![Pending];
            for to in attempts {
                match state.transition(to) {
                    Ok(next) => {
                        prop_assert!(!visited.contains(&next), "{state} -> {next} revisits");
                        prop_assert!(state.next().contains(&next));
                        visited.push(next);
                        state = next;
                    }
                    Err(refused) => {
                        prop_assert_eq!(refused.from, state);
                        prop_assert_eq!(refused.to, to);
                        prop_assert!(!state.next().contains(&to));
                    }
                }
            }
            prop_assert!(visited.len() <= 3, "the longest path is pending, accepted, completed");
        }

        #[test]
        fn final_states_accept_nothing(from in any_state(), to in any_state()) {
            if from.is_final() {
                prop_assert!(from.transition(to).is_err());
            }
        }

        #[test]
        fn codes_of_the_pattern_are_kept_as_given(code in "[a-z][a-z0-9_]{0,49}") {
            let parsed = ActivityType::parse(&code).unwrap();
            prop_assert_eq!(parsed.as_str(), code.as_str());
        }

        #[test]
        fn any_other_character_is_refused(
            before in "[a-z][a-z0-9_]{0,20}",
            bad in "[A-Z .\\-/é]",
            after in "[a-z0-9_]{1,20}",
        ) {
            let raw = format!("{before}{bad}{after}");
            prop_assert_eq!(ActivityType::parse(&raw).unwrap_err().code, "invalid_format");
        }
    }
}
