//! Tenant-scoped transactions: the tenant is set when the transaction begins and lasts until it
//! ends, never on the connection, so a pooled connection carries no tenant between requests.

use crate::error::{try_another_connection, StoreError};
use sqlx::{PgPool, Postgres, Transaction};
use waymark_domain::{FederationId, OrganisationId, PracticeId, Principal, Role, ServiceScope};

/// Whose rows a transaction may see, as row-level security reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TenantScope {
    federation: Option<FederationId>,
    practice: Option<PracticeId>,
    organisation: Option<OrganisationId>,
    /// Every practice of the federation (federation administrators).
    federation_wide: bool,
    platform: bool,
    /// The whole ledger, read only (`ledger:read` service accounts).
    ledger_reader: bool,
    /// Every practice's referrals, read only (`referrals:read` service accounts).
    referrals_reader: bool,
    /// The federation's webhook endpoints (`webhooks:write` service accounts, the dispatcher).
    webhooks: bool,
    /// Every practice's coding queue (`gp_coding:write` service accounts).
    gp_coding: bool,
}

impl TenantScope {
    /// Sees nothing that belongs to a tenant.
    pub const fn none() -> Self {
        Self {
            federation: None,
            practice: None,
            organisation: None,
            federation_wide: false,
            platform: false,
            ledger_reader: false,
            referrals_reader: false,
            webhooks: false,
            gp_coding: false,
        }
    }

    /// Platform administration: federations, and nothing inside them.
    pub const fn platform() -> Self {
        Self {
            federation: None,
            practice: None,
            organisation: None,
            federation_wide: false,
            platform: true,
            ledger_reader: false,
            referrals_reader: false,
            webhooks: false,
            gp_coding: false,
        }
    }

    pub const fn federation(federation: FederationId) -> Self {
        Self {
            federation: Some(federation),
            practice: None,
            organisation: None,
            federation_wide: false,
            platform: false,
            ledger_reader: false,
            referrals_reader: false,
            webhooks: false,
            gp_coding: false,
        }
    }

    /// A platform administrator acting inside one federation (creating its first admins).
    pub const fn platform_in(federation: FederationId) -> Self {
        Self {
            federation: Some(federation),
            practice: None,
            organisation: None,
            federation_wide: false,
            platform: true,
            ledger_reader: false,
            referrals_reader: false,
            webhooks: false,
            gp_coding: false,
        }
    }

    pub const fn practice(federation: FederationId, practice: PracticeId) -> Self {
        Self {
            federation: Some(federation),
            practice: Some(practice),
            organisation: None,
            federation_wide: false,
            platform: false,
            ledger_reader: false,
            referrals_reader: false,
            webhooks: false,
            gp_coding: false,
        }
    }

    /// The scope an authenticated caller's requests run in.
    pub fn of(principal: &Principal) -> Self {
        Self {
            federation: principal.federation_id,
            practice: principal.practice_id,
            organisation: principal.organisation_id,
            federation_wide: principal.federation_id.is_some()
                && principal.has_role(Role::FederationAdmin),
            platform: principal.is_platform_admin(),
            ledger_reader: principal.has_scope(ServiceScope::LedgerRead),
            referrals_reader: principal.has_scope(ServiceScope::ReferralsRead),
            webhooks: principal.has_scope(ServiceScope::WebhooksWrite),
            gp_coding: principal.has_scope(ServiceScope::GpCodingWrite),
        }
    }

    pub fn federation_id(&self) -> Option<FederationId> {
        self.federation
    }

    /// BEGIN and the tenant settings in one round trip, as utility statements that need no
    /// planning. Settings made with SET LOCAL end with the transaction, so a setting left out
    /// reads as unset (NULL or ''), never as a previous transaction's value. The values are
    /// UUIDs rendered by the uuid crate (hex digits and hyphens only), so no caller text reaches
    /// the SQL.
    fn begin_statement(&self, access: Access) -> String {
        let mut sql = String::from(match access {
            Access::ReadWrite => "BEGIN",
            Access::Tally => "BEGIN; SET LOCAL synchronous_commit = off",
            Access::ReadOnly | Access::Search => "BEGIN READ ONLY",
            Access::Snapshot => "BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ",
            Access::Fold => "BEGIN ISOLATION LEVEL REPEATABLE READ",
            Access::EventsMaintenance => "BEGIN; SET LOCAL waymark.events_maintenance = 'on'",
        });
        if let Some(federation) = self.federation {
            sql.push_str(&format!(
                "; SET LOCAL waymark.federation_id = '{}'",
                federation.as_uuid().hyphenated()
            ));
        }
        if let Some(practice) = self.practice {
            sql.push_str(&format!(
                "; SET LOCAL waymark.practice_id = '{}'",
                practice.as_uuid().hyphenated()
            ));
        }
        if let Some(organisation) = self.organisation {
            sql.push_str(&format!(
                "; SET LOCAL waymark.organisation_id = '{}'",
                organisation.as_uuid().hyphenated()
            ));
        }
        if self.federation_wide {
            sql.push_str("; SET LOCAL waymark.federation_wide = 'on'");
        }
        if self.platform {
            sql.push_str("; SET LOCAL waymark.platform = 'on'");
        }
        if self.ledger_reader {
            sql.push_str("; SET LOCAL waymark.ledger_reader = 'on'");
        }
        if self.referrals_reader {
            sql.push_str("; SET LOCAL waymark.referrals_reader = 'on'");
        }
        if self.webhooks {
            sql.push_str("; SET LOCAL waymark.webhooks = 'on'");
        }
        if self.gp_coding {
            sql.push_str("; SET LOCAL waymark.gp_coding = 'on'");
        }
        if access == Access::Search {
            sql.push_str("; SET LOCAL plan_cache_mode = force_custom_plan");
        }
        sql
    }
}

/// A transaction carrying its tenant scope.
pub type Tx = Transaction<'static, Postgres>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    ReadWrite,
    /// Read-write, committing without waiting for the commit to reach disk.
    Tally,
    ReadOnly,
    /// Read-only, planning each statement for its actual parameters.
    Search,
    /// Read-only, every statement reading the same snapshot (so a directory version read first
    /// names what the rest of the transaction sees).
    Snapshot,
    /// Read-write, every statement reading the same snapshot, so what it deletes is exactly
    /// what it read.
    Fold,
    /// Read-write, handling every event of the federation (the feed's sequencer and pruner).
    EventsMaintenance,
}

/// Opens a transaction with `statement` on a pooled connection. Connections are not tested as
/// they leave the pool (that would cost a round trip on every request), so BEGIN is the first
/// thing a connection is asked to do: one the server has dropped since it was last used (the
/// server restarted, say) fails there, before anything was done, and the next is tried. A pool
/// that cannot connect at all answers `PoolTimedOut`, which is not retried.
async fn begin_on_live_connection(pool: &PgPool, statement: String) -> Result<Tx, StoreError> {
    let mut attempts_left = pool.options().get_max_connections() + 1;
    loop {
        match pool.begin_with(statement.clone()).await {
            Ok(tx) => return Ok(tx),
            Err(error) if attempts_left > 1 && try_another_connection(&error) => {
                attempts_left -= 1;
                tracing::debug!(%error, "a pooled connection was lost; trying another");
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Opens a transaction scoped to `scope`.
pub async fn begin(pool: &PgPool, scope: TenantScope) -> Result<Tx, StoreError> {
    begin_on_live_connection(pool, scope.begin_statement(Access::ReadWrite)).await
}

/// Opens a transaction scoped to `scope` whose commit does not wait for the write-ahead log to
/// reach disk: for counts whose last few milliseconds a crash may lose without harm (request
/// budgets), so that counting a request costs no disk flush. Its effects are visible to others at
/// commit, as any transaction's are.
pub async fn begin_tally(pool: &PgPool, scope: TenantScope) -> Result<Tx, StoreError> {
    begin_on_live_connection(pool, scope.begin_statement(Access::Tally)).await
}

/// Opens a read-only transaction scoped to `scope`: PostgreSQL refuses any write in it, so it
/// can be ended with [`end_read`] instead of a commit.
pub async fn begin_read(pool: &PgPool, scope: TenantScope) -> Result<Tx, StoreError> {
    begin_on_live_connection(pool, scope.begin_statement(Access::ReadOnly)).await
}

/// Opens a read-only transaction for search queries with optional filters (`$n IS NULL OR …`).
/// Such a query's best plan depends on which filters are given, so PostgreSQL is told to plan it
/// for the actual parameters each time rather than reuse a generic plan, which would scan the
/// whole table. Ends with [`end_read`] like any read.
pub async fn begin_search(pool: &PgPool, scope: TenantScope) -> Result<Tx, StoreError> {
    begin_on_live_connection(pool, scope.begin_statement(Access::Search)).await
}

/// Opens a read-only transaction whose statements all read one snapshot (repeatable read,
/// which never fails a read-only transaction). Ends with [`end_read`] like any read.
pub async fn begin_snapshot(pool: &PgPool, scope: TenantScope) -> Result<Tx, StoreError> {
    begin_on_live_connection(pool, scope.begin_statement(Access::Snapshot)).await
}

/// Opens a read-write repeatable-read transaction scoped to `scope`: a statistics fold deletes
/// exactly the deltas it folded, none committed after its snapshot.
pub async fn begin_fold(pool: &PgPool, scope: TenantScope) -> Result<Tx, StoreError> {
    begin_on_live_connection(pool, scope.begin_statement(Access::Fold)).await
}

/// Opens a read-write transaction scoped to `scope` that sequences or prunes the federation's
/// events, all of which it sees.
pub async fn begin_events_maintenance(pool: &PgPool, scope: TenantScope) -> Result<Tx, StoreError> {
    begin_on_live_connection(pool, scope.begin_statement(Access::EventsMaintenance)).await
}

/// Opens a read-write transaction for the webhook dispatcher of `federation`: it reads the
/// federation's whole feed and its webhook endpoints, deliveries and attempts, nothing else.
pub async fn begin_webhook_dispatch(
    pool: &PgPool,
    federation: FederationId,
) -> Result<Tx, StoreError> {
    let scope = TenantScope {
        webhooks: true,
        ..TenantScope::federation(federation)
    };
    begin_on_live_connection(pool, scope.begin_statement(Access::EventsMaintenance)).await
}

/// Ends a read-only transaction. Nothing was written, so rolling back equals committing; the
/// rollback is sent together with the pool's check of the returned connection, which saves the
/// commit's round trip on every read.
pub fn end_read(tx: Tx) {
    drop(tx);
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
        let sql = TenantScope::practice(federation, practice).begin_statement(Access::ReadWrite);
        assert_eq!(
            sql,
            format!(
                "BEGIN; SET LOCAL waymark.federation_id = '{federation}'; \
                 SET LOCAL waymark.practice_id = '{practice}'"
            )
        );
        assert_eq!(
            TenantScope::none().begin_statement(Access::ReadOnly),
            "BEGIN READ ONLY"
        );
        assert!(TenantScope::none()
            .begin_statement(Access::Search)
            .ends_with("; SET LOCAL plan_cache_mode = force_custom_plan"));
        assert_eq!(
            TenantScope::none().begin_statement(Access::Snapshot),
            "BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ"
        );
        assert_eq!(
            TenantScope::platform().begin_statement(Access::ReadWrite),
            "BEGIN; SET LOCAL waymark.platform = 'on'"
        );
    }
}
