//! The referral pathway's tables, all partitioned by practice: every query names the federation
//! and the practice, and row-level security checks both again.

pub mod patients;
pub mod referrals;
