//! Service accounts: integration clients of a federation, managed by federation admins. A
//! secret is shown once, when it is made (at creation or rotation), and stored hashed; a
//! rotation keeps the old secret working for a grace period; a revocation is for good and
//! stops the account's tokens at once.

use super::location;
use crate::auth::password::{hash_client_secret, new_client_secret};
use crate::auth::Caller;
use crate::concurrency::{with_etag, IfMatch, IfMatchHeader};
use crate::json_body::{JsonBody, OptionalJsonBody};
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::routes::federations::ListQuery;
use crate::secret_rotation::SecretRotationBody;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse, HttpResponseBuilder};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::validation::bounded_text;
use waymark_domain::{FederationId, ServiceAccountId, ServiceScope, ValidationErrors};
use waymark_persistence::service_accounts::{self, ServiceAccountRecord};
use waymark_persistence::{commit, end_read, TenantScope};

#[derive(Serialize, ToSchema)]
pub struct ServiceAccount {
    /// Also the `client_id` to sign in with.
    pub id: Uuid,
    pub federation_id: Uuid,
    #[schema(example = "directory-sync")]
    pub name: String,
    #[schema(schema_with = crate::schemas::scopes)]
    pub scopes: Vec<ServiceScope>,
    /// An inactive account cannot sign in, and the tokens it held stop working.
    pub active: bool,
    /// When the account was revoked; a revoked account stays inactive for good.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When its secret was last rotated.
    pub secret_rotated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ServiceAccountRecord> for ServiceAccount {
    fn from(r: ServiceAccountRecord) -> Self {
        Self {
            id: r.id,
            federation_id: r.federation_id,
            name: r.name,
            scopes: r.scopes,
            active: r.active,
            revoked_at: r.revoked_at,
            secret_rotated_at: r.secret_rotated_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new account and its secret. The secret is shown this once and cannot be read again.
#[derive(Serialize, ToSchema)]
pub struct CreatedServiceAccount {
    #[serde(flatten)]
    pub account: ServiceAccount,
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServiceAccountBody {
    /// Unique within the federation.
    #[schema(format = "line", example = "directory-sync", max_length = 100)]
    pub name: String,
    #[schema(schema_with = crate::schemas::granted_scopes)]
    pub scopes: Vec<ServiceScope>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountChangesBody {
    /// An inactive account cannot sign in, and the tokens it already holds stop working at
    /// once. A revoked account cannot be made active again.
    pub active: bool,
}

/// The new secret, shown this once, and until when the previous one still works.
#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    #[serde(flatten)]
    pub account: ServiceAccount,
    pub client_id: String,
    pub client_secret: String,
    /// When the previous secret stops signing in (absent when it stopped at once).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

fn revoked(record: &ServiceAccountRecord) -> ApiError {
    ApiError::Conflict {
        code: "service_account_revoked",
        detail: format!(
            "the service account was revoked at {}; make a new one",
            record
                .revoked_at
                .map(|at| at.to_rfc3339())
                .unwrap_or_default()
        ),
    }
}

/// The federation whose accounts the caller administers; anyone else finds no account by id.
fn administered(caller: &Caller) -> Result<FederationId, ApiError> {
    match caller.federation_id {
        Some(federation) if caller.is_federation_admin() => Ok(federation),
        _ => Err(ApiError::NotFound),
    }
}

fn respond(builder: HttpResponseBuilder, record: ServiceAccountRecord) -> HttpResponse {
    with_etag(builder, record.version).json(ServiceAccount::from(record))
}

/// Creates a service account and returns its client secret, once (federation administrators).
#[utoipa::path(
    tag = "service-accounts",
    security(("bearer" = [])),
    request_body = NewServiceAccountBody,
    responses((status = 201, description = "Created; keep the secret", body = CreatedServiceAccount, headers(("Location" = String))))
)]
#[post("/service-accounts")]
pub async fn create_service_account(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<NewServiceAccountBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = caller.federation()?;
    caller.require(
        caller.is_federation_admin(),
        "only federation administrators manage service accounts",
    )?;
    let mut errors = ValidationErrors::new();
    let name = errors.check("name", bounded_text(&body.0.name, 100));
    if body.0.scopes.is_empty() {
        errors.add("scopes", "required", "grant at least one scope");
    }
    let name = errors.finish(|| name.expect("checked"))?;
    let mut scopes = body.0.scopes;
    scopes.sort();
    scopes.dedup();
    let secret = new_client_secret();
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let record = service_accounts::create(
        &mut tx,
        federation,
        ServiceAccountId::new(),
        &name,
        &scopes,
        &hash_client_secret(&secret),
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location("service-accounts", record.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedServiceAccount {
            client_id: record.id.to_string(),
            client_secret: secret,
            account: record.into(),
        }))
}

/// Lists the federation's service accounts (federation administrators).
#[utoipa::path(
    tag = "service-accounts",
    security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "A page of service accounts", body = Page<ServiceAccount>))
)]
#[get("/service-accounts")]
pub async fn list_service_accounts(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = caller.federation()?;
    caller.require(
        caller.is_federation_admin(),
        "only federation administrators manage service accounts",
    )?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let rows = service_accounts::list(&mut tx, federation, page.after, page.probe()).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, ServiceAccount::from)))
}

/// One service account, with its `ETag` (federation administrators).
#[utoipa::path(
    tag = "service-accounts",
    security(("bearer" = [])),
    params(("service_account_id" = Uuid, Path, description = "The account's id")),
    responses((status = 200, description = "The account", body = ServiceAccount, headers(("ETag" = String))))
)]
#[get("/service-accounts/{service_account_id}")]
pub async fn get_service_account(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let federation = administered(&caller)?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let record = service_accounts::find(
        &mut tx,
        federation,
        ServiceAccountId::from(path.into_inner()),
    )
    .await?;
    end_read(tx);
    Ok(respond(HttpResponse::Ok(), record))
}

/// Deactivates or reactivates a service account (federation administrators). Needs `If-Match`.
#[utoipa::path(
    tag = "service-accounts",
    security(("bearer" = [])),
    params(
        ("service_account_id" = Uuid, Path, description = "The account's id"),
        IfMatchHeader,
    ),
    request_body = ServiceAccountChangesBody,
    responses((status = 200, description = "Updated", body = ServiceAccount, headers(("ETag" = String))))
)]
#[patch("/service-accounts/{service_account_id}")]
pub async fn update_service_account(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<ServiceAccountChangesBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = administered(&caller)?;
    let version = if_match.version()?;
    let id = ServiceAccountId::from(path.into_inner());
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let current = service_accounts::lock(&mut tx, federation, id).await?;
    if current.revoked_at.is_some() {
        return Err(revoked(&current));
    }
    let record =
        service_accounts::set_active(&mut tx, federation, id, version, body.0.active).await?;
    commit(tx).await?;
    Ok(respond(HttpResponse::Ok(), record))
}

/// Gives the account a new secret, shown this once; the previous one keeps working for the
/// grace period (federation administrators).
#[utoipa::path(
    tag = "service-accounts",
    security(("bearer" = [])),
    params(("service_account_id" = Uuid, Path, description = "The account's id")),
    request_body(content = Option<SecretRotationBody>, description = "Optional; an empty body takes the default grace period"),
    responses((status = 200, description = "Rotated; keep the new secret", body = RotatedSecret, headers(("ETag" = String))))
)]
#[post("/service-accounts/{service_account_id}/secret-rotations")]
pub async fn rotate_service_account_secret(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    body: OptionalJsonBody<SecretRotationBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = administered(&caller)?;
    let previous_expires_at = body.0.previous_secret_expires_at(Utc::now())?;
    let id = ServiceAccountId::from(path.into_inner());
    let secret = new_client_secret();
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let current = service_accounts::lock(&mut tx, federation, id).await?;
    if current.revoked_at.is_some() {
        return Err(revoked(&current));
    }
    let record = service_accounts::rotate_secret(
        &mut tx,
        federation,
        id,
        &hash_client_secret(&secret),
        previous_expires_at,
    )
    .await?;
    commit(tx).await?;
    let version = record.version;
    Ok(with_etag(HttpResponse::Ok(), version)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RotatedSecret {
            client_id: record.id.to_string(),
            client_secret: secret,
            previous_secret_expires_at: previous_expires_at,
            account: record.into(),
        }))
}

/// Revokes the account for good: it can no longer sign in with either secret, and every token
/// it holds stops working at once. Revoking it again changes nothing (federation
/// administrators).
#[utoipa::path(
    tag = "service-accounts",
    security(("bearer" = [])),
    params(("service_account_id" = Uuid, Path, description = "The account's id")),
    responses((status = 200, description = "Revoked", body = ServiceAccount, headers(("ETag" = String))))
)]
#[post("/service-accounts/{service_account_id}/revocation")]
pub async fn revoke_service_account(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let federation = administered(&caller)?;
    let id = ServiceAccountId::from(path.into_inner());
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    service_accounts::lock(&mut tx, federation, id).await?;
    let record = service_accounts::revoke(&mut tx, federation, id).await?;
    commit(tx).await?;
    Ok(respond(HttpResponse::Ok(), record))
}
