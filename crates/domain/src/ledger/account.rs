//! Ledger accounts and which of them may go below zero.

use super::money::Pence;
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountKind {
    /// Where funding comes from: its balance is minus everything the commissioner has paid in.
    Commissioner,
    /// The programme fund that pays for approved activities.
    Fund,
    /// What the federation owes one provider organisation.
    Payable,
    /// Everything paid to providers, net of what was recovered from them.
    PaidOut,
    /// What one provider organisation owes back for charges clawed back after they were paid:
    /// its balance is minus what is still to be recovered, netted off its next payments.
    Recoverable,
}

impl AccountKind {
    pub const ALL: [AccountKind; 5] = [
        AccountKind::Commissioner,
        AccountKind::Fund,
        AccountKind::Payable,
        AccountKind::PaidOut,
        AccountKind::Recoverable,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            AccountKind::Commissioner => "commissioner",
            AccountKind::Fund => "fund",
            AccountKind::Payable => "payable",
            AccountKind::PaidOut => "paid_out",
            AccountKind::Recoverable => "recoverable",
        }
    }

    /// Whether the account belongs to one provider organisation.
    pub const fn is_provider_account(self) -> bool {
        matches!(self, AccountKind::Payable | AccountKind::Recoverable)
    }

    /// Whether a debit may take the account's balance (credits less debits) below zero. The
    /// commissioner's account does so by nature, and a provider's recoverable account (what it
    /// owes back) only ever holds a debt; the fund may when the federation allows an overdraft;
    /// a provider is never owed less than nothing, and paid out never falls below zero.
    pub const fn may_go_negative(self, fund_overdraft_allowed: bool) -> bool {
        match self {
            AccountKind::Commissioner | AccountKind::Recoverable => true,
            AccountKind::Fund => fund_overdraft_allowed,
            AccountKind::Payable | AccountKind::PaidOut => false,
        }
    }

    /// Whether a credit may take the balance above zero: not for a recoverable account, from
    /// which no more can be recovered than is owed.
    pub const fn may_go_positive(self) -> bool {
        !matches!(self, AccountKind::Recoverable)
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown account kind `{0}`")]
pub struct UnknownAccountKind(pub String);

impl FromStr for AccountKind {
    type Err = UnknownAccountKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.code() == s)
            .ok_or_else(|| UnknownAccountKind(s.to_owned()))
    }
}

/// A debit the account cannot take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the {kind} account holds {balance} and cannot pay {amount}: {shortfall} short")]
pub struct InsufficientFunds {
    pub kind: AccountKind,
    pub balance: Pence,
    pub amount: Pence,
    pub shortfall: Pence,
}

/// The balance after debiting `amount`, if the account may take it.
pub fn debit(
    kind: AccountKind,
    balance: Pence,
    amount: Pence,
    fund_overdraft_allowed: bool,
) -> Result<Pence, InsufficientFunds> {
    let after = balance.checked_sub(amount).ok_or(InsufficientFunds {
        kind,
        balance,
        amount,
        shortfall: amount,
    })?;
    if after.0 < 0 && !kind.may_go_negative(fund_overdraft_allowed) {
        return Err(InsufficientFunds {
            kind,
            balance,
            amount,
            shortfall: Pence(-after.0),
        });
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fund_refuses_overdraft_unless_allowed() {
        let refused = debit(AccountKind::Fund, Pence(500), Pence(800), false).unwrap_err();
        assert_eq!(refused.shortfall, Pence(300));
        assert_eq!(
            debit(AccountKind::Fund, Pence(500), Pence(800), true),
            Ok(Pence(-300))
        );
        assert_eq!(
            debit(AccountKind::Fund, Pence(800), Pence(800), false),
            Ok(Pence(0))
        );
    }

    #[test]
    fn only_the_commissioner_and_debts_go_negative_by_nature() {
        assert!(debit(AccountKind::Commissioner, Pence(0), Pence(10), false).is_ok());
        assert!(debit(AccountKind::Recoverable, Pence(0), Pence(10), false).is_ok());
        assert!(!AccountKind::Recoverable.may_go_positive());
        assert!(AccountKind::Payable.may_go_positive());
        assert!(debit(AccountKind::Payable, Pence(5), Pence(10), true).is_err());
        assert!(debit(AccountKind::PaidOut, Pence(5), Pence(10), true).is_err());
    }
}
