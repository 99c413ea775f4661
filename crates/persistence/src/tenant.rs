//! Tenant-scoped transactions: the tenant is set when the transaction begins and lasts until it
//! ends, never on the connection, so a pooled connection carries no tenant between requests.

use crate::error::StoreError;
use sqlx::{PgPool, Postgres, Transaction};
use waymark_domain::{FederationId, PracticeId, Principal};

/// Whose rows a transaction may see, as row-level security reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TenantScope {
    federation: Option<FederationId>,
    practice: Option<PracticeId>,
    platform: bool,
}

impl TenantScope {
    /// Sees nothing that belongs to a tenant.
    pub const fn none() -> Self {
        Self {
            federation: None,
            practice: None,
            platform: false,
        }
    }

    /// Platform administration: federations, and nothing inside them.
    pub const fn platform() -> Self {
        Self {
            federation: None,
            practice: None,
            platform: true,
        }
    }

    pub const fn federation(federation: FederationId) -> Self {
        Self {
            federation: Some(federation),
            practice: None,
            platform: false,
        }
    }

    /// A platform administrator acting inside one federation (creating its first admins).
    pub const fn platform_in(federation: FederationId) -> Self {
        Self {
            federation: Some(federation),
            practice: None,
            platform: true,
        }
    }

    pub const fn practice(federation: FederationId, practice: PracticeId) -> Self {
        Self {
            federation: Some(federation),
            practice: Some(practice),
            platform: false,
        }
    }

    /// The scope an authenticated caller's requests run in.
    pub fn of(principal: &Principal) -> Self {
        Self {
            federation: principal.federation_id,
            practice: principal.practice_id,
            platform: principal.is_platform_admin(),
        }
    }

    pub fn federation_id(&self) -> Option<FederationId> {
        self.federation
    }

    /// BEGIN and the tenant settings in one round trip. The values are UUIDs rendered by the uuid
    /// crate (hex digits and hyphens only) and two fixed words, so no caller text reaches the SQL.
    fn begin_statement(&self) -> String {
        let uuid_text =
            |id: Option<uuid::Uuid>| id.map(|id| id.hyphenated().to_string()).unwrap_or_default();
        format!(
            "BEGIN; SELECT set_config('waymark.federation_id', '{}', true), \
             set_config('waymark.practice_id', '{}', true), set_config('waymark.platform', '{}', true)",
            uuid_text(self.federation.map(|f| f.as_uuid())),
            uuid_text(self.practice.map(|p| p.as_uuid())),
            if self.platform { "on" } else { "off" },
        )
    }
}

/// A transaction carrying its tenant scope.
pub type Tx = Transaction<'static, Postgres>;

/// Opens a transaction scoped to `scope`.
pub async fn begin(pool: &PgPool, scope: TenantScope) -> Result<Tx, StoreError> {
    Ok(pool.begin_with(scope.begin_statement()).await?)
}

/// Commits, reporting failure as a [`StoreError`] like every other step.
pub async fn commit(tx: Tx) -> Result<(), StoreError> {
    Ok(tx.commit().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_statement_holds_only_uuids_and_fixed_words() {
        let federation = FederationId::new();
        let practice = PracticeId::new();
        let sql = TenantScope::practice(federation, practice).begin_statement();
        assert!(sql.contains(&federation.to_string()));
        assert!(sql.contains(&practice.to_string()));
        assert!(sql.ends_with("'off', true)"));
        let sql = TenantScope::none().begin_statement();
        assert!(sql.contains("'waymark.federation_id', ''"));
    }
}
