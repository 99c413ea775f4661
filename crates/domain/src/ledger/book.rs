//! The balances of the accounts a posting touches, with the rule every debit must pass: the one
//! place that decides whether transfers may be posted. Persistence fills a book from the
//! accounts it has locked, posts to it, and writes only what the book accepted.

use super::account::{debit, AccountKind, InsufficientFunds};
use super::money::Pence;
use super::transfer::{Side, Transfer};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Why a transfer could not be posted to the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostingRefused {
    #[error(transparent)]
    InsufficientFunds(#[from] InsufficientFunds),
    #[error("account {0} is not open in this book")]
    UnknownAccount(Uuid),
    #[error("the balance of account {0} would overflow")]
    Overflow(Uuid),
    /// A credit beyond what the account may hold: more recovered than is owed.
    #[error("account {0} would be credited beyond zero")]
    OverCredited(Uuid),
}

/// An account's running totals, as stored: the balance is credits less debits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub debits: Pence,
    pub credits: Pence,
}

impl Totals {
    pub fn balance(&self) -> Pence {
        Pence(self.credits.0 - self.debits.0)
    }
}

#[derive(Clone, Copy, Debug)]
struct Account {
    kind: AccountKind,
    opened_with: Totals,
    totals: Totals,
}

/// Accounts with their totals, and whether the fund may be overdrawn.
#[derive(Clone, Debug)]
pub struct Book {
    accounts: BTreeMap<Uuid, Account>,
    fund_overdraft_allowed: bool,
}

impl Book {
    pub fn new(fund_overdraft_allowed: bool) -> Self {
        Self {
            accounts: BTreeMap::new(),
            fund_overdraft_allowed,
        }
    }

    /// Adds an account as it stands before anything is posted.
    pub fn open(&mut self, account: Uuid, kind: AccountKind, totals: Totals) {
        self.accounts.insert(
            account,
            Account {
                kind,
                opened_with: totals,
                totals,
            },
        );
    }

    pub fn balance(&self, account: Uuid) -> Option<Pence> {
        self.accounts.get(&account).map(|a| a.totals.balance())
    }

    /// Posts every entry of `transfer`, or none of them: a debit that would take an account
    /// below what it may hold refuses the whole transfer and leaves the book as it was.
    pub fn post(&mut self, transfer: &Transfer) -> Result<(), PostingRefused> {
        let mut changed: BTreeMap<Uuid, Account> = BTreeMap::new();
        for entry in transfer.entries() {
            let mut account = match changed.get(&entry.account) {
                Some(account) => *account,
                None => *self
                    .accounts
                    .get(&entry.account)
                    .ok_or(PostingRefused::UnknownAccount(entry.account))?,
            };
            let overflow = PostingRefused::Overflow(entry.account);
            match entry.side {
                Side::Debit => {
                    debit(
                        account.kind,
                        account.totals.balance(),
                        entry.amount,
                        self.fund_overdraft_allowed,
                    )?;
                    account.totals.debits = account
                        .totals
                        .debits
                        .checked_add(entry.amount)
                        .ok_or(overflow)?;
                }
                Side::Credit => {
                    account.totals.credits = account
                        .totals
                        .credits
                        .checked_add(entry.amount)
                        .ok_or(overflow)?;
                    if !account.kind.may_go_positive()
                        && account.totals.credits > account.totals.debits
                    {
                        return Err(PostingRefused::OverCredited(entry.account));
                    }
                }
            }
            // The balance itself must stay representable, not only each total.
            account
                .totals
                .credits
                .checked_sub(account.totals.debits)
                .ok_or(overflow)?;
            changed.insert(entry.account, account);
        }
        self.accounts.extend(changed);
        Ok(())
    }

    /// What posting has added to each account since it was opened, for the accounts it changed:
    /// `(account, debits added, credits added)`, by account id.
    pub fn movements(&self) -> Vec<(Uuid, Pence, Pence)> {
        self.accounts
            .iter()
            .filter(|(_, a)| a.totals != a.opened_with)
            .map(|(id, a)| {
                (
                    *id,
                    Pence(a.totals.debits.0 - a.opened_with.debits.0),
                    Pence(a.totals.credits.0 - a.opened_with.credits.0),
                )
            })
            .collect()
    }

    /// The sum of every open account's balance: zero for a whole ledger, since every transfer
    /// balances.
    pub fn sum_of_balances(&self) -> Pence {
        Pence(self.accounts.values().map(|a| a.totals.balance().0).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::transfer::{Entry, TransferKind};
    use proptest::prelude::*;

    fn book(fund: i64, overdraft: bool) -> (Book, Uuid, Uuid, Uuid) {
        let (commissioner, fund_id, payable) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut book = Book::new(overdraft);
        book.open(
            commissioner,
            AccountKind::Commissioner,
            Totals {
                debits: Pence(fund),
                credits: Pence::ZERO,
            },
        );
        book.open(
            fund_id,
            AccountKind::Fund,
            Totals {
                debits: Pence::ZERO,
                credits: Pence(fund),
            },
        );
        book.open(payable, AccountKind::Payable, Totals::default());
        (book, commissioner, fund_id, payable)
    }

    #[test]
    fn nothing_more_is_recovered_than_is_owed() {
        let (mut book, _, fund, payable) = book(1_000, false);
        let recoverable = Uuid::now_v7();
        book.open(recoverable, AccountKind::Recoverable, Totals::default());
        // A clawback of 400: the provider owes it back.
        let clawback =
            Transfer::simple(TransferKind::Clawback, recoverable, fund, Pence(400)).unwrap();
        book.post(&clawback).unwrap();
        assert_eq!(book.balance(recoverable), Some(Pence(-400)));
        book.post(
            &Transfer::simple(TransferKind::ChargeApproval, fund, payable, Pence(1_000)).unwrap(),
        )
        .unwrap();
        // Netting 500 off a payment would recover more than is owed.
        let too_much =
            Transfer::simple(TransferKind::Payment, payable, recoverable, Pence(500)).unwrap();
        assert_eq!(
            book.post(&too_much),
            Err(PostingRefused::OverCredited(recoverable))
        );
        assert_eq!(book.balance(recoverable), Some(Pence(-400)));
        let exact =
            Transfer::simple(TransferKind::Payment, payable, recoverable, Pence(400)).unwrap();
        book.post(&exact).unwrap();
        assert_eq!(book.balance(recoverable), Some(Pence::ZERO));
    }

    #[test]
    fn a_refused_transfer_changes_nothing() {
        let (mut book, _, fund, payable) = book(1_000, false);
        let other = Uuid::now_v7();
        book.open(other, AccountKind::Payable, Totals::default());
        // The first credit would apply, then the fund's debit is refused: neither stays.
        let transfer = Transfer::new(
            TransferKind::ChargeApproval,
            vec![
                Entry::credit(payable, Pence(600)),
                Entry::credit(other, Pence(600)),
                Entry::debit(fund, Pence(1_200)),
            ],
        )
        .unwrap();
        let refused = book.post(&transfer).unwrap_err();
        assert_eq!(
            refused,
            PostingRefused::InsufficientFunds(InsufficientFunds {
                kind: AccountKind::Fund,
                balance: Pence(1_000),
                amount: Pence(1_200),
                shortfall: Pence(200),
            })
        );
        assert_eq!(book.balance(payable), Some(Pence::ZERO));
        assert_eq!(book.balance(fund), Some(Pence(1_000)));
        assert!(book.movements().is_empty());
    }

    #[test]
    fn debits_are_checked_against_what_the_same_batch_already_moved() {
        let (mut book, _, fund, payable) = book(1_000, false);
        let approve = |amount| {
            Transfer::simple(TransferKind::ChargeApproval, fund, payable, Pence(amount)).unwrap()
        };
        book.post(&approve(700)).unwrap();
        assert!(matches!(
            book.post(&approve(400)),
            Err(PostingRefused::InsufficientFunds(InsufficientFunds {
                shortfall: Pence(100),
                ..
            }))
        ));
        book.post(&approve(300)).unwrap();
        assert_eq!(book.balance(fund), Some(Pence::ZERO));
        assert_eq!(book.movements(), {
            let mut expected = vec![
                (fund, Pence(1_000), Pence::ZERO),
                (payable, Pence::ZERO, Pence(1_000)),
            ];
            expected.sort();
            expected
        });
    }

    #[test]
    fn an_allowed_overdraft_lets_the_fund_go_negative_but_never_a_payable() {
        let (mut book, _, fund, payable) = book(100, true);
        book.post(
            &Transfer::simple(TransferKind::ChargeApproval, fund, payable, Pence(500)).unwrap(),
        )
        .unwrap();
        assert_eq!(book.balance(fund), Some(Pence(-400)));
        let reverse_too_much =
            Transfer::simple(TransferKind::ChargeReversal, payable, fund, Pence(501)).unwrap();
        assert!(book.post(&reverse_too_much).is_err());
    }

    #[test]
    fn unknown_accounts_and_overflow_are_refused() {
        let (mut book, commissioner, fund, _) = book(0, false);
        let stranger = Uuid::now_v7();
        assert_eq!(
            book.post(
                &Transfer::simple(TransferKind::TopUp, commissioner, stranger, Pence(1)).unwrap()
            ),
            Err(PostingRefused::UnknownAccount(stranger))
        );
        let huge =
            Transfer::simple(TransferKind::TopUp, commissioner, fund, Pence(i64::MAX)).unwrap();
        book.post(&huge).unwrap();
        assert_eq!(
            book.post(
                &Transfer::simple(TransferKind::TopUp, commissioner, fund, Pence(1)).unwrap()
            ),
            Err(PostingRefused::Overflow(commissioner))
        );
    }

    proptest! {
        #[test]
        fn posting_never_changes_the_sum_of_balances(
            amounts in proptest::collection::vec(1i64..100_000, 1..40),
            overdraft in any::<bool>(),
        ) {
            let (mut book, commissioner, fund, payable) = book(50_000, overdraft);
            for (i, amount) in amounts.into_iter().enumerate() {
                let (from, to) = match i % 3 {
                    0 => (fund, payable),
                    1 => (payable, fund),
                    _ => (commissioner, fund),
                };
                let before = (book.balance(from), book.balance(to));
                let transfer = Transfer::simple(TransferKind::TopUp, from, to, Pence(amount)).unwrap();
                if book.post(&transfer).is_err() {
                    prop_assert_eq!((book.balance(from), book.balance(to)), before);
                }
                prop_assert_eq!(book.sum_of_balances(), Pence::ZERO);
                prop_assert!(book.balance(payable).unwrap().0 >= 0);
                if !overdraft {
                    prop_assert!(book.balance(fund).unwrap().0 >= 0);
                }
            }
        }
    }
}
