//! The `Idempotency-Key` request header: a client's name for one logical request, so that a
//! retry after a lost response returns the first result instead of acting twice.

use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::future::{ready, Ready};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The header's value, if sent: 1 to 255 printable ASCII characters (a UUID is a good choice).
#[derive(Clone, Debug)]
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
            return ready(Ok(IdempotencyKey(None)));
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
        ready(match key {
            Some(key) => Ok(IdempotencyKey(Some(key.to_owned()))),
            None => Err(ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 printable ASCII characters",
            )),
        })
    }
}

/// A digest of what a request asks for (its path and parsed body), so a key reused for a
/// different request is recognised.
pub fn request_hash(path: &str, body: &impl Serialize) -> Result<String, ApiError> {
    let mut hasher = Sha256::new();
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(body).map_err(ApiError::internal)?);
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The answer when a key comes back with a different request.
pub fn key_reused() -> ApiError {
    ApiError::Unprocessable {
        code: "idempotency_key_reused",
        detail: "this Idempotency-Key was already used for a different request; use a new key \
                 for a new request"
            .into(),
    }
}
