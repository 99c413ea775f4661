//! What every handler shares.

use crate::csv_export::ExportSlots;
use crate::directory_cache::DirectoryCache;
use crate::problem::ApiError;
use waymark_domain::login_throttle::LoginThrottle;
use waymark_persistence::ledger::approval_queue::ApprovalQueue;
use waymark_persistence::{Database, TenantScope, Tx};

pub struct AppState {
    pub db: Database,
    pub login_throttle: LoginThrottle,
    /// Verified against when a login names no account, so that unknown and known accounts take
    /// the same time to refuse.
    pub decoy_password_hash: String,
    /// Rendered directory answers, kept under the directory version they were read at.
    pub directory_cache: DirectoryCache,
    /// Approvals waiting to be decided together (group commit).
    pub approvals: ApprovalQueue,
    /// Streamed exports running at once.
    pub exports: ExportSlots,
    /// Blocks webhooks may be delivered to although they are not public.
    pub webhook_networks: Vec<waymark_domain::network::AddressBlock>,
}

impl AppState {
    /// Opens a transaction scoped to `scope`; row-level security applies to everything in it.
    pub async fn begin(&self, scope: TenantScope) -> Result<Tx, ApiError> {
        Ok(waymark_persistence::begin(&self.db.pool, scope).await?)
    }

    /// Opens a read-only transaction scoped to `scope`, to end with
    /// [`waymark_persistence::end_read`].
    pub async fn begin_read(&self, scope: TenantScope) -> Result<Tx, ApiError> {
        Ok(waymark_persistence::begin_read(&self.db.pool, scope).await?)
    }

    /// Opens a read-only transaction whose statements share one snapshot; see
    /// [`waymark_persistence::begin_snapshot`].
    pub async fn begin_snapshot(&self, scope: TenantScope) -> Result<Tx, ApiError> {
        Ok(waymark_persistence::begin_snapshot(&self.db.pool, scope).await?)
    }

    /// Opens a read-only transaction for searches with optional filters; see
    /// [`waymark_persistence::begin_search`].
    pub async fn begin_search(&self, scope: TenantScope) -> Result<Tx, ApiError> {
        Ok(waymark_persistence::begin_search(&self.db.pool, scope).await?)
    }
}
