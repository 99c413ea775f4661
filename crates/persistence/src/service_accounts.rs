//! Service accounts: integration clients of a federation, with explicit scopes.

use crate::code_arrays::{codes, decode};
use crate::credentials;
use crate::error::{on_constraint, StoreError};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::{FederationId, Principal, PrincipalKind, ServiceAccountId, ServiceScope};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccountRecord {
    pub id: Uuid,
    pub federation_id: Uuid,
    pub name: String,
    pub scopes: Vec<ServiceScope>,
    pub active: bool,
    /// Set once the account is revoked, which is for good.
    pub revoked_at: Option<DateTime<Utc>>,
    pub secret_rotated_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ServiceAccountRecord {
    /// The principal this account acts as, holding `scopes` (a subset of its own).
    pub fn principal(&self, scopes: Vec<ServiceScope>) -> Principal {
        Principal {
            kind: PrincipalKind::ServiceAccount,
            subject: self.id,
            federation_id: Some(FederationId::from(self.federation_id)),
            practice_id: None,
            organisation_id: None,
            roles: vec![],
            scopes,
        }
    }
}

struct ServiceAccountRow {
    id: Uuid,
    federation_id: Uuid,
    name: String,
    scopes: Vec<String>,
    active: bool,
    revoked_at: Option<DateTime<Utc>>,
    secret_rotated_at: Option<DateTime<Utc>>,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ServiceAccountRow> for ServiceAccountRecord {
    type Error = StoreError;

    fn try_from(row: ServiceAccountRow) -> Result<Self, StoreError> {
        let scopes = decode::<ServiceScope>(&row.scopes)?;
        Ok(ServiceAccountRecord {
            id: row.id,
            federation_id: row.federation_id,
            name: row.name,
            scopes,
            active: row.active,
            revoked_at: row.revoked_at,
            secret_rotated_at: row.secret_rotated_at,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Creates the account and its client credential (the client id is the account id).
pub async fn create(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceAccountId,
    name: &str,
    scopes: &[ServiceScope],
    secret_hash: &str,
) -> Result<ServiceAccountRecord, StoreError> {
    let row = sqlx::query_as!(
        ServiceAccountRow,
        r#"INSERT INTO service_accounts (id, federation_id, name, scopes) VALUES ($1, $2, $3, $4)
           RETURNING id, federation_id, name, scopes, active, revoked_at, secret_rotated_at, version,
                     created_at, updated_at"#,
        id.as_uuid(),
        federation.as_uuid(),
        name,
        &codes(scopes),
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        on_constraint(
            e,
            &[(
                "service_accounts_federation_id_name_key",
                StoreError::Duplicate { field: "name" },
            )],
        )
    })?;
    credentials::create_for_service_account(conn, id, federation, secret_hash).await?;
    row.try_into()
}

pub async fn find(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceAccountId,
) -> Result<ServiceAccountRecord, StoreError> {
    sqlx::query_as!(
        ServiceAccountRow,
        r#"SELECT id, federation_id, name, scopes, active, revoked_at, secret_rotated_at, version,
                  created_at, updated_at
           FROM service_accounts WHERE federation_id = $1 AND id = $2"#,
        federation.as_uuid(),
        id.as_uuid(),
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

pub async fn list(
    conn: &mut PgConnection,
    federation: FederationId,
    after: Option<Uuid>,
    probe: i64,
) -> Result<Vec<ServiceAccountRecord>, StoreError> {
    sqlx::query_as!(
        ServiceAccountRow,
        r#"SELECT id, federation_id, name, scopes, active, revoked_at, secret_rotated_at, version,
                  created_at, updated_at
           FROM service_accounts WHERE federation_id = $1 AND ($2::uuid IS NULL OR id > $2)
           ORDER BY id LIMIT $3"#,
        federation.as_uuid(),
        after,
        probe,
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(ServiceAccountRecord::try_from)
    .collect()
}

/// Activates or deactivates the account if it is still at `expected_version` and not revoked
/// (the caller checks that first; a revocation in between reads as a version mismatch).
/// Deactivating stops the tokens it holds at once.
pub async fn set_active(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceAccountId,
    expected_version: i32,
    active: bool,
) -> Result<ServiceAccountRecord, StoreError> {
    let updated = sqlx::query_as!(
        ServiceAccountRow,
        r#"UPDATE service_accounts SET active = $4, version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND id = $2 AND version = $3 AND revoked_at IS NULL
           RETURNING id, federation_id, name, scopes, active, revoked_at, secret_rotated_at, version,
                     created_at, updated_at"#,
        federation.as_uuid(),
        id.as_uuid(),
        expected_version,
        active,
    )
    .fetch_optional(&mut *conn)
    .await?;
    match updated {
        Some(row) => {
            if !active {
                credentials::stop_tokens(conn, id).await?;
            }
            row.try_into()
        }
        None => {
            let current = find(conn, federation, id).await?;
            Err(StoreError::VersionMismatch {
                current_version: current.version,
            })
        }
    }
}

/// Locks the account for a change of its secret or its revocation.
pub async fn lock(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceAccountId,
) -> Result<ServiceAccountRecord, StoreError> {
    sqlx::query_as!(
        ServiceAccountRow,
        r#"SELECT id, federation_id, name, scopes, active, revoked_at, secret_rotated_at, version,
                  created_at, updated_at
           FROM service_accounts WHERE federation_id = $1 AND id = $2 FOR UPDATE"#,
        federation.as_uuid(),
        id.as_uuid(),
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?
    .try_into()
}

/// Gives a locked, unrevoked account the secret hashed as `secret_hash`, keeping the one it
/// replaces until `previous_expires_at` (none: the old secret stops now).
pub async fn rotate_secret(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceAccountId,
    secret_hash: &str,
    previous_expires_at: Option<DateTime<Utc>>,
) -> Result<ServiceAccountRecord, StoreError> {
    let row = sqlx::query_as!(
        ServiceAccountRow,
        r#"UPDATE service_accounts
           SET secret_rotated_at = now(), version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND id = $2 AND revoked_at IS NULL
           RETURNING id, federation_id, name, scopes, active, revoked_at, secret_rotated_at, version,
                     created_at, updated_at"#,
        federation.as_uuid(),
        id.as_uuid(),
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    credentials::rotate_service_account_secret(conn, id, secret_hash, previous_expires_at).await?;
    row.try_into()
}

/// Revokes the account for good: inactive, both secrets forgotten, every token it holds
/// refused from now on. Revoking a revoked account changes nothing.
pub async fn revoke(
    conn: &mut PgConnection,
    federation: FederationId,
    id: ServiceAccountId,
) -> Result<ServiceAccountRecord, StoreError> {
    let revoked = sqlx::query_as!(
        ServiceAccountRow,
        r#"UPDATE service_accounts
           SET active = false, revoked_at = now(), version = version + 1, updated_at = now()
           WHERE federation_id = $1 AND id = $2 AND revoked_at IS NULL
           RETURNING id, federation_id, name, scopes, active, revoked_at, secret_rotated_at, version,
                     created_at, updated_at"#,
        federation.as_uuid(),
        id.as_uuid(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    match revoked {
        Some(row) => {
            credentials::revoke_service_account(conn, id).await?;
            row.try_into()
        }
        None => find(conn, federation, id).await,
    }
}
