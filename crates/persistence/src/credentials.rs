//! Sign-in credentials and failed attempts. Read before the tenant is known: the credential says
//! which federation the following, tenant-scoped queries belong to.

use crate::error::{on_constraint, try_another_connection, StoreError};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;
use waymark_domain::login_throttle::{Failures, RecentFailures};
use waymark_domain::{FederationId, ServiceAccountId, UserId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub login: String,
    pub user_id: Option<Uuid>,
    pub service_account_id: Option<Uuid>,
    pub federation_id: Option<Uuid>,
    pub secret_hash: String,
    /// A service account's secret before its last rotation, still accepted until it expires.
    pub previous_secret_hash: Option<String>,
}

/// The login's credential, with the previous secret only while its grace period lasts.
pub async fn find(conn: &mut PgConnection, login: &str) -> Result<Option<Credential>, StoreError> {
    Ok(sqlx::query_as!(
        Credential,
        r#"SELECT login,
                  CASE WHEN principal_kind <> 'service_account' THEN principal_id END AS user_id,
                  CASE WHEN principal_kind = 'service_account' THEN principal_id END AS service_account_id,
                  federation_id, secret_hash,
                  CASE WHEN previous_secret_expires_at > now() THEN previous_secret_hash END
                      AS previous_secret_hash
           FROM credentials WHERE login = $1"#,
        login,
    )
    .fetch_optional(conn)
    .await?)
}

/// The moment before which a service account's tokens are refused, if any (set when it is
/// deactivated or revoked); `Err(NotFound)` when it has no credential at all. Asked on every
/// request a service account makes, outside any transaction (credentials are read before the
/// tenant is known); a pooled connection found dead is swapped for another, as at BEGIN.
pub async fn tokens_not_before(
    pool: &PgPool,
    account: ServiceAccountId,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let login = account.as_uuid().to_string();
    let mut attempts_left = pool.options().get_max_connections() + 1;
    loop {
        let found = sqlx::query_scalar!(
            "SELECT tokens_not_before FROM credentials
             WHERE login = $1 AND principal_kind = 'service_account'",
            login,
        )
        .fetch_optional(pool)
        .await;
        match found {
            Ok(found) => return found.ok_or(StoreError::NotFound),
            Err(error) if attempts_left > 1 && try_another_connection(&error) => {
                attempts_left -= 1;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Refuses every token the account holds now, from this moment on.
pub(crate) async fn stop_tokens(
    conn: &mut PgConnection,
    account: ServiceAccountId,
) -> Result<(), StoreError> {
    // The moment comes from here, not the database: Citus will not evaluate a volatile
    // function in an UPDATE of a reference table.
    sqlx::query!(
        "UPDATE credentials SET tokens_not_before = $2, updated_at = now()
         WHERE login = $1 AND principal_kind = 'service_account'",
        account.as_uuid().to_string(),
        Utc::now(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes `secret_hash` the account's secret and keeps the one it replaces until
/// `previous_expires_at` (a secret already in its grace period is dropped).
pub(crate) async fn rotate_service_account_secret(
    conn: &mut PgConnection,
    account: ServiceAccountId,
    secret_hash: &str,
    previous_expires_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE credentials
         SET previous_secret_hash = CASE WHEN $3::timestamptz IS NULL THEN NULL ELSE secret_hash END,
             previous_secret_expires_at = $3,
             secret_hash = $2, updated_at = now()
         WHERE login = $1 AND principal_kind = 'service_account'",
        account.as_uuid().to_string(),
        secret_hash,
        previous_expires_at,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets both of the account's secrets (no secret hashes to an empty string) and stops its
/// tokens.
pub(crate) async fn revoke_service_account(
    conn: &mut PgConnection,
    account: ServiceAccountId,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE credentials
         SET secret_hash = '', previous_secret_hash = NULL, previous_secret_expires_at = NULL,
             tokens_not_before = $2, updated_at = now()
         WHERE login = $1 AND principal_kind = 'service_account'",
        account.as_uuid().to_string(),
        Utc::now(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn create_for_user(
    conn: &mut PgConnection,
    login: &str,
    user: UserId,
    federation: Option<FederationId>,
    secret_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"INSERT INTO credentials (login, principal_kind, principal_id, federation_id, secret_hash)
           VALUES ($1, CASE WHEN $3::uuid IS NULL THEN 'platform_user' ELSE 'user' END, $2, $3, $4)"#,
        login,
        user.as_uuid(),
        federation.map(|f| f.as_uuid()),
        secret_hash,
    )
    .execute(conn)
    .await
    .map_err(|e| on_constraint(e, &[("credentials_pkey", StoreError::Duplicate { field: "email" })]))?;
    Ok(())
}

pub(crate) async fn create_for_service_account(
    conn: &mut PgConnection,
    account: ServiceAccountId,
    federation: FederationId,
    secret_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"INSERT INTO credentials (login, principal_kind, principal_id, federation_id, secret_hash)
           VALUES ($1, 'service_account', $2, $3, $4)"#,
        account.as_uuid().to_string(),
        account.as_uuid(),
        federation.as_uuid(),
        secret_hash,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces the secret of `login` (a password change, or a re-seeded demo user).
pub async fn set_secret(
    conn: &mut PgConnection,
    login: &str,
    secret_hash: &str,
) -> Result<(), StoreError> {
    let updated = sqlx::query!(
        "UPDATE credentials SET secret_hash = $2, updated_at = now() WHERE login = $1",
        login,
        secret_hash,
    )
    .execute(conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn record_failure(
    conn: &mut PgConnection,
    login: &str,
    address: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO login_failures (id, login, address, failed_at) VALUES ($1, $2, $3, clock_timestamp())",
        Uuid::now_v7(),
        login,
        address,
    )
    .execute(&mut *conn)
    .await?;
    // Old failures no longer count against anyone; keep the table small as it goes.
    sqlx::query!("DELETE FROM login_failures WHERE failed_at < now() - interval '1 day'")
        .execute(conn)
        .await?;
    Ok(())
}

/// Failures within `window` for the login from the address, for the login from anywhere, and
/// from the address for any login, each with the age of its oldest.
pub async fn recent_failures(
    conn: &mut PgConnection,
    login: &str,
    address: &str,
    window: Duration,
) -> Result<RecentFailures, StoreError> {
    let window_secs = window.as_secs_f64();
    let row = sqlx::query!(
        r#"SELECT
             count(*) FILTER (WHERE login = $1 AND address = $2) AS "pair!",
             min(failed_at) FILTER (WHERE login = $1 AND address = $2) AS pair_oldest,
             count(*) FILTER (WHERE login = $1) AS "account!",
             min(failed_at) FILTER (WHERE login = $1) AS account_oldest,
             count(*) FILTER (WHERE address = $2) AS "address!",
             min(failed_at) FILTER (WHERE address = $2) AS address_oldest
           FROM login_failures
           WHERE (login = $1 OR address = $2)
             AND failed_at > clock_timestamp() - make_interval(secs => $3)"#,
        login,
        address,
        window_secs,
    )
    .fetch_one(conn)
    .await?;
    let now = Utc::now();
    let failures = |count: i64, oldest: Option<DateTime<Utc>>| Failures {
        count: u32::try_from(count).unwrap_or(u32::MAX),
        oldest_age: oldest
            .map(|oldest| (now - oldest).to_std().unwrap_or_default())
            .unwrap_or_default(),
    };
    Ok(RecentFailures {
        for_account_and_address: failures(row.pair, row.pair_oldest),
        for_account: failures(row.account, row.account_oldest),
        for_address: failures(row.address, row.address_oldest),
    })
}

/// Forgets the login's failures after a successful sign-in.
pub async fn clear_failures(conn: &mut PgConnection, login: &str) -> Result<(), StoreError> {
    sqlx::query!("DELETE FROM login_failures WHERE login = $1", login)
        .execute(conn)
        .await?;
    Ok(())
}
