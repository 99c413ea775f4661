//! Who may do what with a practice's patient data. Practice staff act on their own practice;
//! federation administrators may read across the federation; commissioners never see a
//! patient-level row, and service accounts only the referrals themselves, when granted
//! `referrals:read` (a GP-system extract). Providers reach patient data only through onward
//! referrals to their own organisation, which has its own rules (see `may_act_as_provider`).

use crate::access::{Principal, PrincipalKind};
use crate::ids::PracticeId;
use crate::role::{Role, ServiceScope};

/// Something done to a practice's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PracticeAction {
    ReadPatients,
    WritePatients,
    /// The referrals themselves: the list, one referral, its history, the practice's export.
    ReadReferrals,
    /// What was recorded along a referral: its assessment, wellbeing measures, onward
    /// referrals and GP appointment counts.
    ReadReferralDetails,
    CreateReferral,
    /// Decline, withdraw or close a referral.
    ChangeReferralState,
    ReadVolunteers,
    ManageVolunteers,
    ReadClinics,
    ScheduleClinics,
    BookSlots,
    RecordAttendance,
    Assess,
    ReferOnward,
    RecordAppointmentCounts,
    CaseNotes,
    RaiseConcern,
    ManageConcerns,
    ReadAuditLog,
    /// Read the coding queue and acknowledge what was filed in the GP record.
    FileGpCodes,
}

/// The answer to "may this caller do that here?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// The caller works in this practice but its role may not do this.
    Forbidden,
    /// The practice is not the caller's: answer as if nothing were there.
    NotFound,
}

impl PracticeAction {
    /// The practice roles allowed to do this in their own practice.
    const fn practice_roles(self) -> &'static [Role] {
        use PracticeAction::*;
        use Role::*;
        match self {
            ReadPatients | ReadReferrals | ReadReferralDetails => {
                &[Clinician, Volunteer, PracticeAdmin]
            }
            WritePatients => &[Clinician, PracticeAdmin],
            CreateReferral => &[Clinician],
            ChangeReferralState => &[Clinician, Volunteer, PracticeAdmin],
            ReadVolunteers | ReadClinics => &[Clinician, Volunteer, PracticeAdmin],
            ManageVolunteers | ScheduleClinics => &[PracticeAdmin],
            BookSlots => &[Clinician, Volunteer, PracticeAdmin],
            RecordAttendance => &[Volunteer, PracticeAdmin],
            Assess | ReferOnward => &[Volunteer, Clinician],
            RecordAppointmentCounts => &[Clinician, PracticeAdmin],
            CaseNotes => &[Clinician, Volunteer],
            RaiseConcern => &[Clinician, Volunteer, PracticeAdmin],
            ManageConcerns => &[Clinician, PracticeAdmin],
            ReadAuditLog => &[PracticeAdmin],
            FileGpCodes => &[PracticeAdmin, Clinician],
        }
    }

    /// Federation administrators keep volunteers and clinics for every practice and may read
    /// patient records across the federation; clinical work stays with the practice.
    const fn federation_admin_may(self) -> bool {
        use PracticeAction::*;
        matches!(
            self,
            ReadPatients
                | ReadReferrals
                | ReadReferralDetails
                | ReadVolunteers
                | ManageVolunteers
                | ReadClinics
                | ScheduleClinics
        )
    }
}

/// May `principal` do `action` on the data of `practice`?
pub fn decide(principal: &Principal, practice: PracticeId, action: PracticeAction) -> Decision {
    if principal.federation_id.is_none() {
        return Decision::NotFound;
    }
    if principal.kind == PrincipalKind::ServiceAccount {
        let reads_referrals = principal.has_scope(ServiceScope::ReferralsRead);
        let files_codes = principal.has_scope(ServiceScope::GpCodingWrite);
        return match action {
            PracticeAction::ReadReferrals if reads_referrals => Decision::Allowed,
            PracticeAction::FileGpCodes if files_codes => Decision::Allowed,
            _ if reads_referrals || files_codes => Decision::Forbidden,
            _ => Decision::NotFound,
        };
    }
    if principal.has_role(Role::FederationAdmin) {
        return if action.federation_admin_may() {
            Decision::Allowed
        } else {
            Decision::Forbidden
        };
    }
    if principal.practice_id != Some(practice) {
        return Decision::NotFound;
    }
    if action
        .practice_roles()
        .iter()
        .any(|role| principal.has_role(*role))
    {
        Decision::Allowed
    } else {
        Decision::Forbidden
    }
}

/// A provider user acting for its organisation (onward referrals, activities, concerns).
pub fn may_act_as_provider(principal: &Principal) -> bool {
    principal.kind == PrincipalKind::User
        && principal.federation_id.is_some()
        && principal.organisation_id.is_some()
        && principal.has_role(Role::Provider)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{FederationId, OrganisationId};
    use uuid::Uuid;

    fn principal(role: Role, practice: Option<PracticeId>) -> Principal {
        Principal {
            kind: PrincipalKind::User,
            subject: Uuid::now_v7(),
            federation_id: Some(FederationId::new()),
            practice_id: practice,
            organisation_id: None,
            roles: vec![role],
            scopes: vec![],
        }
    }

    #[test]
    fn practice_staff_are_confined_to_their_practice() {
        let own = PracticeId::new();
        let other = PracticeId::new();
        for role in [Role::Clinician, Role::Volunteer, Role::PracticeAdmin] {
            let staff = principal(role, Some(own));
            assert_eq!(
                decide(&staff, other, PracticeAction::ReadPatients),
                Decision::NotFound
            );
            assert_eq!(
                decide(&staff, own, PracticeAction::ReadPatients),
                Decision::Allowed
            );
        }
    }

    #[test]
    fn each_role_does_its_own_job() {
        let own = PracticeId::new();
        let clinician = principal(Role::Clinician, Some(own));
        let volunteer = principal(Role::Volunteer, Some(own));
        let admin = principal(Role::PracticeAdmin, Some(own));
        use PracticeAction::*;
        assert_eq!(decide(&clinician, own, CreateReferral), Decision::Allowed);
        assert_eq!(decide(&volunteer, own, CreateReferral), Decision::Forbidden);
        assert_eq!(decide(&volunteer, own, WritePatients), Decision::Forbidden);
        assert_eq!(decide(&volunteer, own, Assess), Decision::Allowed);
        assert_eq!(decide(&admin, own, CaseNotes), Decision::Forbidden);
        assert_eq!(decide(&admin, own, ReadAuditLog), Decision::Allowed);
        assert_eq!(decide(&clinician, own, ReadAuditLog), Decision::Forbidden);
        assert_eq!(decide(&volunteer, own, ManageConcerns), Decision::Forbidden);
    }

    #[test]
    fn commissioners_providers_and_service_accounts_see_no_practice_data() {
        let practice = PracticeId::new();
        let commissioner = principal(Role::Commissioner, None);
        let mut provider = principal(Role::Provider, None);
        provider.organisation_id = Some(OrganisationId::new());
        let mut account = principal(Role::Commissioner, None);
        account.kind = PrincipalKind::ServiceAccount;
        account.roles.clear();
        for who in [&commissioner, &provider, &account] {
            assert_eq!(
                decide(who, practice, PracticeAction::ReadPatients),
                Decision::NotFound
            );
        }
        assert!(may_act_as_provider(&provider));
        assert!(!may_act_as_provider(&commissioner));
    }

    #[test]
    fn federation_admins_read_and_keep_volunteers_but_do_no_clinical_work() {
        let admin = principal(Role::FederationAdmin, None);
        let practice = PracticeId::new();
        assert_eq!(
            decide(&admin, practice, PracticeAction::ReadPatients),
            Decision::Allowed
        );
        assert_eq!(
            decide(&admin, practice, PracticeAction::ManageVolunteers),
            Decision::Allowed
        );
        assert_eq!(
            decide(&admin, practice, PracticeAction::CaseNotes),
            Decision::Forbidden
        );
        assert_eq!(
            decide(&admin, practice, PracticeAction::ReadAuditLog),
            Decision::Forbidden
        );
    }

    #[test]
    fn a_referrals_read_account_reads_referrals_of_any_practice_and_nothing_else() {
        let mut account = principal(Role::Commissioner, None);
        account.kind = PrincipalKind::ServiceAccount;
        account.roles.clear();
        account.scopes = vec![ServiceScope::ReferralsRead];
        let practice = PracticeId::new();
        assert_eq!(
            decide(&account, practice, PracticeAction::ReadReferrals),
            Decision::Allowed
        );
        for action in [
            PracticeAction::ReadPatients,
            PracticeAction::ReadReferralDetails,
            PracticeAction::CreateReferral,
            PracticeAction::CaseNotes,
            PracticeAction::ReadAuditLog,
        ] {
            assert_eq!(decide(&account, practice, action), Decision::Forbidden);
        }
        account.scopes = vec![ServiceScope::StatsRead, ServiceScope::EventsRead];
        assert_eq!(
            decide(&account, practice, PracticeAction::ReadReferrals),
            Decision::NotFound
        );
    }

    #[test]
    fn a_gp_coding_account_files_codes_of_any_practice_and_reads_nothing_else() {
        let mut account = principal(Role::Commissioner, None);
        account.kind = PrincipalKind::ServiceAccount;
        account.roles.clear();
        account.scopes = vec![ServiceScope::GpCodingWrite];
        let practice = PracticeId::new();
        assert_eq!(
            decide(&account, practice, PracticeAction::FileGpCodes),
            Decision::Allowed
        );
        assert_eq!(
            decide(&account, practice, PracticeAction::ReadReferrals),
            Decision::Forbidden
        );
        let clinician = principal(Role::Clinician, Some(practice));
        assert_eq!(
            decide(&clinician, practice, PracticeAction::FileGpCodes),
            Decision::Allowed
        );
        let volunteer = principal(Role::Volunteer, Some(practice));
        assert_eq!(
            decide(&volunteer, practice, PracticeAction::FileGpCodes),
            Decision::Forbidden
        );
        let admin = principal(Role::FederationAdmin, None);
        assert_eq!(
            decide(&admin, practice, PracticeAction::FileGpCodes),
            Decision::Forbidden
        );
    }
}
