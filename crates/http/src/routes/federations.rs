//! Federations: platform administrators create them and their first administrators.

use super::location;
use crate::auth::password::hash_password_off_thread;
use crate::auth::Caller;
use crate::json_body::JsonBody;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::routes::users::User;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::federation::NewFederation;
use waymark_domain::user::NewUser;
use waymark_domain::{FederationId, Role, UserId};
use waymark_persistence::federations::{self, FederationRecord};
use waymark_persistence::users::{self, UserToCreate};
use waymark_persistence::{commit, end_read, TenantScope};

#[derive(Serialize, ToSchema)]
pub struct Federation {
    pub id: Uuid,
    #[schema(example = "north-charnwood")]
    pub slug: String,
    #[schema(example = "North Charnwood Federation")]
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<FederationRecord> for Federation {
    fn from(r: FederationRecord) -> Self {
        Self {
            id: r.id,
            slug: r.slug,
            name: r.name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFederationBody {
    /// Lower-case letters, digits and hyphens; unique on the platform.
    #[schema(
        example = "north-charnwood",
        pattern = "^[a-z][a-z0-9]*(-[a-z0-9]+)*$",
        min_length = 3,
        max_length = 63
    )]
    pub slug: String,
    #[schema(
        format = "line",
        example = "North Charnwood Federation",
        max_length = 200
    )]
    pub name: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// Creates a federation (platform administrators only).
#[utoipa::path(
    tag = "federations",
    security(("bearer" = [])),
    request_body = NewFederationBody,
    responses(
        (status = 201, description = "Created", body = Federation, headers(("Location" = String))),
    )
)]
#[post("/federations")]
pub async fn create_federation(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<NewFederationBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(
        caller.is_platform_admin(),
        "only platform administrators create federations",
    )?;
    let new = NewFederation::parse(&body.0.slug, &body.0.name)?;
    let mut tx = state.begin(TenantScope::platform()).await?;
    let record = federations::create(&mut tx, FederationId::new(), &new).await?;
    commit(tx).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location("federations", record.id)))
        .json(Federation::from(record)))
}

/// Lists federations (platform administrators only).
#[utoipa::path(
    tag = "federations",
    security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "A page of federations", body = Page<Federation>))
)]
#[get("/federations")]
pub async fn list_federations(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(
        caller.is_platform_admin(),
        "only platform administrators list federations",
    )?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = state.begin_read(TenantScope::platform()).await?;
    let rows = federations::list(&mut tx, page.after, page.probe()).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, Federation::from)))
}

/// One federation: platform administrators see any, members see their own.
#[utoipa::path(
    tag = "federations",
    security(("bearer" = [])),
    params(("federation_id" = Uuid, Path, description = "The federation's id")),
    responses((status = 200, description = "The federation", body = Federation))
)]
#[get("/federations/{federation_id}")]
pub async fn get_federation(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = FederationId::from(path.into_inner());
    if !(caller.is_platform_admin() || caller.belongs_to(id)) {
        return Err(ApiError::NotFound);
    }
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let record = federations::find(&mut tx, id).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(Federation::from(record)))
}

/// Creates a federation administrator in a federation (platform administrators only): how a new
/// federation gets its first admin, who then manages everything inside it.
#[utoipa::path(
    tag = "federations",
    security(("bearer" = [])),
    params(("federation_id" = Uuid, Path, description = "The federation's id")),
    request_body = NewFederationAdminBody,
    responses(
        (status = 201, description = "Created", body = User, headers(("Location" = String))),
    )
)]
#[post("/federations/{federation_id}/admins")]
pub async fn create_federation_admin(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    body: JsonBody<NewFederationAdminBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(
        caller.is_platform_admin(),
        "only platform administrators appoint federation administrators",
    )?;
    let federation = FederationId::from(path.into_inner());
    let body = body.0;
    let new = NewUser::parse(
        &body.email,
        &body.display_name,
        &body.password,
        &[Role::FederationAdmin],
        None,
        None,
    )?;
    let hash = hash_password_off_thread(&new.password).await?;
    let mut tx = state.begin(TenantScope::platform_in(federation)).await?;
    federations::find(&mut tx, federation).await?;
    let record = users::create(
        &mut tx,
        UserToCreate {
            id: UserId::new(),
            federation: Some(federation),
            email: &new.email,
            display_name: &new.display_name,
            roles: &new.assignment.roles,
            practice_id: None,
            organisation_id: None,
            password_hash: &hash,
        },
    )
    .await?;
    commit(tx).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location("users", record.id)))
        .json(User::from(record)))
}

/// A federation administrator to appoint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFederationAdminBody {
    #[schema(example = "admin@north-charnwood.example", format = Email)]
    pub email: String,
    #[schema(format = "line", example = "Alex Admin", max_length = 200)]
    pub display_name: String,
    /// 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
}
