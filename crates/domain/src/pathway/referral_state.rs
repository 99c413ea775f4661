//! The life of a referral: received → booked → seen → active → closed, with the exits declined,
//! did_not_attend and withdrawn. Every other move is refused, naming the current state.

use std::fmt;
use std::str::FromStr;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ReferralState {
    /// Sent by a clinician, not yet booked into a clinic.
    Received,
    /// Booked into a clinic slot.
    Booked,
    /// The patient attended the clinic and was assessed.
    Seen,
    /// Referred onward; engaged with one or more services.
    Active,
    /// Finished, with an outcome.
    Closed,
    /// The patient declined social prescribing.
    Declined,
    /// The patient did not attend the booked clinic.
    DidNotAttend,
    /// Withdrawn by the practice or the patient.
    Withdrawn,
}

/// A move the pathway does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a referral that is {from} cannot become {to}")]
pub struct IllegalTransition {
    pub from: ReferralState,
    pub to: ReferralState,
}

impl ReferralState {
    pub const ALL: [ReferralState; 8] = [
        ReferralState::Received,
        ReferralState::Booked,
        ReferralState::Seen,
        ReferralState::Active,
        ReferralState::Closed,
        ReferralState::Declined,
        ReferralState::DidNotAttend,
        ReferralState::Withdrawn,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            ReferralState::Received => "received",
            ReferralState::Booked => "booked",
            ReferralState::Seen => "seen",
            ReferralState::Active => "active",
            ReferralState::Closed => "closed",
            ReferralState::Declined => "declined",
            ReferralState::DidNotAttend => "did_not_attend",
            ReferralState::Withdrawn => "withdrawn",
        }
    }

    /// The states this one may move to.
    pub const fn next(self) -> &'static [ReferralState] {
        use ReferralState::*;
        match self {
            Received => &[Booked, Declined, Withdrawn],
            Booked => &[Seen, DidNotAttend, Declined, Withdrawn],
            Seen => &[Active, Closed, Declined, Withdrawn],
            Active => &[Closed, Withdrawn],
            Closed | Declined | DidNotAttend | Withdrawn => &[],
        }
    }

    /// Whether moving to this state gives up a clinic booking not yet attended: the patient is
    /// no longer coming, so the slot is free for someone else.
    pub const fn releases_booking(self) -> bool {
        matches!(self, ReferralState::Declined | ReferralState::Withdrawn)
    }

    pub fn is_final(self) -> bool {
        self.next().is_empty()
    }

    pub fn transition(self, to: ReferralState) -> Result<ReferralState, IllegalTransition> {
        if self.next().contains(&to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl fmt::Display for ReferralState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown referral state `{0}`")]
pub struct UnknownReferralState(pub String);

impl FromStr for ReferralState {
    type Err = UnknownReferralState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.code() == s)
            .ok_or_else(|| UnknownReferralState(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ReferralState::*;

    /// Every (from, to) pair the pathway allows, written out: any change to the machine must
    /// change this table too.
    const ALLOWED: [(ReferralState, ReferralState); 13] = [
        (Received, Booked),
        (Received, Declined),
        (Received, Withdrawn),
        (Booked, Seen),
        (Booked, DidNotAttend),
        (Booked, Declined),
        (Booked, Withdrawn),
        (Seen, Active),
        (Seen, Closed),
        (Seen, Declined),
        (Seen, Withdrawn),
        (Active, Closed),
        (Active, Withdrawn),
    ];

    #[test]
    fn exactly_the_listed_moves_are_allowed() {
        for from in ReferralState::ALL {
            for to in ReferralState::ALL {
                let allowed = ALLOWED.contains(&(from, to));
                assert_eq!(
                    from.transition(to).is_ok(),
                    allowed,
                    "{from} -> {to} should be {}",
                    if allowed { "allowed" } else { "refused" }
                );
                if !allowed {
                    assert_eq!(from.transition(to), Err(IllegalTransition { from, to }));
                }
            }
        }
    }

    #[test]
    fn only_leaving_the_pathway_gives_up_a_booking() {
        let releasing: Vec<ReferralState> = ReferralState::ALL
            .into_iter()
            .filter(|s| s.releases_booking())
            .collect();
        assert_eq!(releasing, vec![Declined, Withdrawn]);
    }

    #[test]
    fn the_main_path_and_its_exits() {
        let closed = Received
            .transition(Booked)
            .and_then(|s| s.transition(Seen))
            .and_then(|s| s.transition(Active))
            .and_then(|s| s.transition(Closed));
        assert_eq!(closed, Ok(Closed));
        assert_eq!(Booked.transition(DidNotAttend), Ok(DidNotAttend));
        assert_eq!(
            Received.transition(Seen),
            Err(IllegalTransition {
                from: Received,
                to: Seen
            })
        );
        assert_eq!(
            Closed.transition(Active).unwrap_err().to_string(),
            "a referral that is closed cannot become active"
        );
        for state in ReferralState::ALL {
            assert_eq!(state.code().parse::<ReferralState>().unwrap(), state);
        }
    }

    fn any_state() -> impl Strategy<Value = ReferralState> {
        proptest::sample::select(ReferralState::ALL.to_vec())
    }

    proptest! {
        /// Whatever is attempted, a referral never returns to a state it has left, stops moving
        /// once final, and every refusal leaves it where it was.
        #[test]
        fn attempts_never_revisit_a_state(attempts in proptest::collection::vec(any_state(), 0..40)) {
            let mut state = Received;
            let mut visited = vec![Received];
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
                        prop_assert!(!state.next().contains(&to));
                    }
                }
            }
            prop_assert!(visited.len() <= 5, "the longest path is received, booked, seen, active, closed");
        }

        #[test]
        fn final_states_accept_nothing(from in any_state(), to in any_state()) {
            if from.is_final() {
                prop_assert!(from.transition(to).is_err());
            }
        }
    }
}
