//! RFC 9457 problem details: the one shape of every error response, and the one place that
//! decides status codes.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;
use waymark_domain::directory::import::ImportRowError;
use waymark_domain::{FieldError, ValidationErrors};
use waymark_persistence::StoreError;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// How long a client should wait before retrying when the database is out of reach: about
/// what a restart or a failover takes.
const UNAVAILABLE_RETRY_AFTER_SECONDS: &str = "2";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://waymark.example/problems/validation_failed",
    "title": "Validation failed",
    "status": 422,
    "code": "validation_failed",
    "detail": "1 field is invalid",
    "errors": [{"field": "ods_code", "code": "invalid_format", "message": "must be a GP practice ODS code: one letter then five digits, e.g. C82010"}]
}))]
pub struct Problem {
    /// A URI naming the kind of problem; its last segment is `code`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    /// Stable, machine-readable code; clients branch on this.
    pub code: String,
    /// What went wrong with this request, for people.
    pub detail: String,
    /// The fields that failed validation, when that is the problem.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// For `insufficient_funds`: how many pence the fund is short of the posting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shortfall_pence: Option<i64>,
    /// For `illegal_transition`: the state the resource is in, which does not allow the move.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_state: Option<String>,
}

/// One invalid field of a request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    /// For imports: the row of the file (a CSV file's header is row 1; JSON items count from 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<usize>,
    /// Path of the field in the request, e.g. `roles[1]` or `ods_code`.
    pub field: String,
    pub code: String,
    pub message: String,
}

impl From<FieldError> for ProblemField {
    fn from(error: FieldError) -> Self {
        Self {
            row: None,
            field: error.field,
            code: error.code.to_owned(),
            message: error.message,
        }
    }
}

/// Every error the API answers with. Internal causes are logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("the credentials are wrong, or the account is not active")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("{allowed}")]
    MethodNotAllowed { allowed: String },
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    /// What was asked for existed once and is gone for good (a feed cursor past retention).
    #[error("{detail}")]
    Gone { code: &'static str, detail: String },
    /// A state change the resource's state machine does not allow from `current_state`.
    #[error("{detail}")]
    IllegalTransition {
        detail: String,
        current_state: String,
    },
    /// A posting the fund cannot pay, with the shortfall in pence.
    #[error("{detail}")]
    InsufficientFunds {
        detail: String,
        shortfall_pence: i64,
    },
    #[error("the resource has changed since you read it; its current ETag is {current_etag}")]
    PreconditionFailed { current_etag: String },
    #[error("this update needs an If-Match header with the ETag from your last read")]
    PreconditionRequired,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{}", validation_summary(.0))]
    Validation(ValidationErrors),
    #[error("{} problem(s) in the file; nothing was imported", .0.len())]
    ImportRejected(Vec<ImportRowError>),
    /// A well-formed request the current rules cannot accept, with its own stable code.
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    #[error("{detail}")]
    UnprocessableBody {
        detail: String,
        field: Option<String>,
    },
    #[error("too many attempts; try again in {} seconds", .retry_after.as_secs())]
    TooManyRequests { retry_after: Duration },
    /// A rate limit's quota for the window is spent.
    #[error("the rate limit \"{policy}\" allows {quota} requests a minute, and they are spent; try again in {} seconds", .retry_after.as_secs())]
    RateLimited {
        policy: &'static str,
        quota: u32,
        retry_after: Duration,
    },
    #[error("the service is not ready: {0}")]
    Unavailable(String),
    /// This instance is doing as many of these at once as it may; try again shortly.
    #[error("{detail}")]
    Busy {
        code: &'static str,
        detail: String,
        retry_after: Duration,
    },
    /// The database is out of reach (restarting, failing over); the request did nothing that
    /// committed unless it says otherwise, and may be retried after `Retry-After`.
    #[error("the database is unavailable just now; try again in a few seconds")]
    DatabaseUnavailable,
    #[error("internal error: {0}")]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

fn validation_summary(errors: &ValidationErrors) -> String {
    match errors.0.len() {
        1 => "1 field is invalid".to_owned(),
        n => format!("{n} fields are invalid"),
    }
}

impl ApiError {
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(error))
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict { code, .. } => code,
            ApiError::Gone { code, .. } => code,
            ApiError::InsufficientFunds { .. } => "insufficient_funds",
            ApiError::IllegalTransition { .. } => "illegal_transition",
            ApiError::PreconditionFailed { .. } => "etag_mismatch",
            ApiError::PreconditionRequired => "if_match_required",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Validation(_) => "validation_failed",
            ApiError::ImportRejected(_) => "import_rejected",
            ApiError::Unprocessable { code, .. } => code,
            ApiError::UnprocessableBody { .. } => "invalid_body",
            ApiError::TooManyRequests { .. } | ApiError::RateLimited { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "not_ready",
            ApiError::Busy { code, .. } => code,
            ApiError::DatabaseUnavailable => "database_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "Bad request",
            ApiError::Unauthorized(_) | ApiError::InvalidCredentials => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound => "Not found",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::Conflict { .. }
            | ApiError::InsufficientFunds { .. }
            | ApiError::IllegalTransition { .. } => "Conflict",
            ApiError::Gone { .. } => "Gone",
            ApiError::PreconditionFailed { .. } => "Precondition failed",
            ApiError::PreconditionRequired => "Precondition required",
            ApiError::PayloadTooLarge { .. } => "Payload too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::Validation(_) => "Validation failed",
            ApiError::ImportRejected(_) => "Import rejected",
            ApiError::Unprocessable { .. } => "Unprocessable request",
            ApiError::UnprocessableBody { .. } => "Invalid request body",
            ApiError::TooManyRequests { .. } | ApiError::RateLimited { .. } => "Too many requests",
            ApiError::Unavailable(_) | ApiError::DatabaseUnavailable | ApiError::Busy { .. } => {
                "Service unavailable"
            }
            ApiError::Internal(_) => "Internal server error",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::NotFound => "no such resource here".to_owned(),
            ApiError::MethodNotAllowed { allowed } => format!("this resource allows {allowed}"),
            ApiError::Internal(_) => {
                "something went wrong on our side; it has been logged".to_owned()
            }
            other => other.to_string(),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let code = self.code();
        let errors = match self {
            ApiError::Validation(errors) => {
                errors.0.iter().cloned().map(ProblemField::from).collect()
            }
            ApiError::ImportRejected(errors) => errors
                .iter()
                .map(|e| ProblemField {
                    row: Some(e.row),
                    field: e.field.clone(),
                    code: e.code.to_owned(),
                    message: e.message.clone(),
                })
                .collect(),
            ApiError::UnprocessableBody {
                field: Some(field),
                detail,
            } => vec![ProblemField {
                row: None,
                field: field.clone(),
                code: "invalid".to_owned(),
                message: detail.clone(),
            }],
            _ => Vec::new(),
        };
        Problem {
            problem_type: format!("https://waymark.example/problems/{code}"),
            title: self.title().to_owned(),
            status: self.status_code().as_u16(),
            code: code.to_owned(),
            detail: self.detail(),
            errors,
            shortfall_pence: match self {
                ApiError::InsufficientFunds {
                    shortfall_pence, ..
                } => Some(*shortfall_pence),
                _ => None,
            },
            current_state: match self {
                ApiError::IllegalTransition { current_state, .. } => Some(current_state.clone()),
                _ => None,
            },
        }
    }

    /// A move from `current_state` that its state machine refuses, e.g. `"the referral is
    /// closed and cannot become booked"`.
    pub fn illegal_transition(detail: impl Into<String>, current_state: impl ToString) -> Self {
        ApiError::IllegalTransition {
            detail: detail.into(),
            current_state: current_state.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. }
            | ApiError::InsufficientFunds { .. }
            | ApiError::IllegalTransition { .. } => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_)
            | ApiError::Unprocessable { .. }
            | ApiError::UnprocessableBody { .. }
            | ApiError::ImportRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } | ApiError::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) | ApiError::DatabaseUnavailable | ApiError::Busy { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = %cause, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        ));
        match self {
            ApiError::Unauthorized(_) => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#));
            }
            ApiError::MethodNotAllowed { allowed } => {
                response.insert_header((header::ALLOW, allowed.as_str()));
            }
            ApiError::TooManyRequests { retry_after }
            | ApiError::RateLimited { retry_after, .. }
            | ApiError::Busy { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after.as_secs().to_string()));
            }
            ApiError::Unavailable(_) | ApiError::DatabaseUnavailable => {
                response.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER_SECONDS));
            }
            _ => {}
        }
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        response.body(body)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Duplicate { field } => ApiError::Conflict {
                code: "already_exists",
                detail: format!("{field} is already in use"),
            },
            StoreError::MissingReference { field } => {
                ApiError::Validation(ValidationErrors::single(
                    field,
                    "not_found",
                    "refers to nothing in this federation",
                ))
            }
            StoreError::VersionMismatch { current_version } => ApiError::PreconditionFailed {
                current_etag: waymark_domain::etag::etag_for(current_version),
            },
            StoreError::OutOfRange => ApiError::Unprocessable {
                code: "value_out_of_range",
                detail: "a value in the request is beyond what can be stored (a date before \
                         4713 BC, or text with a NUL character, say); check what you sent"
                    .into(),
            },
            StoreError::Unavailable(e) => {
                tracing::warn!(error = %e, "the database is out of reach");
                ApiError::DatabaseUnavailable
            }
            StoreError::Database(e) => ApiError::internal(e),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Validation(errors)
    }
}
