//! Case notes: what a link worker writes about a patient as the referral goes on. Notes are prose,
//! so line breaks are kept; other control characters are refused.

use crate::directory::contact::long_text;
use crate::validation::FieldError;

/// Long enough for a careful account of a conversation, short enough to read on one screen.
pub const CASE_NOTE_MAX: usize = 4000;

/// Trims a case note and checks it is non-empty and at most [`CASE_NOTE_MAX`] characters.
pub fn case_note_text(raw: &str) -> Result<String, FieldError> {
    long_text(raw, CASE_NOTE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_notes_keep_their_lines_and_are_bounded() {
        assert_eq!(
            case_note_text("  Spoke to Ann.\nShe will try the walk.  ").unwrap(),
            "Spoke to Ann.\nShe will try the walk."
        );
        assert_eq!(case_note_text(" \n ").unwrap_err().code, "required");
        assert!(case_note_text(&"x".repeat(CASE_NOTE_MAX)).is_ok());
        assert_eq!(
            case_note_text(&"x".repeat(CASE_NOTE_MAX + 1))
                .unwrap_err()
                .code,
            "too_long"
        );
        assert_eq!(
            case_note_text("a\u{7}b").unwrap_err().code,
            "invalid_format"
        );
    }
}
