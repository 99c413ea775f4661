//! The sums the rollups keep per practice, bucket, need category and age band: what every
//! referral contributes, added up. Everything a statistic shows is derived from these.

use std::ops::AddAssign;

/// The meaningful change in a SWEMWBS metric score, in hundredths: Warwick Medical School puts
/// it between 1 and 3 points; the upper bound is used, so "improved" is never overstated. The
/// statistics migration's `waymark_stats_contribution` counts with the same threshold.
pub const SWEMWBS_MEANINGFUL_CHANGE_HUNDREDTHS: i64 = 300;

/// The meaningful change in an ONS4 item (0 to 10): one point, a fall for anxiety.
pub const ONS4_MEANINGFUL_CHANGE: i64 = 1;

/// Referrals with both a baseline and a follow-up of one measure: how many, the sum of
/// (follow-up − baseline), and how many improved by at least the meaningful change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairSums {
    pub pairs: i64,
    pub change: i64,
    pub improved: i64,
}

impl AddAssign for PairSums {
    fn add_assign(&mut self, other: Self) {
        self.pairs += other.pairs;
        self.change += other.change;
        self.improved += other.improved;
    }
}

/// Referrals made in a bucket, and how far along the pathway they got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReferralMeasures {
    pub referrals: i64,
    pub booked: i64,
    pub seen: i64,
    pub onward_referred: i64,
    pub engaged: i64,
    pub closed: i64,
    pub declined: i64,
    pub did_not_attend: i64,
    pub withdrawn: i64,
    /// Referrals seen at a clinic, and the sum of their days from referral to that first
    /// contact.
    pub contacts: i64,
    pub contact_days_total: i64,
    /// SWEMWBS metric scores, in hundredths.
    pub swemwbs: PairSums,
    pub life_satisfaction: PairSums,
    pub worthwhile: PairSums,
    pub happiness: PairSums,
    pub anxiety: PairSums,
    /// Referrals with GP appointment counts for both windows, and the two windows' totals.
    pub gp_pairs: i64,
    pub gp_before: i64,
    pub gp_after: i64,
}

impl AddAssign for ReferralMeasures {
    fn add_assign(&mut self, o: Self) {
        self.referrals += o.referrals;
        self.booked += o.booked;
        self.seen += o.seen;
        self.onward_referred += o.onward_referred;
        self.engaged += o.engaged;
        self.closed += o.closed;
        self.declined += o.declined;
        self.did_not_attend += o.did_not_attend;
        self.withdrawn += o.withdrawn;
        self.contacts += o.contacts;
        self.contact_days_total += o.contact_days_total;
        self.swemwbs += o.swemwbs;
        self.life_satisfaction += o.life_satisfaction;
        self.worthwhile += o.worthwhile;
        self.happiness += o.happiness;
        self.anxiety += o.anxiety;
        self.gp_pairs += o.gp_pairs;
        self.gp_before += o.gp_before;
        self.gp_after += o.gp_after;
    }
}
