//! How a federation's statistics are protected and valued.

use super::DisclosurePolicy;

/// The Unit Costs of Health and Social Care 2025 (PSSRU): a 10-minute GP surgery consultation,
/// £48.
pub const DEFAULT_GP_CONSULTATION_PENCE: i64 = 4_800;

/// The largest unit cost accepted: £1,000,000, far beyond any consultation.
pub const MAX_GP_CONSULTATION_PENCE: i64 = 100_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsSettings {
    pub policy: DisclosurePolicy,
    /// What one GP appointment avoided is taken to save.
    pub gp_consultation_pence: i64,
}

impl Default for StatsSettings {
    fn default() -> Self {
        Self {
            policy: DisclosurePolicy::NHS_DIGITAL,
            gp_consultation_pence: DEFAULT_GP_CONSULTATION_PENCE,
        }
    }
}
