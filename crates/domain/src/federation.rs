//! Federations: groups of GP practices sharing one directory and one payment ledger.

use crate::validation::{bounded_text, FieldError, ValidationErrors};
use std::fmt;

/// A federation's URL-safe short name, e.g. `north-charnwood`: lower-case letters, digits and
/// single hyphens, 3 to 63 characters, starting with a letter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let slug = raw.trim();
        let valid_chars = slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !(3..=63).contains(&slug.len())
            || !valid_chars
            || !slug.starts_with(|c: char| c.is_ascii_lowercase())
            || slug.ends_with('-')
            || slug.contains("--")
        {
            return Err(FieldError::new(
                "invalid_format",
                "must be 3 to 63 lower-case letters, digits or single hyphens, starting with a letter",
            ));
        }
        Ok(Self(slug.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const NAME_MAX: usize = 200;

/// A federation to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewFederation {
    pub slug: Slug,
    pub name: String,
}

impl NewFederation {
    pub fn parse(slug: &str, name: &str) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let slug = errors.check("slug", Slug::parse(slug));
        let name = errors.check("name", bounded_text(name, NAME_MAX));
        errors.finish(|| NewFederation {
            slug: slug.expect("checked"),
            name: name.expect("checked"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(
            Slug::parse("north-charnwood").unwrap().as_str(),
            "north-charnwood"
        );
        for bad in [
            "", "ab", "North", "-abc", "abc-", "a--b", "1abc", "ab c", "ab_c",
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn new_federation_reports_every_bad_field() {
        let errors = NewFederation::parse("X", " ").unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["slug", "name"]);
    }
}
