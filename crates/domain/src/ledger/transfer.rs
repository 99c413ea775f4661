//! Transfers: one or more debits and credits that balance exactly.

use super::money::Pence;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    pub const fn code(self) -> &'static str {
        match self {
            Side::Debit => "debit",
            Side::Credit => "credit",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    pub account: Uuid,
    pub side: Side,
    pub amount: Pence,
}

impl Entry {
    pub fn debit(account: Uuid, amount: Pence) -> Self {
        Self {
            account,
            side: Side::Debit,
            amount,
        }
    }

    pub fn credit(account: Uuid, amount: Pence) -> Self {
        Self {
            account,
            side: Side::Credit,
            amount,
        }
    }

    /// The entry's effect on its account's balance (credits less debits).
    pub fn signed(&self) -> Pence {
        match self.side {
            Side::Credit => self.amount,
            Side::Debit => Pence(-self.amount.0),
        }
    }
}

/// Why money moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// Commissioner funding into the programme fund.
    TopUp,
    /// An approved charge: fund → provider payable.
    ChargeApproval,
    /// An approved, unpaid charge taken back: provider payable → fund.
    ChargeReversal,
    /// A payment run settling a provider: provider payable → paid out, less what is netted off
    /// for clawbacks (provider payable → provider recoverable).
    Payment,
    /// A paid charge clawed back, wholly or in part: provider recoverable → fund.
    Clawback,
}

impl TransferKind {
    pub const ALL: [TransferKind; 5] = [
        TransferKind::TopUp,
        TransferKind::ChargeApproval,
        TransferKind::ChargeReversal,
        TransferKind::Payment,
        TransferKind::Clawback,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            TransferKind::TopUp => "top_up",
            TransferKind::ChargeApproval => "charge_approval",
            TransferKind::ChargeReversal => "charge_reversal",
            TransferKind::Payment => "payment",
            TransferKind::Clawback => "clawback",
        }
    }
}

impl fmt::Display for TransferKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown transfer kind `{0}`")]
pub struct UnknownTransferKind(pub String);

impl FromStr for TransferKind {
    type Err = UnknownTransferKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.code() == s)
            .ok_or_else(|| UnknownTransferKind(s.to_owned()))
    }
}

/// A transfer that cannot be posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTransfer {
    #[error("a transfer needs at least one debit and one credit")]
    OneSided,
    #[error("every entry moves a positive amount")]
    NotPositive,
    #[error("debits ({debits}) and credits ({credits}) differ")]
    Unbalanced { debits: Pence, credits: Pence },
    #[error("the amounts overflow")]
    Overflow,
}

/// A balanced set of entries: the only way money moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    kind: TransferKind,
    entries: Vec<Entry>,
}

impl Transfer {
    pub fn new(kind: TransferKind, entries: Vec<Entry>) -> Result<Self, InvalidTransfer> {
        if entries.iter().any(|e| e.amount.0 <= 0) {
            return Err(InvalidTransfer::NotPositive);
        }
        let total = |side: Side| {
            entries
                .iter()
                .filter(|e| e.side == side)
                .try_fold(Pence::ZERO, |sum, e| sum.checked_add(e.amount))
                .ok_or(InvalidTransfer::Overflow)
        };
        let (debits, credits) = (total(Side::Debit)?, total(Side::Credit)?);
        if debits == Pence::ZERO || credits == Pence::ZERO {
            return Err(InvalidTransfer::OneSided);
        }
        if debits != credits {
            return Err(InvalidTransfer::Unbalanced { debits, credits });
        }
        Ok(Self { kind, entries })
    }

    /// The usual transfer: one debit and one matching credit.
    pub fn simple(
        kind: TransferKind,
        from: Uuid,
        to: Uuid,
        amount: Pence,
    ) -> Result<Self, InvalidTransfer> {
        Self::new(
            kind,
            vec![Entry::debit(from, amount), Entry::credit(to, amount)],
        )
    }

    pub fn kind(&self) -> TransferKind {
        self.kind
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The amount moved: the debits' total (equal to the credits').
    pub fn amount(&self) -> Pence {
        Pence(
            self.entries
                .iter()
                .filter(|e| e.side == Side::Debit)
                .map(|e| e.amount.0)
                .sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unbalanced_one_sided_and_non_positive_transfers_are_refused() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            Transfer::new(
                TransferKind::TopUp,
                vec![Entry::debit(a, Pence(100)), Entry::credit(b, Pence(90))]
            ),
            Err(InvalidTransfer::Unbalanced {
                debits: Pence(100),
                credits: Pence(90)
            })
        );
        assert_eq!(
            Transfer::new(TransferKind::TopUp, vec![Entry::credit(b, Pence(90))]),
            Err(InvalidTransfer::OneSided)
        );
        assert_eq!(
            Transfer::simple(TransferKind::TopUp, a, b, Pence(0)),
            Err(InvalidTransfer::NotPositive)
        );
        let split = Transfer::new(
            TransferKind::Payment,
            vec![
                Entry::debit(a, Pence(100)),
                Entry::credit(b, Pence(60)),
                Entry::credit(c, Pence(40)),
            ],
        )
        .unwrap();
        assert_eq!(split.amount(), Pence(100));
    }

    proptest! {
        #[test]
        fn accepted_transfers_change_the_sum_of_balances_by_nothing(
            amounts in proptest::collection::vec(1i64..1_000_000, 1..6)
        ) {
            let total: i64 = amounts.iter().sum();
            let mut entries = vec![Entry::debit(Uuid::now_v7(), Pence(total))];
            entries.extend(amounts.iter().map(|a| Entry::credit(Uuid::now_v7(), Pence(*a))));
            let transfer = Transfer::new(TransferKind::Payment, entries).unwrap();
            let net: i64 = transfer.entries().iter().map(|e| e.signed().0).sum();
            prop_assert_eq!(net, 0);
        }
    }
}
