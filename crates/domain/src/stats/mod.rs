//! Commissioner statistics: the periods and groupings they are asked for, the measures the
//! rollups sum, how each figure is derived from those sums, and the disclosure control every
//! figure passes through before it is shown.

pub mod age_band;
pub mod disclosure;
pub mod figures;
pub mod measures;
pub mod period;
pub mod rollup;
pub mod settings;

pub use age_band::AgeBand;
pub use disclosure::{Cell, DisclosurePolicy, Suppression};
pub use measures::{PairSums, ReferralMeasures};
pub use period::{BucketKind, Period, PeriodError};
pub use settings::StatsSettings;
