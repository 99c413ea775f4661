//! Optional contact fields shared by organisations, services, patients and volunteers: blank
//! means absent, except for an email address, which is an address or absent (`null`), as the
//! `email` format it is declared with says.

use crate::user::Email;
use crate::validation::{bounded_text, FieldError, ValidationErrors};

fn present(raw: Option<String>) -> Option<String> {
    raw.filter(|s| !s.trim().is_empty())
}

pub fn optional_text(
    errors: &mut ValidationErrors,
    field: &str,
    raw: Option<String>,
    max: usize,
) -> Option<String> {
    present(raw).and_then(|raw| errors.check(field, bounded_text(&raw, max)))
}

/// Free text that may run over several lines (descriptions, eligibility, opening times).
pub fn optional_long_text(
    errors: &mut ValidationErrors,
    field: &str,
    raw: Option<String>,
    max: usize,
) -> Option<String> {
    present(raw).and_then(|raw| errors.check(field, long_text(&raw, max)))
}

/// Trimmed text of at most `max` characters; line breaks and tabs allowed, other controls not.
pub fn long_text(raw: &str, max: usize) -> Result<String, FieldError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(FieldError::new("required", "must not be empty"));
    }
    if text.chars().count() > max {
        return Err(FieldError::new(
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new(
            "invalid_format",
            "must not contain control characters",
        ));
    }
    Ok(text.to_owned())
}

pub fn optional_url(
    errors: &mut ValidationErrors,
    field: &str,
    raw: Option<String>,
) -> Option<String> {
    present(raw).and_then(|raw| errors.check(field, url(&raw)))
}

fn url(raw: &str) -> Result<String, FieldError> {
    let url = raw.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        host.contains('.') && !host.starts_with('.') && !host.ends_with('.')
    });
    if url.len() <= 500 && host_ok && !url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(url.to_owned())
    } else {
        Err(FieldError::new(
            "invalid_format",
            "must be an http or https web address",
        ))
    }
}

/// An email address, if given: `""` is not one, and is refused like any other non-address.
pub fn optional_email(
    errors: &mut ValidationErrors,
    field: &str,
    raw: Option<String>,
) -> Option<String> {
    raw.and_then(|raw| errors.check(field, Email::parse(&raw).map(|e| e.as_str().to_owned())))
}

pub fn optional_phone(
    errors: &mut ValidationErrors,
    field: &str,
    raw: Option<String>,
) -> Option<String> {
    present(raw).and_then(|raw| errors.check(field, phone(&raw)))
}

fn phone(raw: &str) -> Result<String, FieldError> {
    let phone = raw.trim();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || " +()-".contains(c));
    if allowed && (7..=15).contains(&digits) && phone.len() <= 30 {
        Ok(phone.to_owned())
    } else {
        Err(FieldError::new(
            "invalid_format",
            "must be a telephone number, e.g. 01509 123456",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_phones_and_long_text() {
        assert!(url("https://example.org/walks?x=1").is_ok());
        assert!(url("http://example.org").is_ok());
        for bad in [
            "example.org",
            "javascript:alert(1)",
            "https://",
            "https://localhost",
            "https://a b.org",
        ] {
            assert!(url(bad).is_err(), "{bad:?}");
        }
        assert!(phone("01509 123456").is_ok());
        assert!(phone("+44 (0)1509 123-456").is_ok());
        assert!(phone("123").is_err());
        assert!(phone("call me").is_err());
        assert_eq!(long_text(" a\nb ", 10).unwrap(), "a\nb");
        assert!(long_text("a\u{0}b", 10).is_err());
    }

    #[test]
    fn a_blank_email_is_refused_and_an_absent_one_is_absent() {
        let mut errors = ValidationErrors::new();
        assert_eq!(optional_email(&mut errors, "email", None), None);
        assert!(errors.is_empty());
        for blank in ["", "  "] {
            let mut errors = ValidationErrors::new();
            assert_eq!(
                optional_email(&mut errors, "email", Some(blank.into())),
                None
            );
            assert!(!errors.is_empty(), "{blank:?}");
        }
        let mut errors = ValidationErrors::new();
        assert_eq!(
            optional_email(&mut errors, "email", Some(" Ann@Example.org ".into())),
            Some("ann@example.org".to_owned())
        );
    }
}
