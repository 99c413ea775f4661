//! The referral pathway's tables, all partitioned by practice: every query names the federation
//! and the practice, and row-level security checks both again.

pub mod assessments;
pub mod case_notes;
pub mod clinics;
pub mod gp_appointments;
pub mod gp_coding;
pub mod gp_record;
pub mod onward;
pub mod patients;
pub mod referrals;
pub mod safeguarding;
pub mod volunteers;
