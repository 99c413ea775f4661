//! Safeguarding concerns: a worry that a patient may be at risk of harm, raised by anyone who
//! works with them and kept open until someone records how it was dealt with.

use super::notes::CASE_NOTE_MAX;
use crate::directory::contact::long_text;
use crate::validation::{bounded_text, ValidationErrors};
use std::fmt;
use std::str::FromStr;

/// One line, so open concerns can be listed and scanned quickly.
pub const SUMMARY_MAX: usize = 200;
pub const DETAILS_MAX: usize = CASE_NOTE_MAX;
pub const RESOLUTION_MAX: usize = CASE_NOTE_MAX;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ConcernStatus {
    /// Raised and not yet dealt with.
    Open,
    /// Dealt with, with a note saying how.
    Resolved,
}

impl ConcernStatus {
    pub const ALL: [ConcernStatus; 2] = [ConcernStatus::Open, ConcernStatus::Resolved];

    pub const fn code(self) -> &'static str {
        match self {
            ConcernStatus::Open => "open",
            ConcernStatus::Resolved => "resolved",
        }
    }
}

impl fmt::Display for ConcernStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown concern status `{0}`; use open or resolved")]
pub struct UnknownConcernStatus(pub String);

impl FromStr for ConcernStatus {
    type Err = UnknownConcernStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.code() == s)
            .ok_or_else(|| UnknownConcernStatus(s.to_owned()))
    }
}

/// A validated concern, ready to raise. Both parts are required: a concern nobody can act on
/// protects nobody.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewConcern {
    /// One line.
    pub summary: String,
    /// What was seen or said; line breaks kept.
    pub details: String,
}

impl NewConcern {
    pub fn parse(summary: &str, details: &str) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let summary = errors.check("summary", bounded_text(summary, SUMMARY_MAX));
        let details = errors.check("details", long_text(details, DETAILS_MAX));
        errors.finish(|| NewConcern {
            summary: summary.expect("checked"),
            details: details.expect("checked"),
        })
    }
}

/// How a concern was dealt with; required to resolve one, so the record shows what was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub note: String,
}

impl Resolution {
    pub fn parse(note: &str) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let note = errors.check("note", long_text(note, RESOLUTION_MAX));
        errors.finish(|| Resolution {
            note: note.expect("checked"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip() {
        for status in ConcernStatus::ALL {
            assert_eq!(status.code().parse::<ConcernStatus>().unwrap(), status);
        }
        assert!("closed".parse::<ConcernStatus>().is_err());
    }

    #[test]
    fn a_concern_needs_a_one_line_summary_and_details() {
        let concern = NewConcern::parse(
            " Unexplained bruising ",
            "Noticed at the clinic.\nPatient did not want to talk about it.",
        )
        .unwrap();
        assert_eq!(concern.summary, "Unexplained bruising");
        assert!(concern.details.contains('\n'));
        let errors = NewConcern::parse("Two\nlines", " ").unwrap_err();
        let found: Vec<_> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            found,
            [("summary", "invalid_format"), ("details", "required")]
        );
        let errors = NewConcern::parse(&"s".repeat(SUMMARY_MAX + 1), &"d".repeat(DETAILS_MAX + 1))
            .unwrap_err();
        assert!(errors.0.iter().all(|e| e.code == "too_long"));
        assert_eq!(errors.0.len(), 2);
    }

    #[test]
    fn a_resolution_needs_a_note() {
        assert_eq!(
            Resolution::parse(" Referred to the adult safeguarding team. ")
                .unwrap()
                .note,
            "Referred to the adult safeguarding team."
        );
        let errors = Resolution::parse("").unwrap_err();
        assert_eq!(
            (errors.0[0].field.as_str(), errors.0[0].code),
            ("note", "required")
        );
        assert!(Resolution::parse(&"x".repeat(RESOLUTION_MAX + 1)).is_err());
    }
}
