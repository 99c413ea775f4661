//! Commissioner statistics: reading the rollups (`read`), folding the deltas writers append
//! into them (`compaction`), building them afresh after a bulk load (`rebuild`), and each
//! federation's statistics settings (`settings`).

pub mod compaction;
pub mod read;
pub mod rebuild;
pub mod settings;
