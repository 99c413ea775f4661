//! Field-level validation errors, collected so a client learns about every bad field at once.

use serde::Serialize;

/// One problem with one field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's path in the request body, e.g. `ods_code` or `roles[1]`.
    pub field: String,
    /// A stable machine-readable code, e.g. `required`, `too_long`, `invalid_format`.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
}

/// Every field error found in one request.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid field(s)", .0.len())]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        let mut errors = Self::new();
        errors.add(field, code, message);
        errors
    }

    pub fn add(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(FieldError {
            field: field.into(),
            code,
            message: message.into(),
        });
    }

    /// Records the error of a parse, returning the parsed value when there was none.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, FieldError>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(mut error) => {
                error.field = field.to_owned();
                self.0.push(error);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, so a constructor can finish with `errors.finish(..)`.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, ValidationErrors> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

impl FieldError {
    /// An error whose field is filled in by [`ValidationErrors::check`].
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: String::new(),
            code,
            message: message.into(),
        }
    }
}

/// Trims `raw` and checks it is a non-empty, single-line text of at most `max` characters.
pub fn bounded_text(raw: &str, max: usize) -> Result<String, FieldError> {
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
    if text.chars().any(char::is_control) {
        return Err(FieldError::new(
            "invalid_format",
            "must not contain control characters",
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_text_trims_and_bounds() {
        assert_eq!(bounded_text("  Rosebery  ", 20).unwrap(), "Rosebery");
        assert_eq!(bounded_text("   ", 20).unwrap_err().code, "required");
        assert_eq!(bounded_text("abcdef", 5).unwrap_err().code, "too_long");
        assert_eq!(bounded_text("a\nb", 5).unwrap_err().code, "invalid_format");
    }

    #[test]
    fn check_collects_every_error_with_its_field() {
        let mut errors = ValidationErrors::new();
        assert_eq!(
            errors.check("name", bounded_text("ok", 5)),
            Some("ok".to_owned())
        );
        assert_eq!(errors.check("code", bounded_text("", 5)), None);
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field, "code");
        assert!(errors.finish(|| ()).is_err());
    }
}
