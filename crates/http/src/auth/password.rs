//! Password and client-secret hashing.
//!
//! Passwords are hashed with Argon2id (RFC 9106 parameters from the argon2 crate's defaults).
//! Client secrets are 256 random bits, which no one can guess, so a fast SHA-256 suffices.

use crate::problem::ApiError;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use waymark_domain::user::Password;

pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Hashes on a blocking thread: Argon2id takes tens of milliseconds of CPU by design.
pub async fn hash_password_off_thread(password: &Password) -> Result<String, ApiError> {
    let password = password.expose().to_owned();
    actix_web::web::block(move || hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::Internal(e.to_string().into()))
}

/// False for a wrong password and for an unreadable hash alike.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new client secret, shown to its owner once.
pub fn new_client_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_client_secret(secret: &str) -> String {
    format!(
        "sha256:{}",
        URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
    )
}

/// Constant-time comparison of a presented secret with a stored hash.
pub fn verify_client_secret(secret: &str, stored: &str) -> bool {
    let presented = hash_client_secret(secret);
    presented.len() == stored.len()
        && presented
            .bytes()
            .zip(stored.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse battery!", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn client_secrets_verify_only_against_their_hash() {
        let secret = new_client_secret();
        let hash = hash_client_secret(&secret);
        assert!(verify_client_secret(&secret, &hash));
        assert!(!verify_client_secret("guess", &hash));
        assert_ne!(new_client_secret(), secret);
    }
}
