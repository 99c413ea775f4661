//! The `Idempotency-Key` request header: a client's name for one logical request, so that a
//! retry after a lost response returns the first result instead of acting twice.

use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::future::{ready, Ready};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::Required;
use utoipa::IntoParams;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// What a key may be: 1 to 255 printable ASCII characters (`!` to `~`, so no spaces).
const KEY_PATTERN: &str = "^[!-~]{1,255}$";

/// The header as the document declares it, from the rule [`IdempotencyKey`] enforces.
fn key_parameter(required: bool, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some(KEY_PATTERN)),
        ))
        .build()
}

/// `params(MoneyKey)`: the `Idempotency-Key` a money-moving request must carry.
pub struct MoneyKey;

impl IntoParams for MoneyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![key_parameter(
            true,
            "Your name for this request (1 to 255 printable ASCII characters, e.g. a new UUID). \
             A retry with the same key and body gets the first answer again and moves nothing; \
             the same key with another body is `422 idempotency_key_reused`.",
        )]
    }
}

/// `params(RetryKey)`: an optional `Idempotency-Key` that makes a creation safe to retry.
pub struct RetryKey;

impl IntoParams for RetryKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![key_parameter(
            false,
            "Your name for this request (1 to 255 printable ASCII characters, e.g. a UUID); a \
             retry with the same key returns the first result, and the same key with another \
             body is `422 idempotency_key_reused`.",
        )]
    }
}

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
            // As KEY_PATTERN declares it.
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

impl IdempotencyKey {
    /// The key, which this request must carry, for the reason given.
    pub fn required(self, why: &str) -> Result<String, ApiError> {
        self.0.ok_or_else(|| {
            ApiError::bad_request(
                "idempotency_key_required",
                format!("this request needs an Idempotency-Key header (e.g. a new UUID): {why}"),
            )
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

/// The first response to a request, given again to a retry of it.
pub fn replayed(status: u16, body: serde_json::Value) -> actix_web::HttpResponse {
    actix_web::HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK),
    )
    .insert_header(("Idempotent-Replayed", "true"))
    .json(body)
}

/// A money-moving request: its `Idempotency-Key` is required, and the first response to it is
/// kept and given again to every retry.
pub struct MoneyRequest {
    key: String,
    operation: &'static str,
    hash: String,
    principal: uuid::Uuid,
    federation: waymark_domain::FederationId,
}

impl MoneyRequest {
    pub fn new(
        key: IdempotencyKey,
        operation: &'static str,
        path: &str,
        body: &impl Serialize,
        principal: uuid::Uuid,
        federation: waymark_domain::FederationId,
    ) -> Result<Self, ApiError> {
        let key = key.required("it moves money, and a retry must not pay twice")?;
        Ok(Self {
            key,
            operation,
            hash: request_hash(path, body)?,
            principal,
            federation,
        })
    }

    /// Claims the key in `tx`. `Some(response)` is the first response to the same request,
    /// to answer with as it is; a concurrent retry waits here until the first one has finished.
    pub async fn claim(
        &self,
        tx: &mut waymark_persistence::Tx,
    ) -> Result<Option<actix_web::HttpResponse>, ApiError> {
        use waymark_persistence::idempotency::{claim, Claim, IdempotentRequest};
        let request = IdempotentRequest {
            principal: self.principal,
            key: &self.key,
            operation: self.operation,
            request_hash: &self.hash,
        };
        match claim(tx, self.federation, &request, None, uuid::Uuid::now_v7()).await? {
            Claim::Fresh => Ok(None),
            Claim::Replay {
                response: Some((status, body)),
                ..
            } => Ok(Some(replayed(status, body))),
            // A claim without a kept response belongs to a request that is not about money.
            Claim::Replay { response: None, .. } | Claim::Mismatch => Err(key_reused()),
        }
    }

    /// This request, to approve `charges`, as the approval queue takes it.
    pub fn approval_request(
        self,
        charges: Vec<uuid::Uuid>,
        reason: Option<String>,
    ) -> waymark_persistence::ledger::approvals::ApprovalRequest {
        waymark_persistence::ledger::approvals::ApprovalRequest {
            principal: self.principal,
            key: self.key,
            operation: self.operation,
            request_hash: self.hash,
            charges,
            reason,
        }
    }

    /// Keeps `body` as the response to this request and builds it.
    pub async fn respond(
        &self,
        tx: &mut waymark_persistence::Tx,
        status: actix_web::http::StatusCode,
        body: &impl Serialize,
    ) -> Result<actix_web::HttpResponse, ApiError> {
        let body = serde_json::to_value(body).map_err(ApiError::internal)?;
        waymark_persistence::idempotency::complete(
            tx,
            self.federation,
            self.principal,
            &self.key,
            status.as_u16(),
            &body,
        )
        .await?;
        Ok(actix_web::HttpResponse::build(status).json(body))
    }
}
