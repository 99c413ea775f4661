//! The referral pathway: patients and their referrals to the social prescribing service.

pub mod nhs_number;
pub mod referral_state;

pub use nhs_number::NhsNumber;
pub use referral_state::ReferralState;
