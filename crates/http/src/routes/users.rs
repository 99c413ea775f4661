//! Users and their roles: federation admins manage everyone in the federation, practice admins
//! the staff of their own practice.

use super::location;
use crate::auth::password::hash_password_off_thread;
use crate::auth::Caller;
use crate::concurrency::{with_etag, IfMatch, IfMatchHeader};
use crate::json_body::JsonBody;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse, HttpResponseBuilder};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::user::{NewUser, RoleAssignment, DISPLAY_NAME_MAX};
use waymark_domain::validation::bounded_text;
use waymark_domain::{OrganisationId, PracticeId, Role, UserId, ValidationErrors};
use waymark_persistence::users::{self, UserChanges, UserRecord, UserToCreate};
use waymark_persistence::{commit, end_read, practices, TenantScope, Tx};

#[derive(Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub federation_id: Option<Uuid>,
    /// The practice a practice-role user works at.
    pub practice_id: Option<Uuid>,
    /// The provider organisation a provider user works for.
    pub organisation_id: Option<Uuid>,
    #[schema(example = "clinician@rosebery.example")]
    pub email: String,
    #[schema(example = "Dr Priya Shah")]
    pub display_name: String,
    #[schema(schema_with = crate::schemas::roles)]
    pub roles: Vec<Role>,
    /// Inactive users cannot sign in.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRecord> for User {
    fn from(r: UserRecord) -> Self {
        Self {
            id: r.id,
            federation_id: r.federation_id,
            practice_id: r.practice_id,
            organisation_id: r.organisation_id,
            email: r.email,
            display_name: r.display_name,
            roles: r.roles,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A user to create. Roles must all be of one level: federation roles (federation_admin,
/// commissioner), practice roles (practice_admin, clinician, volunteer: need `practice_id`), or
/// provider (needs `organisation_id`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    #[schema(example = "clinician@rosebery.example", format = Email)]
    pub email: String,
    #[schema(format = "line", example = "Dr Priya Shah", max_length = 200)]
    pub display_name: String,
    /// 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
    #[schema(schema_with = crate::schemas::assignable_roles)]
    pub roles: Vec<Role>,
    pub practice_id: Option<Uuid>,
    pub organisation_id: Option<Uuid>,
}

/// Fields to change; absent fields stay as they are. `roles` replaces the user's roles, and then
/// `practice_id` and `organisation_id` are read with them (absent means none).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChangesBody {
    #[schema(format = "line", max_length = 200)]
    pub display_name: Option<String>,
    pub active: Option<bool>,
    #[schema(schema_with = crate::schemas::optional_assignable_roles)]
    pub roles: Option<Vec<Role>>,
    pub practice_id: Option<Uuid>,
    pub organisation_id: Option<Uuid>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Only users of this practice.
    pub practice_id: Option<Uuid>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

fn respond(builder: HttpResponseBuilder, record: UserRecord) -> HttpResponse {
    with_etag(builder, record.version).json(User::from(record))
}

/// 403 unless the caller may hand out every one of `roles`.
fn check_grantable(caller: &Caller, roles: &[Role]) -> Result<(), ApiError> {
    match roles.iter().find(|role| !caller.may_grant(**role)) {
        Some(_) => Err(ApiError::Forbidden("you may not grant one of these roles")),
        None => Ok(()),
    }
}

/// Creates a user in the caller's federation. Practice admins create staff of their own practice.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = NewUserBody,
    responses((status = 201, description = "Created", body = User, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<NewUserBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = caller.federation()?;
    let body = body.0;
    let practice = body.practice_id.map(PracticeId::from);
    caller.require(
        caller.can_manage_users_of(practice),
        "you may not create users there",
    )?;
    check_grantable(&caller, &body.roles)?;
    let new = NewUser::parse(
        &body.email,
        &body.display_name,
        &body.password,
        &body.roles,
        practice,
        body.organisation_id.map(OrganisationId::from),
    )?;
    let hash = hash_password_off_thread(&new.password).await?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let record = users::create(
        &mut tx,
        UserToCreate {
            id: UserId::new(),
            federation: Some(federation),
            email: &new.email,
            display_name: &new.display_name,
            roles: &new.assignment.roles,
            practice_id: new.assignment.practice_id,
            organisation_id: new.assignment.organisation_id.map(|o| o.as_uuid()),
            password_hash: &hash,
        },
    )
    .await?;
    commit(tx).await?;
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, location("users", record.id)));
    Ok(respond(created, record))
}

/// Lists users: all of the federation for federation admins (optionally one practice's), the
/// practice's own staff for practice admins.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(UserListQuery),
    responses(
        (status = 200, description = "A page of users", body = Page<User>),
        (status = 404, description = "practice_id names no practice you manage", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<UserListQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = caller.federation()?;
    let requested = query.practice_id.map(PracticeId::from);
    let practice = caller.user_listing_scope().or(requested);
    caller.require(
        caller.is_federation_admin() || caller.can_manage_users_of(practice),
        "only federation and practice administrators list users",
    )?;
    if requested.is_some() && requested != practice {
        return Err(ApiError::NotFound);
    }
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    if let Some(practice) = practice {
        practices::find(&mut tx, federation, practice).await?;
    }
    let rows = users::list(&mut tx, federation, practice, page.after, page.probe()).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, User::from)))
}

/// Loads a user the caller manages; any other user, in or out of the federation, is not found.
async fn find_managed(tx: &mut Tx, caller: &Caller, id: UserId) -> Result<UserRecord, ApiError> {
    let federation = caller.federation_id.ok_or(ApiError::NotFound)?;
    let record = users::find(tx, federation, id).await?;
    if !caller.can_manage_users_of(record.practice_id.map(PracticeId::from)) {
        return Err(ApiError::NotFound);
    }
    Ok(record)
}

/// One user, with its `ETag`.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("user_id" = Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The user", body = User, headers(("ETag" = String))))
)]
#[get("/users/{user_id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let record = find_managed(&mut tx, &caller, UserId::from(path.into_inner())).await?;
    end_read(tx);
    Ok(respond(HttpResponse::Ok(), record))
}

/// Changes a user's name, active flag or roles. Needs `If-Match`.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(
        ("user_id" = Uuid, Path, description = "The user's id"),
        IfMatchHeader,
    ),
    request_body = UserChangesBody,
    responses(
        (status = 200, description = "Updated", body = User, headers(("ETag" = String))),
        (status = 409, description = "You cannot deactivate yourself or change your own roles (`own_account`)"),
    )
)]
#[patch("/users/{user_id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<UserChangesBody>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::from(path.into_inner());
    let body = body.0;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let current = find_managed(&mut tx, &caller, id).await?;
    let version = if_match.version()?;
    if current.roles.contains(&Role::PlatformAdmin) {
        return Err(ApiError::NotFound);
    }
    let mut errors = ValidationErrors::new();
    let display_name = body
        .display_name
        .as_deref()
        .and_then(|name| errors.check("display_name", bounded_text(name, DISPLAY_NAME_MAX)));
    let assignment = match &body.roles {
        Some(roles) => {
            let practice = body.practice_id.map(PracticeId::from);
            caller.require(
                caller.can_manage_users_of(practice),
                "you may not move users there",
            )?;
            check_grantable(&caller, roles)?;
            match RoleAssignment::parse(
                roles,
                practice,
                body.organisation_id.map(OrganisationId::from),
            ) {
                Ok(assignment) => Some(assignment),
                Err(role_errors) => {
                    errors.0.extend(role_errors.0);
                    None
                }
            }
        }
        None if body.practice_id.is_some() || body.organisation_id.is_some() => {
            errors.add(
                "roles",
                "required",
                "send roles together with practice_id or organisation_id",
            );
            None
        }
        None => None,
    };
    if !errors.is_empty() {
        return Err(errors.into());
    }
    if id.as_uuid() == caller.subject && (body.active == Some(false) || assignment.is_some()) {
        return Err(ApiError::Conflict {
            code: "own_account",
            detail: "you cannot deactivate yourself or change your own roles".into(),
        });
    }
    let changes = UserChanges {
        display_name: display_name.as_deref(),
        active: body.active,
        assignment: assignment.as_ref(),
    };
    let record = users::update(
        &mut tx,
        current
            .federation_id
            .map(Into::into)
            .ok_or(ApiError::NotFound)?,
        id,
        version,
        changes,
    )
    .await?;
    commit(tx).await?;
    Ok(respond(HttpResponse::Ok(), record))
}
