//! The referral pathway: patients and their referrals to the social prescribing service.

pub mod access;
pub mod assessment;
pub mod clinic;
pub mod demographics;
pub mod gp_appointments;
pub mod gp_message;
pub mod nhs_number;
pub mod notes;
pub mod onward;
pub mod patient;
pub mod referral;
pub mod referral_state;
pub mod safeguarding;
pub mod volunteer;
pub mod wellbeing;

pub use nhs_number::NhsNumber;
pub use referral_state::ReferralState;
