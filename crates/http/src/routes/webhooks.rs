//! `/v1/webhooks`: endpoints a federation's events are pushed to, managed by its administrators
//! and by integrations granted `webhooks:write`. Deliveries are made by every instance
//! (`webhook_delivery`); here endpoints are registered, changed, rotated and removed, and their
//! delivery attempts listed.

use super::location;
use crate::auth::Caller;
use crate::concurrency::{with_etag, IfMatch, IfMatchHeader};
use crate::json_body::{absent_or_nullable, apply_change, JsonBody, OptionalJsonBody};
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::routes::federations::ListQuery;
use crate::secret_rotation::SecretRotationBody;
use crate::state::AppState;
use crate::webhook_delivery::check_destination;
use actix_web::http::header;
use actix_web::{delete, get, patch, post, web, HttpResponse, HttpResponseBuilder};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::events::Audience;
use waymark_domain::validation::bounded_text;
use waymark_domain::webhooks::{event_types_for, WebhookSecret, WebhookUrl, SECRET_BYTES};
use waymark_domain::{FederationId, ValidationErrors};
use waymark_persistence::events::EventRow;
use waymark_persistence::webhooks::{self, AttemptRecord, EndpointRecord, EndpointUpdate};
use waymark_persistence::{commit, end_read, TenantScope};

#[derive(Serialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    #[schema(example = "https://finance.example.org/waymark-hooks")]
    pub url: String,
    pub description: Option<String>,
    /// The event types delivered to it.
    #[schema(example = json!(["payment_run.created", "remittance.created"]))]
    pub event_types: Vec<String>,
    /// Disabled endpoints receive nothing; re-enabled, one receives what happens from then on.
    pub enabled: bool,
    /// `gone` (its receiver answered 410) or `administrator`, while disabled.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation also signs deliveries.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<EndpointRecord> for WebhookEndpoint {
    fn from(r: EndpointRecord) -> Self {
        Self {
            id: r.id,
            url: r.url,
            description: r.description,
            event_types: r.event_types,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            disabled_at: r.disabled_at,
            previous_secret_expires_at: r.previous_secret_expires_at,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// An endpoint with its signing secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct WebhookEndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: verify each delivery's `webhook-signature` with it (Standard Webhooks).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwJG4H5ZMx0Aw=")]
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpointBody {
    /// An `http` or `https` address on the public internet (unless the deployment allows its
    /// own networks), without a user name, password or fragment.
    #[schema(
        example = "https://finance.example.org/waymark-hooks",
        max_length = 2000
    )]
    pub url: String,
    /// The event types to deliver (as the change feed names them); left out or empty, every
    /// type you may receive: all of them for a federation administrator, the directory's,
    /// payment runs' and remittances' for a `webhooks:write` integration.
    #[serde(default)]
    pub event_types: Vec<String>,
    #[schema(format = "line-or-blank", max_length = 200)]
    pub description: Option<String>,
}

/// Fields to change; absent fields stay as they are and `null` clears the description.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointChangesBody {
    #[schema(max_length = 2000)]
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "line-or-blank", value_type = Option<String>, max_length = 200)]
    pub description: Option<Option<String>>,
    /// `false` stops deliveries (pending ones are given up); `true` resumes them from the
    /// events that happen next.
    pub enabled: Option<bool>,
}

/// One attempt at delivering an event to the endpoint.
#[derive(Serialize, ToSchema)]
pub struct WebhookAttempt {
    pub id: Uuid,
    /// The delivery's `webhook-id`: the event's id, the same on every attempt.
    pub event_id: Uuid,
    pub event_type: String,
    /// 1 for the first attempt at this event.
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    /// The receiver's status, when it answered.
    pub response_status: Option<i32>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// `delivered`, `failed` (tried again at `next_attempt_at`, or given up when that is null)
    /// or `gone` (the endpoint answered 410 and was disabled).
    pub outcome: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl From<AttemptRecord> for WebhookAttempt {
    fn from(r: AttemptRecord) -> Self {
        Self {
            id: r.id,
            event_id: r.event_id,
            event_type: r.event_type,
            attempt: r.attempt,
            attempted_at: r.attempted_at,
            duration_ms: r.duration_ms,
            response_status: r.response_status,
            error: r.error,
            outcome: r.outcome,
            next_attempt_at: r.next_attempt_at,
        }
    }
}

/// The body of a delivery: `{"type", "timestamp", "data"}` as the Standard Webhooks
/// specification suggests, `data` being the event as the change feed shows it.
pub fn render_payload(event: &EventRow) -> String {
    serde_json::json!({
        "type": event.event_type,
        "timestamp": event.occurred_at,
        "data": super::events::Event::from(event.clone()),
    })
    .to_string()
}

/// The caller's federation and the audience whose events its endpoints may receive.
fn manager(caller: &Caller) -> Result<(FederationId, Audience), ApiError> {
    let federation = caller.federation()?;
    caller.require(
        caller.can_manage_webhooks(),
        "webhooks are managed by federation administrators and webhooks:write service accounts",
    )?;
    let audience = if caller.is_federation_admin() {
        Audience::Federation
    } else {
        Audience::Integration
    };
    Ok((federation, audience))
}

fn new_secret() -> WebhookSecret {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    WebhookSecret::from_random(bytes)
}

/// Checks an endpoint's address: its form, then that it may be delivered to.
async fn destination(state: &AppState, raw: &str) -> Result<WebhookUrl, ApiError> {
    let url = WebhookUrl::parse(raw)
        .map_err(|message| ValidationErrors::single("url", "invalid_format", message))?;
    check_destination(&url, &state.webhook_networks)
        .await
        .map_err(|detail| ApiError::Unprocessable {
            code: "webhook_url_not_allowed",
            detail,
        })?;
    Ok(url)
}

fn description(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(None),
        Some(text) => bounded_text(text, 200).map(Some).map_err(|mut e| {
            e.field = "description".into();
            ApiError::Validation(ValidationErrors(vec![e]))
        }),
    }
}

fn event_types(audience: Audience, asked: &[String]) -> Result<Vec<String>, ApiError> {
    event_types_for(audience, asked).map_err(|message| {
        ValidationErrors::single("event_types", "not_receivable", message).into()
    })
}

fn respond(builder: HttpResponseBuilder, record: EndpointRecord) -> HttpResponse {
    with_etag(builder, record.version).json(WebhookEndpoint::from(record))
}

/// Registers an endpoint and returns its signing secret, shown this once. It receives the
/// events that take their place in the feed from now on, each as a `POST` of
/// `{"type", "timestamp", "data"}` (`data`: the event as `GET /v1/events` shows it) with the
/// Standard Webhooks headers `webhook-id` (the event's id, the same on every attempt),
/// `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256
/// of `id.timestamp.body` under the key after `whsec_`; two, space-separated, during a
/// rotation). A 2xx answer delivers it; 410 disables the endpoint; anything else is tried again
/// with exponential backoff for up to three days. Only `http`/`https` addresses on the public
/// internet are accepted (`422 webhook_url_not_allowed` otherwise), unless the deployment
/// allows a network.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    request_body = NewWebhookEndpointBody,
    responses((status = 201, description = "Registered; keep the secret", body = WebhookEndpointWithSecret, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<NewWebhookEndpointBody>,
) -> Result<HttpResponse, ApiError> {
    let (federation, audience) = manager(&caller)?;
    let body = body.0;
    let description = description(body.description.as_deref())?;
    let types = event_types(audience, &body.event_types)?;
    let url = destination(&state, &body.url).await?;
    let secret = new_secret();
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let record = webhooks::create(
        &mut tx,
        federation,
        webhooks::NewEndpoint {
            id: Uuid::now_v7(),
            url: url.as_str(),
            description: description.as_deref(),
            event_types: &types,
            secret: secret.as_str(),
            created_by: caller.subject,
        },
    )
    .await?;
    commit(tx).await?;
    Ok(with_etag(HttpResponse::Created(), record.version)
        .insert_header((header::LOCATION, location("webhooks", record.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(WebhookEndpointWithSecret {
            secret: secret.as_str().to_owned(),
            endpoint: record.into(),
        }))
}

/// The federation's endpoints.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "A page of endpoints", body = Page<WebhookEndpoint>))
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (federation, _) = manager(&caller)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let rows = webhooks::list(&mut tx, federation, page.after, page.probe()).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, WebhookEndpoint::from)))
}

/// One endpoint, with its `ETag`.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = Uuid, Path, description = "The endpoint")),
    responses((status = 200, description = "The endpoint", body = WebhookEndpoint, headers(("ETag" = String))))
)]
#[get("/webhooks/{webhook_id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (federation, _) = manager(&caller)?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let record = webhooks::find(&mut tx, federation, path.into_inner()).await?;
    end_read(tx);
    Ok(respond(HttpResponse::Ok(), record))
}

/// Changes an endpoint's address, event types or description, or disables or re-enables it.
/// Needs `If-Match`.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = Uuid, Path, description = "The endpoint"), IfMatchHeader),
    request_body = WebhookEndpointChangesBody,
    responses((status = 200, description = "Changed", body = WebhookEndpoint, headers(("ETag" = String))))
)]
#[patch("/webhooks/{webhook_id}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<WebhookEndpointChangesBody>,
) -> Result<HttpResponse, ApiError> {
    let (federation, audience) = manager(&caller)?;
    let version = if_match.version()?;
    let changes = body.0;
    let types = changes
        .event_types
        .as_deref()
        .map(|asked| event_types(audience, asked))
        .transpose()?;
    let url = match changes.url.as_deref() {
        Some(raw) => Some(destination(&state, raw).await?),
        None => None,
    };
    let new_description = changes
        .description
        .map(|d| description(d.as_deref()))
        .transpose()?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let current = webhooks::lock(&mut tx, federation, path.into_inner()).await?;
    let mut url_text = current.url.clone();
    apply_change(&mut url_text, url.map(|u| u.as_str().to_owned()));
    let mut description_text = current.description.clone();
    apply_change(&mut description_text, new_description);
    let mut types_now = current.event_types.clone();
    apply_change(&mut types_now, types);
    let mut enabled = current.enabled;
    apply_change(&mut enabled, changes.enabled);
    let record = webhooks::update(
        &mut tx,
        federation,
        &current,
        version,
        EndpointUpdate {
            url: &url_text,
            description: description_text.as_deref(),
            event_types: &types_now,
            enabled,
        },
    )
    .await?;
    commit(tx).await?;
    Ok(respond(HttpResponse::Ok(), record))
}

/// Removes an endpoint, with its deliveries and their attempts.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = Uuid, Path, description = "The endpoint")),
    responses((status = 204, description = "Removed"))
)]
#[delete("/webhooks/{webhook_id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (federation, _) = manager(&caller)?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    webhooks::delete(&mut tx, federation, path.into_inner()).await?;
    commit(tx).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Gives the endpoint a new signing secret, shown this once. During the grace period every
/// delivery carries a signature by each secret (`webhook-signature: v1,<new> v1,<old>`), so the
/// receiver can switch without missing one.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = Uuid, Path, description = "The endpoint")),
    request_body(content = Option<SecretRotationBody>, description = "Optional; an empty body takes the default grace period"),
    responses((status = 200, description = "Rotated; keep the new secret", body = WebhookEndpointWithSecret, headers(("ETag" = String))))
)]
#[post("/webhooks/{webhook_id}/secret-rotations")]
pub async fn rotate_webhook_secret(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    body: OptionalJsonBody<SecretRotationBody>,
) -> Result<HttpResponse, ApiError> {
    let (federation, _) = manager(&caller)?;
    let previous_expires_at = body.0.previous_secret_expires_at(Utc::now())?;
    let secret = new_secret();
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let record = webhooks::rotate_secret(
        &mut tx,
        federation,
        path.into_inner(),
        secret.as_str(),
        previous_expires_at,
    )
    .await?;
    commit(tx).await?;
    Ok(with_etag(HttpResponse::Ok(), record.version)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(WebhookEndpointWithSecret {
            secret: secret.as_str().to_owned(),
            endpoint: record.into(),
        }))
}

/// The attempts at delivering to the endpoint, newest first.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("webhook_id" = Uuid, Path, description = "The endpoint"), ListQuery),
    responses((status = 200, description = "A page of attempts", body = Page<WebhookAttempt>))
)]
#[get("/webhooks/{webhook_id}/attempts")]
pub async fn list_webhook_attempts(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (federation, _) = manager(&caller)?;
    let endpoint = path.into_inner();
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    webhooks::find(&mut tx, federation, endpoint).await?;
    let rows = webhooks::attempts(&mut tx, federation, endpoint, page.after, page.probe()).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, WebhookAttempt::from)))
}
