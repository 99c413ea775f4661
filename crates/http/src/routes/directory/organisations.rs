//! Provider organisations of the directory.

use super::{readable_directory, require_writer};
use crate::auth::Caller;
use crate::concurrency::{with_etag, IfMatch, IfMatchHeader};
use crate::json_body::{absent_or_nullable, apply_change, JsonBody};
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::routes::federations::ListQuery;
use crate::routes::location;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpResponse, HttpResponseBuilder};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use waymark_domain::directory::organisation::{OrganisationDetails, OrganisationInput};
use waymark_domain::OrganisationId;
use waymark_persistence::directory::organisations::{self, OrganisationRecord};
use waymark_persistence::{commit, end_read, TenantScope};

#[derive(Serialize, ToSchema)]
pub struct Organisation {
    pub id: Uuid,
    pub federation_id: Uuid,
    /// The id in the system this organisation was imported from, if any.
    pub external_id: Option<String>,
    #[schema(example = "Charnwood Community Walks")]
    pub name: String,
    #[schema(example = "1123456")]
    pub charity_number: Option<String>,
    pub company_number: Option<String>,
    pub website: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub contact_name: Option<String>,
    /// Shown to federation admins, directory writers and the organisation's own users only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payee_reference: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Organisation {
    pub(crate) fn for_caller(caller: &Caller, r: OrganisationRecord) -> Self {
        let payee_visible = caller.can_see_payee_reference_of(OrganisationId::from(r.id));
        Self {
            id: r.id,
            federation_id: r.federation_id,
            external_id: r.external_id,
            name: r.name,
            charity_number: r.charity_number,
            company_number: r.company_number,
            website: r.website,
            email: r.email,
            phone: r.phone,
            contact_name: r.contact_name,
            payee_reference: r.payee_reference.filter(|_| payee_visible),
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisationBody {
    #[schema(format = "line-or-blank", max_length = 200)]
    pub external_id: Option<String>,
    #[schema(
        format = "line",
        example = "Charnwood Community Walks",
        max_length = 200
    )]
    pub name: String,
    /// England and Wales (6–8 digits), Scotland (SC…) or Northern Ireland (NIC…).
    #[schema(format = "charity-number", example = "1123456")]
    pub charity_number: Option<String>,
    /// Companies House number.
    #[schema(format = "company-number")]
    pub company_number: Option<String>,
    #[schema(
        format = "web-address",
        example = "https://walks.example.org",
        max_length = 500
    )]
    pub website: Option<String>,
    #[schema(format = Email)]
    pub email: Option<String>,
    #[schema(format = "phone", example = "01509 123456", max_length = 30)]
    pub phone: Option<String>,
    #[schema(format = "line-or-blank", max_length = 200)]
    pub contact_name: Option<String>,
    /// How the finance team identifies the organisation for payments.
    #[schema(format = "line-or-blank", max_length = 100)]
    pub payee_reference: Option<String>,
    /// Defaults to true.
    pub active: Option<bool>,
}

impl From<NewOrganisationBody> for OrganisationInput {
    fn from(b: NewOrganisationBody) -> Self {
        OrganisationInput {
            external_id: b.external_id,
            name: b.name,
            charity_number: b.charity_number,
            company_number: b.company_number,
            website: b.website,
            email: b.email,
            phone: b.phone,
            contact_name: b.contact_name,
            payee_reference: b.payee_reference,
            active: b.active.unwrap_or(true),
        }
    }
}

/// Fields to change; absent fields stay as they are and `null` clears an optional field.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationChangesBody {
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "line-or-blank", value_type = Option<String>, max_length = 200)]
    pub external_id: Option<Option<String>>,
    #[schema(format = "line", max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "charity-number", value_type = Option<String>)]
    pub charity_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "company-number", value_type = Option<String>)]
    pub company_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "web-address", value_type = Option<String>, max_length = 500)]
    pub website: Option<Option<String>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(value_type = Option<String>, format = Email)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "phone", value_type = Option<String>, max_length = 30)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "line-or-blank", value_type = Option<String>, max_length = 200)]
    pub contact_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "line-or-blank", value_type = Option<String>, max_length = 100)]
    pub payee_reference: Option<Option<String>>,
    pub active: Option<bool>,
}

impl OrganisationChangesBody {
    fn apply(self, mut input: OrganisationInput) -> OrganisationInput {
        apply_change(&mut input.external_id, self.external_id);
        apply_change(&mut input.name, self.name);
        apply_change(&mut input.charity_number, self.charity_number);
        apply_change(&mut input.company_number, self.company_number);
        apply_change(&mut input.website, self.website);
        apply_change(&mut input.email, self.email);
        apply_change(&mut input.phone, self.phone);
        apply_change(&mut input.contact_name, self.contact_name);
        apply_change(&mut input.payee_reference, self.payee_reference);
        apply_change(&mut input.active, self.active);
        input
    }
}

fn respond(
    builder: HttpResponseBuilder,
    caller: &Caller,
    record: OrganisationRecord,
) -> HttpResponse {
    with_etag(builder, record.version).json(Organisation::for_caller(caller, record))
}

/// Adds a provider organisation to the federation's directory.
#[utoipa::path(
    tag = "directory",
    security(("bearer" = [])),
    request_body = NewOrganisationBody,
    responses((status = 201, description = "Created", body = Organisation, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/directory/organisations")]
pub async fn create_organisation(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<NewOrganisationBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = require_writer(&caller)?;
    let details = OrganisationDetails::parse(body.0.into())?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let record =
        organisations::create(&mut tx, federation, OrganisationId::new(), &details).await?;
    commit(tx).await?;
    let mut created = HttpResponse::Created();
    created.insert_header((
        header::LOCATION,
        location("directory/organisations", record.id),
    ));
    Ok(respond(created, &caller, record))
}

/// Lists the directory's organisations, in the order they were added.
#[utoipa::path(
    tag = "directory",
    security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, description = "A page of organisations", body = Page<Organisation>))
)]
#[get("/directory/organisations")]
pub async fn list_organisations(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = readable_directory(&caller)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let rows = organisations::list(&mut tx, federation, page.after, page.probe()).await?;
    end_read(tx);
    Ok(
        HttpResponse::Ok().json(page.page(
            rows,
            |r| r.id,
            |r| Organisation::for_caller(&caller, r),
        )),
    )
}

/// One organisation, with its `ETag`.
#[utoipa::path(
    tag = "directory",
    security(("bearer" = [])),
    params(("organisation_id" = Uuid, Path, description = "The organisation's id")),
    responses((status = 200, description = "The organisation", body = Organisation, headers(("ETag" = String))))
)]
#[get("/directory/organisations/{organisation_id}")]
pub async fn get_organisation(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let federation = caller.federation().map_err(|_| ApiError::NotFound)?;
    readable_directory(&caller)?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let record =
        organisations::find(&mut tx, federation, OrganisationId::from(path.into_inner())).await?;
    end_read(tx);
    Ok(respond(HttpResponse::Ok(), &caller, record))
}

/// Changes an organisation. Needs `If-Match`.
#[utoipa::path(
    tag = "directory",
    security(("bearer" = [])),
    params(
        ("organisation_id" = Uuid, Path, description = "The organisation's id"),
        IfMatchHeader,
    ),
    request_body = OrganisationChangesBody,
    responses((status = 200, description = "Updated", body = Organisation, headers(("ETag" = String))))
)]
#[patch("/directory/organisations/{organisation_id}")]
pub async fn update_organisation(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<OrganisationChangesBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = require_writer(&caller)?;
    let id = OrganisationId::from(path.into_inner());
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let current = organisations::find(&mut tx, federation, id).await?;
    let version = if_match.version()?;
    let details = OrganisationDetails::parse(body.0.apply(current.to_input()))?;
    let record = organisations::update(&mut tx, federation, id, version, &details).await?;
    commit(tx).await?;
    Ok(respond(HttpResponse::Ok(), &caller, record))
}
