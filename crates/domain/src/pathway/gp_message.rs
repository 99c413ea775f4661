//! The message back to the GP and the referrer (the Social Prescribing Information Standard's
//! "Message back to GP and referrer"): which of a referral's events are coded for the GP
//! record, and how much of the referral's story may leave the practice.

use super::patient::Consent;
use super::referral::snomed;
use super::ReferralState;
use chrono::{DateTime, Utc};

/// 'Short Warwick-Edinburgh Mental Well-being Scale score (observable entity)'.
pub const SWEMWBS_SCORE: &str = "718466001";
pub const SWEMWBS_SCORE_DISPLAY: &str = "Short Warwick-Edinburgh Mental Well-being Scale score";

/// How much of the referral leaves the practice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disclosure {
    /// Everything the message holds.
    Full,
    /// The coded events, who the patient is (by NHS number) and the practice: what a GP
    /// system files whatever the patient agreed, as the practice's own record of the referral.
    CodesOnly,
}

impl Disclosure {
    /// The patient decides: without consent to share beyond the practice, codes only.
    pub fn of(consent: &Consent) -> Self {
        if consent.share_beyond_practice {
            Disclosure::Full
        } else {
            Disclosure::CodesOnly
        }
    }

    pub const fn code(self) -> &'static str {
        match self {
            Disclosure::Full => "full",
            Disclosure::CodesOnly => "codes_only",
        }
    }
}

/// A SNOMED CT concept the GP record is coded with, and when it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodedEvent {
    pub code: &'static str,
    pub display: &'static str,
    pub at: DateTime<Utc>,
}

/// The concept a referral is coded with on entering `state`: the referral to social prescribing
/// when it is made (and received), the decline when it is declined.
pub fn coded_on_entering(state: ReferralState) -> Option<(&'static str, &'static str)> {
    let code = match state {
        ReferralState::Received => snomed::REFERRAL_TO_SOCIAL_PRESCRIBING,
        ReferralState::Declined => snomed::SOCIAL_PRESCRIBING_DECLINED,
        _ => return None,
    };
    Some((code, snomed::display(code)))
}

/// The referral's coded events, in order: the referral to social prescribing when it was made,
/// and, when it was declined, the decline.
pub fn coded_events(
    referred_at: DateTime<Utc>,
    states: &[(ReferralState, DateTime<Utc>)],
) -> Vec<CodedEvent> {
    let (code, display) =
        coded_on_entering(ReferralState::Received).expect("a referral is coded when made");
    let mut events = vec![CodedEvent {
        code,
        display,
        at: referred_at,
    }];
    events.extend(
        states
            .iter()
            .filter(|(state, _)| *state != ReferralState::Received)
            .filter_map(|(state, at)| {
                coded_on_entering(*state).map(|(code, display)| CodedEvent {
                    code,
                    display,
                    at: *at,
                })
            }),
    );
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn only_consent_to_share_beyond_the_practice_sends_more_than_codes() {
        let mut consent = Consent::default();
        assert_eq!(Disclosure::of(&consent), Disclosure::CodesOnly);
        consent.share_name_with_providers = true;
        assert_eq!(Disclosure::of(&consent), Disclosure::CodesOnly);
        consent.share_beyond_practice = true;
        assert_eq!(Disclosure::of(&consent), Disclosure::Full);
    }

    #[test]
    fn only_being_made_and_being_declined_are_coded() {
        assert_eq!(
            coded_on_entering(ReferralState::Received).unwrap().0,
            "871731000000106"
        );
        assert_eq!(
            coded_on_entering(ReferralState::Declined).unwrap().0,
            "871711000000103"
        );
        for state in [
            ReferralState::Booked,
            ReferralState::Seen,
            ReferralState::Closed,
        ] {
            assert_eq!(coded_on_entering(state), None);
        }
    }

    #[test]
    fn a_referral_is_coded_when_made_and_again_when_declined() {
        let at = |h| Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap();
        let events = coded_events(at(9), &[(ReferralState::Received, at(9))]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].code, "871731000000106");
        let events = coded_events(
            at(9),
            &[
                (ReferralState::Received, at(9)),
                (ReferralState::Declined, at(11)),
            ],
        );
        assert_eq!(
            events.iter().map(|e| (e.code, e.at)).collect::<Vec<_>>(),
            [("871731000000106", at(9)), ("871711000000103", at(11))]
        );
        assert_eq!(events[1].display, "Social prescribing declined");
    }
}
