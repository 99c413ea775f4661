//! The federation's payment ledger: accounts and the posting of balanced transfers, tariffs,
//! charges, payment runs and statements. Posting locks the accounts it touches, checks every debit
//! with the domain's rules, inserts the transfer and its entries and moves the running totals,
//! all in the caller's transaction; the database checks again at commit that it balances.

pub mod accounts;
pub mod approval_queue;
pub mod approvals;
pub mod charges;
pub mod clawbacks;
pub mod decisions;
pub mod funding;
pub mod payment_runs;
pub mod settings;
pub mod statements;
pub mod tariffs;
