//! Referrals from a clinician to the social prescribing service, and how they end.

use super::referral_state::ReferralState;
use crate::directory::contact::long_text;
use crate::directory::NeedCategory;
use crate::validation::{FieldError, ValidationErrors};
use std::fmt;
use std::str::FromStr;

/// SNOMED CT concepts GP systems code social prescribing with.
pub mod snomed {
    /// 'Referral to social prescribing service (procedure)'.
    pub const REFERRAL_TO_SOCIAL_PRESCRIBING: &str = "871731000000106";
    /// 'Social prescribing declined (situation)'.
    pub const SOCIAL_PRESCRIBING_DECLINED: &str = "871711000000103";

    /// The human term of a concept this module names.
    pub fn display(concept: &str) -> &'static str {
        match concept {
            SOCIAL_PRESCRIBING_DECLINED => "Social prescribing declined",
            _ => "Referral to social prescribing service",
        }
    }
}

/// The SNOMED CT concept that codes a referral in `state`: a declined referral is coded as
/// declined, every other as the referral itself.
pub fn snomed_concept(state: ReferralState) -> &'static str {
    match state {
        ReferralState::Declined => snomed::SOCIAL_PRESCRIBING_DECLINED,
        _ => snomed::REFERRAL_TO_SOCIAL_PRESCRIBING,
    }
}

macro_rules! coded_enum {
    ($(#[$meta:meta])* $name:ident, $unknown:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }

        #[derive(Debug, PartialEq, Eq, thiserror::Error)]
        #[error("unknown {} `{}`; use one of: {}", $what, .0, [$($code),+].join(", "))]
        pub struct $unknown(pub String);

        impl FromStr for $name {
            type Err = $unknown;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.code() == s).ok_or_else(|| $unknown(s.to_owned()))
            }
        }
    };
}

coded_enum!(
    /// How soon the patient should be seen.
    Urgency, UnknownUrgency, "urgency", {
        Routine => "routine",
        Soon => "soon",
        Urgent => "urgent",
    }
);

coded_enum!(
    /// How a referral ended, for the practice and the commissioner's evidence.
    Outcome, UnknownOutcome, "outcome", {
        /// The needs that brought the patient were met.
        NeedsMet => "needs_met",
        PartlyMet => "partly_met",
        NotMet => "not_met",
        /// The patient stopped taking part.
        Disengaged => "disengaged",
        MovedAway => "moved_away",
        Other => "other",
    }
);

/// A referral as a clinician sends it, before validation.
#[derive(Clone, Debug, Default)]
pub struct ReferralInput {
    pub need_categories: Vec<NeedCategory>,
    pub note: Option<String>,
    pub urgency: Urgency,
}

// coded_enum! derives no Default, and only Urgency has one.
#[allow(clippy::derivable_impls)]
impl Default for Urgency {
    fn default() -> Self {
        Urgency::Routine
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReferral {
    /// Sorted, without repeats.
    pub need_categories: Vec<NeedCategory>,
    pub note: Option<String>,
    pub urgency: Urgency,
}

impl NewReferral {
    pub fn parse(input: ReferralInput) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut need_categories = input.need_categories;
        need_categories.sort();
        need_categories.dedup();
        if need_categories.is_empty() {
            errors.add(
                "need_categories",
                "required",
                "name at least one need category (see /v1/directory/need-categories)",
            );
        }
        let note = input
            .note
            .filter(|n| !n.trim().is_empty())
            .and_then(|n| errors.check("note", long_text(&n, 4000)));
        errors.finish(|| NewReferral {
            need_categories,
            note,
            urgency: input.urgency,
        })
    }
}

/// How a referral closes: an outcome and, optionally, a few words about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closure {
    pub outcome: Outcome,
    pub note: Option<String>,
}

impl Closure {
    pub fn parse(outcome: Outcome, note: Option<String>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let note = note
            .filter(|n| !n.trim().is_empty())
            .and_then(|n| errors.check("note", long_text(&n, 4000)));
        errors.finish(|| Closure { outcome, note })
    }
}

/// States a referral reaches only through the clinic: booking a slot makes it booked, and
/// recording attendance makes it seen or did_not_attend.
pub fn reached_through_clinic(to: ReferralState) -> bool {
    matches!(
        to,
        ReferralState::Booked | ReferralState::Seen | ReferralState::DidNotAttend
    )
}

/// The reason given when a referral is declined or withdrawn; required so the record explains
/// itself.
pub fn transition_reason(
    to: ReferralState,
    reason: Option<&str>,
) -> Result<Option<String>, FieldError> {
    let reason = reason.filter(|r| !r.trim().is_empty());
    match (to, reason) {
        (ReferralState::Declined | ReferralState::Withdrawn, None) => Err(FieldError::new(
            "required",
            format!("say why the referral is {to}"),
        )),
        (_, Some(reason)) => long_text(reason, 1000).map(Some),
        (_, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn need_categories_are_required_sorted_and_deduplicated() {
        let referral = NewReferral::parse(ReferralInput {
            need_categories: vec![
                NeedCategory::Housing,
                NeedCategory::LonelinessIsolation,
                NeedCategory::Housing,
            ],
            note: Some("  ".into()),
            urgency: Urgency::Soon,
        })
        .unwrap();
        assert_eq!(
            referral.need_categories,
            [NeedCategory::LonelinessIsolation, NeedCategory::Housing]
        );
        assert_eq!(referral.note, None);
        let errors = NewReferral::parse(ReferralInput {
            note: Some("x".repeat(4001)),
            ..ReferralInput::default()
        })
        .unwrap_err();
        let codes: Vec<_> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            codes,
            [("need_categories", "required"), ("note", "too_long")]
        );
    }

    #[test]
    fn declined_referrals_are_coded_as_declined() {
        assert_eq!(snomed_concept(ReferralState::Declined), "871711000000103");
        for state in ReferralState::ALL {
            if state != ReferralState::Declined {
                assert_eq!(snomed_concept(state), "871731000000106");
            }
        }
        assert_eq!(
            snomed::display(snomed_concept(ReferralState::Declined)),
            "Social prescribing declined"
        );
    }

    #[test]
    fn exits_need_a_reason() {
        assert!(transition_reason(ReferralState::Declined, None).is_err());
        assert!(transition_reason(ReferralState::Withdrawn, Some(" ")).is_err());
        assert_eq!(
            transition_reason(ReferralState::Withdrawn, Some("moved practice")).unwrap(),
            Some("moved practice".into())
        );
        assert_eq!(transition_reason(ReferralState::Seen, None).unwrap(), None);
    }

    #[test]
    fn coded_enums_round_trip() {
        for outcome in Outcome::ALL {
            assert_eq!(outcome.code().parse::<Outcome>().unwrap(), *outcome);
        }
        assert!("soonish"
            .parse::<Urgency>()
            .unwrap_err()
            .to_string()
            .contains("routine, soon, urgent"));
    }
}
