//! Practices of the caller's federation: federation admins manage them; staff read their own.

use super::location;
use crate::auth::Caller;
use crate::concurrency::{with_etag, IfMatch, IfMatchHeader};
use crate::json_body::JsonBody;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::routes::federations::ListQuery;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::practice::{NewPractice, PracticeChanges};
use waymark_domain::PracticeId;
use waymark_persistence::practices::{self, PracticeRecord};
use waymark_persistence::{commit, end_read, TenantScope};

#[derive(Serialize, ToSchema)]
pub struct Practice {
    pub id: Uuid,
    pub federation_id: Uuid,
    /// The practice's NHS ODS code.
    #[schema(example = "C82010")]
    pub ods_code: String,
    #[schema(example = "Rosebery Medical Centre")]
    pub name: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<PracticeRecord> for Practice {
    fn from(r: PracticeRecord) -> Self {
        Self {
            id: r.id,
            federation_id: r.federation_id,
            ods_code: r.ods_code,
            name: r.name,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPracticeBody {
    /// One letter then five digits; unique within the federation.
    #[schema(example = "C82010", pattern = "^[A-Za-z][0-9]{5}$")]
    pub ods_code: String,
    #[schema(format = "line", example = "Rosebery Medical Centre", max_length = 200)]
    pub name: String,
}

/// Fields to change; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PracticeChangesBody {
    #[schema(format = "line", max_length = 200)]
    pub name: Option<String>,
    /// An inactive practice stays on record but takes no new work.
    pub active: Option<bool>,
}

fn respond(builder: actix_web::HttpResponseBuilder, record: PracticeRecord) -> HttpResponse {
    with_etag(builder, record.version).json(Practice::from(record))
}

/// Registers a practice in the caller's federation (federation administrators).
#[utoipa::path(
    tag = "practices",
    security(("bearer" = [])),
    request_body = NewPracticeBody,
    responses((status = 201, description = "Created", body = Practice, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/practices")]
pub async fn create_practice(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<NewPracticeBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = caller.federation()?;
    caller.require(
        caller.is_federation_admin(),
        "only federation administrators register practices",
    )?;
    let new = NewPractice::parse(&body.0.ods_code, &body.0.name)?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let record = practices::create(&mut tx, federation, PracticeId::new(), &new).await?;
    commit(tx).await?;
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, location("practices", record.id)));
    Ok(respond(created, record))
}

/// Lists the federation's practices (federation administrators and commissioners).
#[utoipa::path(
    tag = "practices",
    security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "A page of practices", body = Page<Practice>))
)]
#[get("/practices")]
pub async fn list_practices(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = caller.federation()?;
    caller.require(
        caller.can_list_practices(),
        "practice staff read their own practice at /v1/practices/{id}",
    )?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let rows = practices::list(&mut tx, federation, page.after, page.probe()).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, Practice::from)))
}

/// One practice, with its `ETag`. Practice staff see only their own practice.
#[utoipa::path(
    tag = "practices",
    security(("bearer" = [])),
    params(("practice_id" = Uuid, Path, description = "The practice's id")),
    responses((status = 200, description = "The practice", body = Practice, headers(("ETag" = String))))
)]
#[get("/practices/{practice_id}")]
pub async fn get_practice(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let practice = PracticeId::from(path.into_inner());
    let federation = caller.federation_id.ok_or(ApiError::NotFound)?;
    if !caller.can_read_practice(practice) {
        return Err(ApiError::NotFound);
    }
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let record = practices::find(&mut tx, federation, practice).await?;
    end_read(tx);
    Ok(respond(HttpResponse::Ok(), record))
}

/// Renames, deactivates or reactivates a practice (federation administrators). Needs `If-Match`.
#[utoipa::path(
    tag = "practices",
    security(("bearer" = [])),
    params(
        ("practice_id" = Uuid, Path, description = "The practice's id"),
        IfMatchHeader,
    ),
    request_body = PracticeChangesBody,
    responses((status = 200, description = "Updated", body = Practice, headers(("ETag" = String))))
)]
#[patch("/practices/{practice_id}")]
pub async fn update_practice(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<PracticeChangesBody>,
) -> Result<HttpResponse, ApiError> {
    let practice = PracticeId::from(path.into_inner());
    let federation = caller.federation_id.ok_or(ApiError::NotFound)?;
    if !caller.can_read_practice(practice) {
        return Err(ApiError::NotFound);
    }
    caller.require(
        caller.is_federation_admin(),
        "only federation administrators change practices",
    )?;
    let changes = PracticeChanges::parse(body.0.name.as_deref(), body.0.active)?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let record =
        practices::update(&mut tx, federation, practice, if_match.version()?, &changes).await?;
    commit(tx).await?;
    Ok(respond(HttpResponse::Ok(), record))
}
