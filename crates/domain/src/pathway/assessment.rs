//! The assessment at the clinic: the needs identified, what matters to the patient in their own
//! words, their concerns and goals, and any support offered there and then besides referring
//! them on (the Social Prescribing Information Standard's "About me", "Needs, concerns or
//! problems", "Goals and hopes" and "Actions and activities").

use crate::directory::contact::long_text;
use crate::directory::NeedCategory;
use crate::validation::{bounded_text, ValidationErrors};

/// The most concerns or goals an assessment lists.
pub const MAX_LISTED: usize = 20;
/// The longest concern or goal, in characters.
pub const MAX_LISTED_LENGTH: usize = 500;

/// An assessment as a client sends it, before validation.
#[derive(Clone, Debug, Default)]
pub struct AssessmentInput {
    pub need_categories: Vec<NeedCategory>,
    pub what_matters: String,
    pub concerns: Vec<String>,
    pub goals: Vec<String>,
    pub other_support: Option<String>,
}

/// A valid assessment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAssessment {
    /// Sorted, without repeats; at least one.
    pub need_categories: Vec<NeedCategory>,
    pub what_matters: String,
    pub concerns: Vec<String>,
    pub goals: Vec<String>,
    pub other_support: Option<String>,
}

impl NewAssessment {
    /// Validates every field, reporting each bad one (a list's items by index).
    pub fn parse(input: AssessmentInput) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut needs = input.need_categories;
        needs.sort();
        needs.dedup();
        if needs.is_empty() {
            errors.add("need_categories", "required", "name at least one need");
        }
        let what_matters = errors.check("what_matters", long_text(&input.what_matters, 4000));
        let concerns = listed(&mut errors, "concerns", input.concerns);
        let goals = listed(&mut errors, "goals", input.goals);
        let other_support = input
            .other_support
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| errors.check("other_support", long_text(&s, 4000)));
        errors.finish(|| NewAssessment {
            need_categories: needs,
            what_matters: what_matters.expect("checked"),
            concerns,
            goals,
            other_support,
        })
    }
}

/// Up to [`MAX_LISTED`] lines of text, each trimmed and not blank.
fn listed(errors: &mut ValidationErrors, field: &str, items: Vec<String>) -> Vec<String> {
    if items.len() > MAX_LISTED {
        errors.add(field, "too_many", format!("at most {MAX_LISTED} items"));
        return Vec::new();
    }
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            errors.check(
                &format!("{field}[{i}]"),
                bounded_text(item, MAX_LISTED_LENGTH),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AssessmentInput {
        AssessmentInput {
            need_categories: vec![
                NeedCategory::LonelinessIsolation,
                NeedCategory::LonelinessIsolation,
            ],
            what_matters: " Getting out of the house ".into(),
            concerns: vec!["Lonely since moving".into()],
            goals: vec![" Join a walking group ".into()],
            other_support: Some("  ".into()),
        }
    }

    #[test]
    fn a_valid_assessment_is_trimmed_and_its_needs_deduplicated() {
        let assessment = NewAssessment::parse(input()).unwrap();
        assert_eq!(
            assessment.need_categories,
            [NeedCategory::LonelinessIsolation]
        );
        assert_eq!(assessment.what_matters, "Getting out of the house");
        assert_eq!(assessment.goals, ["Join a walking group"]);
        assert_eq!(assessment.other_support, None);
    }

    #[test]
    fn every_bad_field_is_reported_with_its_item() {
        let bad = AssessmentInput {
            need_categories: vec![],
            what_matters: " ".into(),
            concerns: vec!["fine".into(), "".into(), "x".repeat(MAX_LISTED_LENGTH + 1)],
            goals: vec!["g".into(); MAX_LISTED + 1],
            other_support: Some("bad\u{0}".into()),
        };
        let errors = NewAssessment::parse(bad).unwrap_err();
        let fields: Vec<(&str, &str)> = errors
            .0
            .iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect();
        assert_eq!(
            fields,
            [
                ("need_categories", "required"),
                ("what_matters", "required"),
                ("concerns[1]", "required"),
                ("concerns[2]", "too_long"),
                ("goals", "too_many"),
                ("other_support", "invalid_format"),
            ]
        );
    }
}
