//! The federation's payment ledger: double-entry and append-only, in integer pence.
//!
//! Accounts: the commissioner (where funding comes from), the programme fund, one payable account
//! per provider organisation (what it is owed), one recoverable account per provider (what it
//! owes back), and paid out. Money moves only in transfers whose entries balance: a funding
//! top-up (commissioner → fund), a charge approval (fund → provider payable), a reversal of an
//! unpaid approval (provider payable → fund), a clawback of a paid charge (provider
//! recoverable → fund) and a payment (provider payable → paid out, less what is netted off to
//! the provider's recoverable account). An account's balance is its credits less its debits, so the balances of all
//! accounts always sum to zero. The model follows TigerBeetle's: transfers are immutable, a
//! retried request finds the transfer it made, corrections are new transfers, and an account can
//! refuse debits beyond its credits (the fund, unless the federation allows an overdraft).

pub mod access;
pub mod account;
pub mod book;
pub mod charge;
pub mod clawback;
pub mod money;
pub mod payment;
pub mod tariff;
pub mod transfer;

#[cfg(test)]
mod model;

pub use account::AccountKind;
pub use book::{Book, PostingRefused, Totals};
pub use charge::ChargeStatus;
pub use money::Pence;
pub use transfer::{Entry, Side, Transfer, TransferKind};
