//! People who sign in: their login, password rules and the roles they hold.

use crate::ids::{OrganisationId, PracticeId};
use crate::role::{Role, RoleLevel};
use crate::validation::{bounded_text, FieldError, ValidationErrors};
use std::fmt;

/// A login e-mail address, stored lower-case. Checked for shape only: delivery is not our job.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim().to_lowercase();
        let invalid = || FieldError::new("invalid_format", "must be an e-mail address");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;

/// A new password: long enough to resist guessing, short enough to hash cheaply. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let length = raw.chars().count();
        if length < PASSWORD_MIN {
            return Err(FieldError::new(
                "too_short",
                format!("must be at least {PASSWORD_MIN} characters"),
            ));
        }
        if length > PASSWORD_MAX {
            return Err(FieldError::new(
                "too_long",
                format!("must be at most {PASSWORD_MAX} characters"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// The roles a user holds and what they are attached to. All roles share one level: a user is a
/// federation-level user, a member of one practice, or a member of one provider organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleAssignment {
    pub roles: Vec<Role>,
    pub practice_id: Option<PracticeId>,
    pub organisation_id: Option<OrganisationId>,
}

impl RoleAssignment {
    /// Checks roles against the user's attachment. Platform admins are never assigned here.
    pub fn parse(
        roles: &[Role],
        practice_id: Option<PracticeId>,
        organisation_id: Option<OrganisationId>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut sorted = roles.to_vec();
        sorted.sort();
        sorted.dedup();
        if sorted.is_empty() {
            errors.add("roles", "required", "at least one role is required");
        }
        if sorted.contains(&Role::PlatformAdmin) {
            errors.add(
                "roles",
                "not_assignable",
                "platform_admin cannot be assigned here",
            );
        }
        let levels: Vec<RoleLevel> = sorted
            .iter()
            .map(|r| r.level())
            .filter(|l| *l != RoleLevel::Platform)
            .collect();
        if levels.windows(2).any(|pair| pair[0] != pair[1]) {
            errors.add(
                "roles",
                "mixed_levels",
                "roles must all be federation roles, all practice roles, or provider",
            );
        } else if let Some(level) = levels.first() {
            match level {
                RoleLevel::Practice if practice_id.is_none() => errors.add(
                    "practice_id",
                    "required",
                    "practice roles need the practice the user works at",
                ),
                RoleLevel::Organisation if organisation_id.is_none() => errors.add(
                    "organisation_id",
                    "required",
                    "the provider role needs the user's organisation",
                ),
                _ => {}
            }
            if *level != RoleLevel::Practice && practice_id.is_some() {
                errors.add(
                    "practice_id",
                    "not_allowed",
                    "only practice roles belong to a practice",
                );
            }
            if *level != RoleLevel::Organisation && organisation_id.is_some() {
                errors.add(
                    "organisation_id",
                    "not_allowed",
                    "only the provider role belongs to an organisation",
                );
            }
        }
        errors.finish(|| RoleAssignment {
            roles: sorted,
            practice_id,
            organisation_id,
        })
    }
}

pub const DISPLAY_NAME_MAX: usize = 200;

/// A user to create in a federation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    pub email: Email,
    pub display_name: String,
    pub password: Password,
    pub assignment: RoleAssignment,
}

impl NewUser {
    pub fn parse(
        email: &str,
        display_name: &str,
        password: &str,
        roles: &[Role],
        practice_id: Option<PracticeId>,
        organisation_id: Option<OrganisationId>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", Email::parse(email));
        let display_name =
            errors.check("display_name", bounded_text(display_name, DISPLAY_NAME_MAX));
        let password = errors.check("password", Password::parse(password));
        let assignment = match RoleAssignment::parse(roles, practice_id, organisation_id) {
            Ok(assignment) => Some(assignment),
            Err(role_errors) => {
                errors.0.extend(role_errors.0);
                None
            }
        };
        errors.finish(|| NewUser {
            email: email.expect("checked"),
            display_name: display_name.expect("checked"),
            password: password.expect("checked"),
            assignment: assignment.expect("checked"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lower_cased_and_shape_checked() {
        assert_eq!(
            Email::parse(" Ann@Example.ORG ").unwrap().as_str(),
            "ann@example.org"
        );
        for bad in [
            "",
            "ann",
            "@example.org",
            "ann@",
            "ann@example",
            "a b@example.org",
            "ann@.org",
            "a@b@c.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn passwords_have_bounds_and_never_print() {
        assert_eq!(Password::parse("short").unwrap_err().code, "too_short");
        assert_eq!(
            Password::parse(&"x".repeat(129)).unwrap_err().code,
            "too_long"
        );
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn practice_roles_need_a_practice() {
        let practice = Some(PracticeId::new());
        let ok = RoleAssignment::parse(
            &[Role::Volunteer, Role::Clinician, Role::Volunteer],
            practice,
            None,
        )
        .unwrap();
        assert_eq!(ok.roles, vec![Role::Clinician, Role::Volunteer]);
        let missing = RoleAssignment::parse(&[Role::Clinician], None, None).unwrap_err();
        assert_eq!(missing.0[0].field, "practice_id");
    }

    #[test]
    fn levels_cannot_be_mixed_or_misattached() {
        let mixed = RoleAssignment::parse(&[Role::FederationAdmin, Role::Clinician], None, None)
            .unwrap_err();
        assert_eq!(mixed.0[0].code, "mixed_levels");
        let attached = RoleAssignment::parse(&[Role::Commissioner], Some(PracticeId::new()), None)
            .unwrap_err();
        assert_eq!(attached.0[0].code, "not_allowed");
        let provider = RoleAssignment::parse(&[Role::Provider], None, None).unwrap_err();
        assert_eq!(provider.0[0].field, "organisation_id");
        assert!(RoleAssignment::parse(&[], None, None).is_err());
        assert_eq!(
            RoleAssignment::parse(&[Role::PlatformAdmin], None, None)
                .unwrap_err()
                .0[0]
                .code,
            "not_assignable"
        );
    }

    #[test]
    fn new_user_reports_all_problems() {
        let errors = NewUser::parse("nope", "", "short", &[], None, None).unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "display_name", "password", "roles"]);
    }
}
