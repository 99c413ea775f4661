//! Signing in: throttle, check the credential, load the principal it belongs to.
//!
//! A wrong login and a wrong secret are refused alike (and take about as long), so the answer
//! never confirms that an account exists.

use super::password::{verify_client_secret, verify_password};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::web;
use waymark_domain::user::Email;
use waymark_domain::{FederationId, Principal, ServiceAccountId, ServiceScope, UserId};
use waymark_persistence::credentials::{self, Credential};
use waymark_persistence::{service_accounts, users, TenantScope};

/// Signs a user in with their e-mail address and password.
pub async fn with_password(
    state: &AppState,
    username: &str,
    password: String,
    address: &str,
) -> Result<Principal, ApiError> {
    // Logins are stored lower-case; an unparseable one still counts as a failure against itself.
    let login = Email::parse(username)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| login_key(username));
    let credential = throttled_lookup(state, &login, address).await?;
    let hash = match &credential {
        Some(c) if c.user_id.is_some() => c.secret_hash.clone(),
        _ => state.decoy_password_hash.clone(),
    };
    let verified = web::block(move || verify_password(&password, &hash))
        .await
        .map_err(ApiError::internal)?;
    let (id, federation) = match credential {
        Some(Credential {
            user_id: Some(id),
            federation_id,
            ..
        }) if verified => (UserId::from(id), federation_id),
        _ => return refuse(state, &login, address).await,
    };
    let scope = match federation {
        Some(f) => TenantScope::federation(FederationId::from(f)),
        None => TenantScope::platform(),
    };
    let mut tx = state.begin(scope).await?;
    let user = users::find_for_sign_in(&mut tx, federation.map(FederationId::from), id).await?;
    credentials::clear_failures(&mut tx, &login).await?;
    waymark_persistence::commit(tx).await?;
    if !user.active {
        return Err(ApiError::InvalidCredentials);
    }
    Ok(user.principal())
}

/// Signs a service account in with its client id and secret, granting the requested scopes
/// (all of its scopes when none are requested).
pub async fn with_client_credentials(
    state: &AppState,
    client_id: &str,
    client_secret: &str,
    requested: Option<Vec<ServiceScope>>,
    address: &str,
) -> Result<Principal, ApiError> {
    let login = login_key(client_id);
    let credential = throttled_lookup(state, &login, address).await?;
    let (id, federation) = match credential {
        // During a rotation's grace period the previous secret signs in too.
        Some(Credential {
            service_account_id: Some(id),
            federation_id: Some(federation),
            secret_hash,
            previous_secret_hash,
            ..
        }) if verify_client_secret(client_secret, &secret_hash)
            || previous_secret_hash
                .as_deref()
                .is_some_and(|previous| verify_client_secret(client_secret, previous)) =>
        {
            (ServiceAccountId::from(id), FederationId::from(federation))
        }
        _ => return refuse(state, &login, address).await,
    };
    let mut tx = state.begin(TenantScope::federation(federation)).await?;
    let account = service_accounts::find(&mut tx, federation, id).await?;
    credentials::clear_failures(&mut tx, &login).await?;
    waymark_persistence::commit(tx).await?;
    if !account.active {
        return Err(ApiError::InvalidCredentials);
    }
    let scopes = match requested {
        None => account.scopes.clone(),
        Some(requested) => {
            if let Some(extra) = requested.iter().find(|s| !account.scopes.contains(s)) {
                return Err(ApiError::bad_request(
                    "invalid_scope",
                    format!("this client is not granted the scope {extra}"),
                ));
            }
            requested
        }
    };
    Ok(account.principal(scopes))
}

/// The login as failures are counted and credentials found by: trimmed, lower-case, and with
/// any NUL (which no stored login holds, and the database cannot take) replaced, so such a
/// login is refused like any unknown one.
fn login_key(raw: &str) -> String {
    raw.trim().to_lowercase().replace('\0', "\u{fffd}")
}

/// Refuses with 429 when the login or address has failed too often; otherwise finds the credential.
async fn throttled_lookup(
    state: &AppState,
    login: &str,
    address: &str,
) -> Result<Option<Credential>, ApiError> {
    let mut tx = state.begin(TenantScope::none()).await?;
    let recent =
        credentials::recent_failures(&mut tx, login, address, state.login_throttle.window).await?;
    if let Err(retry_after) = state.login_throttle.check(recent) {
        return Err(ApiError::TooManyRequests { retry_after });
    }
    let credential = credentials::find(&mut tx, login).await?;
    waymark_persistence::commit(tx).await?;
    Ok(credential)
}

async fn refuse<T>(state: &AppState, login: &str, address: &str) -> Result<T, ApiError> {
    let mut tx = state.begin(TenantScope::none()).await?;
    credentials::record_failure(&mut tx, login, address).await?;
    waymark_persistence::commit(tx).await?;
    Err(ApiError::InvalidCredentials)
}
