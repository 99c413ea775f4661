//! Who is calling and what they may do: the authorisation rules every route applies.
//!
//! Rules answer "may this principal act on that tenant?"; callers turn a `false` for a resource
//! in another tenant into "not found", so that another tenant's ids are never confirmed.

use crate::ids::{FederationId, OrganisationId, PracticeId};
use crate::role::{Role, RoleLevel, ServiceScope};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    User,
    ServiceAccount,
}

/// The authenticated caller, as stated by a verified access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// The user or service account id.
    pub subject: Uuid,
    pub federation_id: Option<FederationId>,
    pub practice_id: Option<PracticeId>,
    pub organisation_id: Option<OrganisationId>,
    pub roles: Vec<Role>,
    pub scopes: Vec<ServiceScope>,
}

impl Principal {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn has_scope(&self, scope: ServiceScope) -> bool {
        self.kind == PrincipalKind::ServiceAccount && self.scopes.contains(&scope)
    }

    pub fn is_platform_admin(&self) -> bool {
        self.has_role(Role::PlatformAdmin)
    }

    /// True when the caller belongs to `federation` at any level below the platform.
    pub fn belongs_to(&self, federation: FederationId) -> bool {
        self.federation_id == Some(federation)
    }

    pub fn is_federation_admin(&self) -> bool {
        self.federation_id.is_some() && self.has_role(Role::FederationAdmin)
    }

    /// Federation admins and commissioners see the whole federation's list of practices; practice
    /// staff see their own practice only.
    pub fn can_read_practice(&self, practice: PracticeId) -> bool {
        self.federation_id.is_some()
            && (self.has_role(Role::FederationAdmin)
                || self.has_role(Role::Commissioner)
                || self.practice_id == Some(practice))
    }

    /// Commissioners, federation administrators and service accounts granted `stats:read` read
    /// their federation's statistics, which are aggregates only.
    pub fn can_read_statistics(&self) -> bool {
        self.federation_id.is_some()
            && (self.has_role(Role::Commissioner)
                || self.has_role(Role::FederationAdmin)
                || self.has_scope(ServiceScope::StatsRead))
    }

    pub fn can_list_practices(&self) -> bool {
        self.federation_id.is_some()
            && (self.has_role(Role::FederationAdmin) || self.has_role(Role::Commissioner))
    }

    /// Federation admins manage every user of their federation; practice admins manage the users
    /// of their own practice.
    pub fn can_manage_users_of(&self, practice: Option<PracticeId>) -> bool {
        if self.is_federation_admin() {
            return true;
        }
        self.has_role(Role::PracticeAdmin) && practice.is_some() && practice == self.practice_id
    }

    /// Which roles this caller may hand out: never platform_admin (that is done from the command
    /// line), and only practice roles for a practice admin.
    pub fn may_grant(&self, role: Role) -> bool {
        match role.level() {
            RoleLevel::Platform => false,
            RoleLevel::Federation | RoleLevel::Organisation => self.is_federation_admin(),
            RoleLevel::Practice => self.is_federation_admin() || self.has_role(Role::PracticeAdmin),
        }
    }

    /// Every user of a federation reads its directory; a service account needs `directory:read`
    /// (or `directory:write`, which maintains it).
    pub fn can_read_directory(&self) -> bool {
        self.federation_id.is_some()
            && (self.kind == PrincipalKind::User
                || self.has_scope(ServiceScope::DirectoryRead)
                || self.has_scope(ServiceScope::DirectoryWrite))
    }

    /// Federation administrators and service accounts granted `webhooks:write` register and
    /// manage the federation's webhook endpoints.
    pub fn can_manage_webhooks(&self) -> bool {
        self.federation_id.is_some()
            && (self.has_role(Role::FederationAdmin) || self.has_scope(ServiceScope::WebhooksWrite))
    }

    /// Federation admins and service accounts granted `directory:write` maintain the directory.
    pub fn can_write_directory(&self) -> bool {
        self.federation_id.is_some()
            && (self.has_role(Role::FederationAdmin)
                || self.has_scope(ServiceScope::DirectoryWrite))
    }

    /// Directory writers edit any service; a provider edits the services of its own organisation.
    pub fn can_edit_services_of(&self, organisation: OrganisationId) -> bool {
        self.can_write_directory()
            || (self.has_role(Role::Provider) && self.organisation_id == Some(organisation))
    }

    /// Payee references are for those who pay providers, and for the provider itself.
    pub fn can_see_payee_reference_of(&self, organisation: OrganisationId) -> bool {
        self.can_edit_services_of(organisation)
    }

    /// The practice a user listing is restricted to, if any: a practice admin sees their own.
    pub fn user_listing_scope(&self) -> Option<PracticeId> {
        if self.is_federation_admin() {
            None
        } else {
            self.practice_id
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(roles: &[Role], practice: Option<PracticeId>) -> Principal {
        Principal {
            kind: PrincipalKind::User,
            subject: Uuid::now_v7(),
            federation_id: Some(FederationId::new()),
            practice_id: practice,
            organisation_id: None,
            roles: roles.to_vec(),
            scopes: vec![],
        }
    }

    #[test]
    fn practice_staff_read_only_their_own_practice() {
        let own = PracticeId::new();
        let other = PracticeId::new();
        let clinician = user(&[Role::Clinician], Some(own));
        assert!(clinician.can_read_practice(own));
        assert!(!clinician.can_read_practice(other));
        assert!(!clinician.can_list_practices());
        let admin = user(&[Role::FederationAdmin], None);
        assert!(admin.can_read_practice(other));
    }

    #[test]
    fn practice_admins_manage_their_own_practice_users_with_practice_roles_only() {
        let own = PracticeId::new();
        let admin = user(&[Role::PracticeAdmin], Some(own));
        assert!(admin.can_manage_users_of(Some(own)));
        assert!(!admin.can_manage_users_of(Some(PracticeId::new())));
        assert!(!admin.can_manage_users_of(None));
        assert!(admin.may_grant(Role::Clinician));
        assert!(!admin.may_grant(Role::FederationAdmin));
        assert!(!admin.may_grant(Role::Provider));
        assert_eq!(admin.user_listing_scope(), Some(own));
    }

    #[test]
    fn nobody_grants_platform_admin_through_the_api() {
        let federation_admin = user(&[Role::FederationAdmin], None);
        assert!(!federation_admin.may_grant(Role::PlatformAdmin));
        assert!(federation_admin.may_grant(Role::Commissioner));
        assert!(federation_admin.can_manage_users_of(None));
    }

    #[test]
    fn providers_edit_only_their_own_organisations_services() {
        let organisation = OrganisationId::new();
        let mut provider = user(&[Role::Provider], None);
        provider.organisation_id = Some(organisation);
        assert!(provider.can_edit_services_of(organisation));
        assert!(!provider.can_edit_services_of(OrganisationId::new()));
        assert!(!provider.can_write_directory());
        let mut sync = user(&[], None);
        sync.kind = PrincipalKind::ServiceAccount;
        sync.scopes = vec![ServiceScope::DirectoryWrite];
        assert!(sync.can_write_directory());
        assert!(sync.can_see_payee_reference_of(organisation));
        assert!(!user(&[Role::Clinician], Some(PracticeId::new()))
            .can_see_payee_reference_of(organisation));
    }

    #[test]
    fn scopes_belong_to_service_accounts_only() {
        let mut principal = user(&[], None);
        principal.scopes = vec![ServiceScope::StatsRead];
        assert!(!principal.has_scope(ServiceScope::StatsRead));
        principal.kind = PrincipalKind::ServiceAccount;
        assert!(principal.has_scope(ServiceScope::StatsRead));
    }

    #[test]
    fn statistics_are_for_commissioners_federation_admins_and_stats_readers() {
        assert!(user(&[Role::Commissioner], None).can_read_statistics());
        assert!(user(&[Role::FederationAdmin], None).can_read_statistics());
        let practice = Some(PracticeId::new());
        for role in [Role::PracticeAdmin, Role::Clinician, Role::Volunteer] {
            assert!(!user(&[role], practice).can_read_statistics(), "{role}");
        }
        assert!(!user(&[Role::Provider], None).can_read_statistics());
        let mut account = user(&[], None);
        account.kind = PrincipalKind::ServiceAccount;
        assert!(!account.can_read_statistics());
        account.scopes = vec![ServiceScope::StatsRead];
        assert!(account.can_read_statistics());
        let mut platform = user(&[Role::PlatformAdmin], None);
        platform.federation_id = None;
        assert!(!platform.can_read_statistics());
    }

    #[test]
    fn service_accounts_read_the_directory_only_when_granted_it() {
        assert!(user(&[Role::Clinician], Some(PracticeId::new())).can_read_directory());
        let mut account = user(&[], None);
        account.kind = PrincipalKind::ServiceAccount;
        account.scopes = vec![ServiceScope::StatsRead, ServiceScope::EventsRead];
        assert!(!account.can_read_directory());
        account.scopes = vec![ServiceScope::DirectoryRead];
        assert!(account.can_read_directory());
        account.scopes = vec![ServiceScope::DirectoryWrite];
        assert!(account.can_read_directory());
    }

    #[test]
    fn webhooks_are_managed_by_federation_admins_and_webhooks_write_accounts() {
        assert!(user(&[Role::FederationAdmin], None).can_manage_webhooks());
        assert!(!user(&[Role::Commissioner], None).can_manage_webhooks());
        let mut account = user(&[], None);
        account.kind = PrincipalKind::ServiceAccount;
        account.scopes = vec![ServiceScope::EventsRead];
        assert!(!account.can_manage_webhooks());
        account.scopes = vec![ServiceScope::WebhooksWrite];
        assert!(account.can_manage_webhooks());
    }
}
