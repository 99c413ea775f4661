//! Charges: what an activity costs, from recording to payment.

use super::money::Pence;
use std::fmt;
use std::str::FromStr;

/// pending → approved → paid, or pending → rejected, or approved → reversed (before payment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    /// Priced and waiting for a federation administrator.
    Pending,
    /// Posted: the fund owes the provider.
    Approved,
    /// Refused; never moves money.
    Rejected,
    /// Approved, then taken back by a reversing transfer before it was paid.
    Reversed,
    /// Settled by a payment run.
    Paid,
}

impl ChargeStatus {
    pub const ALL: [ChargeStatus; 5] = [
        ChargeStatus::Pending,
        ChargeStatus::Approved,
        ChargeStatus::Rejected,
        ChargeStatus::Reversed,
        ChargeStatus::Paid,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            ChargeStatus::Pending => "pending",
            ChargeStatus::Approved => "approved",
            ChargeStatus::Rejected => "rejected",
            ChargeStatus::Reversed => "reversed",
            ChargeStatus::Paid => "paid",
        }
    }

    pub const fn next(self) -> &'static [ChargeStatus] {
        use ChargeStatus::*;
        match self {
            Pending => &[Approved, Rejected],
            Approved => &[Reversed, Paid],
            Rejected | Reversed | Paid => &[],
        }
    }

    pub fn transition(self, to: ChargeStatus) -> Result<ChargeStatus, IllegalChargeTransition> {
        if self.next().contains(&to) {
            Ok(to)
        } else {
            Err(IllegalChargeTransition { from: self, to })
        }
    }
}

impl fmt::Display for ChargeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown charge status `{0}`; use pending, approved, rejected, reversed or paid")]
pub struct UnknownChargeStatus(pub String);

impl FromStr for ChargeStatus {
    type Err = UnknownChargeStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or_else(|| UnknownChargeStatus(s.to_owned()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a charge that is {from} cannot become {to}")]
pub struct IllegalChargeTransition {
    pub from: ChargeStatus,
    pub to: ChargeStatus,
}

/// The price of `quantity` units at `unit` each; `None` if it would overflow.
pub fn price(unit: Pence, quantity: u32) -> Option<Pence> {
    unit.checked_mul(i64::from(quantity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charge_moves_money_at_most_once_and_ends_once() {
        use ChargeStatus::*;
        assert_eq!(Pending.transition(Approved), Ok(Approved));
        assert!(Approved.transition(Approved).is_err());
        assert!(Paid.transition(Reversed).is_err());
        assert!(Rejected.transition(Approved).is_err());
        assert!(Pending.transition(Paid).is_err());
        for status in ChargeStatus::ALL {
            assert_eq!(status.code().parse::<ChargeStatus>().unwrap(), status);
        }
    }

    #[test]
    fn prices_multiply_exactly() {
        assert_eq!(price(Pence(1250), 3), Some(Pence(3750)));
        assert_eq!(price(Pence(i64::MAX), 2), None);
    }
}
