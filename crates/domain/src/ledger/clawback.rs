//! Clawbacks: a charge found wrong after it was paid (a duplicate delivery, a wrong tariff) is
//! corrected by a new transfer, never by editing. The provider then owes the amount back, and
//! its next payment runs net it off (see `payment`).

use super::money::Pence;

/// Why a clawback cannot be raised as asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClawbackRefused {
    #[error("the charge has been clawed back in full already")]
    NothingLeft,
    #[error("a clawback must be at least 1p")]
    NotPositive,
    #[error("at most {left} of the charge is left to claw back")]
    MoreThanLeft { left: Pence },
}

/// How much to claw back from a paid charge of `charge` pence, of which `already` has been
/// clawed back: `requested`, or all that is left when none is named.
pub fn amount(
    charge: Pence,
    already: Pence,
    requested: Option<Pence>,
) -> Result<Pence, ClawbackRefused> {
    let left = Pence(charge.0.saturating_sub(already.0).max(0));
    if left == Pence::ZERO {
        return Err(ClawbackRefused::NothingLeft);
    }
    match requested {
        None => Ok(left),
        Some(amount) if amount.0 <= 0 => Err(ClawbackRefused::NotPositive),
        Some(amount) if amount > left => Err(ClawbackRefused::MoreThanLeft { left }),
        Some(amount) => Ok(amount),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_clawback_is_all_that_is_left_or_a_part_of_it() {
        assert_eq!(amount(Pence(1_500), Pence::ZERO, None), Ok(Pence(1_500)));
        assert_eq!(amount(Pence(1_500), Pence(500), None), Ok(Pence(1_000)));
        assert_eq!(
            amount(Pence(1_500), Pence(500), Some(Pence(200))),
            Ok(Pence(200))
        );
        assert_eq!(
            amount(Pence(1_500), Pence(500), Some(Pence(1_001))),
            Err(ClawbackRefused::MoreThanLeft { left: Pence(1_000) })
        );
        assert_eq!(
            amount(Pence(1_500), Pence(1_500), None),
            Err(ClawbackRefused::NothingLeft)
        );
        assert_eq!(
            amount(Pence(1_500), Pence::ZERO, Some(Pence(0))),
            Err(ClawbackRefused::NotPositive)
        );
    }

    proptest! {
        #[test]
        fn clawbacks_never_add_up_to_more_than_the_charge(
            charge in 1i64..100_000,
            asks in proptest::collection::vec(proptest::option::of(-10i64..50_000), 0..20),
        ) {
            let mut clawed = Pence::ZERO;
            for ask in asks {
                if let Ok(taken) = amount(Pence(charge), clawed, ask.map(Pence)) {
                    prop_assert!(taken.0 > 0);
                    clawed = clawed.checked_add(taken).unwrap();
                }
                prop_assert!(clawed.0 <= charge);
            }
        }
    }
}
