//! Per-federation ledger settings. A federation without a row has the defaults, at version 1.

use crate::error::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::FederationId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerSettings {
    pub fund_overdraft_allowed: bool,
    pub version: i32,
}

const DEFAULTS: LedgerSettings = LedgerSettings {
    fund_overdraft_allowed: false,
    version: 1,
};

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
) -> Result<LedgerSettings, StoreError> {
    let row = sqlx::query!(
        "SELECT fund_overdraft_allowed, version FROM ledger_settings WHERE federation_id = $1",
        federation.as_uuid(),
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or(DEFAULTS, |r| LedgerSettings {
        fund_overdraft_allowed: r.fund_overdraft_allowed,
        version: r.version,
    }))
}

/// The settings, locked until the transaction ends, so a posting decided under them is not
/// overtaken by a change.
pub async fn lock(
    conn: &mut PgConnection,
    federation: FederationId,
) -> Result<LedgerSettings, StoreError> {
    let row = sqlx::query!(
        r#"SELECT fund_overdraft_allowed, version FROM ledger_settings
           WHERE federation_id = $1 FOR SHARE"#,
        federation.as_uuid(),
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or(DEFAULTS, |r| LedgerSettings {
        fund_overdraft_allowed: r.fund_overdraft_allowed,
        version: r.version,
    }))
}

/// Changes the settings if they are still at `expected_version`.
pub async fn update(
    conn: &mut PgConnection,
    federation: FederationId,
    expected_version: i32,
    fund_overdraft_allowed: bool,
    by: Uuid,
) -> Result<LedgerSettings, StoreError> {
    let updated = sqlx::query!(
        r#"UPDATE ledger_settings
           SET fund_overdraft_allowed = $3, updated_by = $4, updated_at = now(),
               version = version + 1
           WHERE federation_id = $1 AND version = $2
           RETURNING fund_overdraft_allowed, version"#,
        federation.as_uuid(),
        expected_version,
        fund_overdraft_allowed,
        by,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = updated {
        return Ok(LedgerSettings {
            fund_overdraft_allowed: r.fund_overdraft_allowed,
            version: r.version,
        });
    }
    if expected_version == DEFAULTS.version {
        let inserted = sqlx::query!(
            r#"INSERT INTO ledger_settings (federation_id, fund_overdraft_allowed, updated_by, version)
               VALUES ($1, $2, $3, 2)
               ON CONFLICT (federation_id) DO NOTHING
               RETURNING fund_overdraft_allowed, version"#,
            federation.as_uuid(),
            fund_overdraft_allowed,
            by,
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = inserted {
            return Ok(LedgerSettings {
                fund_overdraft_allowed: r.fund_overdraft_allowed,
                version: r.version,
            });
        }
    }
    Err(StoreError::VersionMismatch {
        current_version: find(conn, federation).await?.version,
    })
}
