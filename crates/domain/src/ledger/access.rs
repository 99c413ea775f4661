//! Who sees and moves the ledger's money: federation administrators run it; service accounts
//! granted `ledger:read` read all of it (finance exports) and move nothing; a provider sees only
//! its own tariffs, charges, remittances and statements; nobody else sees any of it.

use crate::access::{Principal, PrincipalKind};
use crate::ids::OrganisationId;
use crate::role::{Role, ServiceScope};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerView {
    /// The whole federation's ledger, and the right to move its money.
    Administration,
    /// The whole federation's ledger, read only.
    Reader,
    /// One provider organisation's part of it, read only.
    Provider(OrganisationId),
    None,
}

pub fn ledger_view(principal: &Principal) -> LedgerView {
    if principal.federation_id.is_none() {
        return LedgerView::None;
    }
    if principal.kind == PrincipalKind::ServiceAccount {
        return if principal.has_scope(ServiceScope::LedgerRead) {
            LedgerView::Reader
        } else {
            LedgerView::None
        };
    }
    if principal.has_role(Role::FederationAdmin) {
        return LedgerView::Administration;
    }
    match principal.organisation_id {
        Some(organisation) if principal.has_role(Role::Provider) => {
            LedgerView::Provider(organisation)
        }
        _ => LedgerView::None,
    }
}

impl LedgerView {
    /// Whether this view may see `organisation`'s part of the ledger.
    pub fn sees(self, organisation: OrganisationId) -> bool {
        match self {
            LedgerView::Administration | LedgerView::Reader => true,
            LedgerView::Provider(own) => own == organisation,
            LedgerView::None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{FederationId, PracticeId};
    use uuid::Uuid;

    fn principal(role: Role, organisation: Option<OrganisationId>) -> Principal {
        Principal {
            kind: PrincipalKind::User,
            subject: Uuid::now_v7(),
            federation_id: Some(FederationId::new()),
            practice_id: (role.level() == crate::role::RoleLevel::Practice).then(PracticeId::new),
            organisation_id: organisation,
            roles: vec![role],
            scopes: vec![],
        }
    }

    #[test]
    fn only_administrators_run_the_ledger_and_providers_see_their_own() {
        let own = OrganisationId::new();
        assert_eq!(
            ledger_view(&principal(Role::FederationAdmin, None)),
            LedgerView::Administration
        );
        let provider = ledger_view(&principal(Role::Provider, Some(own)));
        assert!(provider.sees(own));
        assert!(!provider.sees(OrganisationId::new()));
        for role in [
            Role::Commissioner,
            Role::Clinician,
            Role::PracticeAdmin,
            Role::Volunteer,
        ] {
            assert_eq!(ledger_view(&principal(role, None)), LedgerView::None);
        }
    }

    #[test]
    fn a_ledger_read_account_reads_the_whole_ledger_and_others_none() {
        let mut account = principal(Role::Commissioner, None);
        account.kind = PrincipalKind::ServiceAccount;
        account.roles.clear();
        account.scopes = vec![ServiceScope::LedgerRead];
        let reader = ledger_view(&account);
        assert_eq!(reader, LedgerView::Reader);
        assert!(reader.sees(OrganisationId::new()));
        account.scopes = vec![ServiceScope::StatsRead, ServiceScope::DirectoryWrite];
        assert_eq!(ledger_view(&account), LedgerView::None);
    }
}
