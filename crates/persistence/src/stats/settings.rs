//! Per-federation statistics settings. A federation without a row has the defaults (NHS
//! Digital's disclosure control, the 2025 unit cost of a GP consultation), at version 1.

use crate::error::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::stats::{DisclosurePolicy, StatsSettings};
use waymark_domain::FederationId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredSettings {
    pub settings: StatsSettings,
    pub version: i32,
}

const DEFAULT_VERSION: i32 = 1;

fn stored(
    suppress_up_to: i32,
    round_to: i32,
    secondary: bool,
    gp_consultation_pence: i64,
    version: i32,
) -> Result<StoredSettings, StoreError> {
    // The table's checks hold the same bounds as the domain, so this fails only on a bug.
    let policy =
        DisclosurePolicy::new(suppress_up_to as u64, round_to as u64, secondary).map_err(|e| {
            StoreError::Database(sqlx::Error::Decode(format!("stats_settings: {e}").into()))
        })?;
    Ok(StoredSettings {
        settings: StatsSettings {
            policy,
            gp_consultation_pence,
        },
        version,
    })
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
) -> Result<StoredSettings, StoreError> {
    let row = sqlx::query!(
        r#"SELECT suppress_up_to, round_to, secondary_suppression, gp_consultation_pence, version
           FROM stats_settings WHERE federation_id = $1"#,
        federation.as_uuid(),
    )
    .fetch_optional(conn)
    .await?;
    match row {
        None => Ok(StoredSettings {
            settings: StatsSettings::default(),
            version: DEFAULT_VERSION,
        }),
        Some(r) => stored(
            r.suppress_up_to,
            r.round_to,
            r.secondary_suppression,
            r.gp_consultation_pence,
            r.version,
        ),
    }
}

/// Replaces the settings if they are still at `expected_version`.
pub async fn update(
    conn: &mut PgConnection,
    federation: FederationId,
    expected_version: i32,
    settings: StatsSettings,
    by: Uuid,
) -> Result<StoredSettings, StoreError> {
    let policy = settings.policy;
    let updated = sqlx::query!(
        r#"UPDATE stats_settings
           SET suppress_up_to = $3, round_to = $4, secondary_suppression = $5,
               gp_consultation_pence = $6, updated_by = $7, updated_at = now(),
               version = version + 1
           WHERE federation_id = $1 AND version = $2
           RETURNING suppress_up_to, round_to, secondary_suppression, gp_consultation_pence, version"#,
        federation.as_uuid(),
        expected_version,
        policy.suppress_up_to() as i32,
        policy.round_to() as i32,
        policy.secondary(),
        settings.gp_consultation_pence,
        by,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = updated {
        return stored(
            r.suppress_up_to,
            r.round_to,
            r.secondary_suppression,
            r.gp_consultation_pence,
            r.version,
        );
    }
    if expected_version == DEFAULT_VERSION {
        let inserted = sqlx::query!(
            r#"INSERT INTO stats_settings (federation_id, suppress_up_to, round_to,
                   secondary_suppression, gp_consultation_pence, version, updated_by, updated_at)
               VALUES ($1, $2, $3, $4, $5, 2, $6, now())
               ON CONFLICT (federation_id) DO NOTHING
               RETURNING suppress_up_to, round_to, secondary_suppression, gp_consultation_pence, version"#,
            federation.as_uuid(),
            policy.suppress_up_to() as i32,
            policy.round_to() as i32,
            policy.secondary(),
            settings.gp_consultation_pence,
            by,
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = inserted {
            return stored(
                r.suppress_up_to,
                r.round_to,
                r.secondary_suppression,
                r.gp_consultation_pence,
                r.version,
            );
        }
    }
    Err(StoreError::VersionMismatch {
        current_version: find(conn, federation).await?.version,
    })
}
