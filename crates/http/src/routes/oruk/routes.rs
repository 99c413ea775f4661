//! The Open Referral UK 3.0 read routes.

use super::federation_by_slug;
use super::model::{OrukPage, OrukService, OrukServiceSummary, OrukTaxonomy, OrukTaxonomyTerm};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::directory::need::TAXONOMY_ID;
use waymark_domain::directory::NeedCategory;
use waymark_domain::pagination::NumberedPage;
use waymark_domain::ServiceId;
use waymark_persistence::directory::services;
use waymark_persistence::{end_read, TenantScope};

#[derive(Serialize, ToSchema)]
pub struct OrukApiInfo {
    /// The HSDS version this API follows.
    pub version: &'static str,
    pub profile: &'static str,
    pub openapi_url: &'static str,
}

/// What this API is: the HSDS version and profile it follows.
#[utoipa::path(
    tag = "open-referral",
    params(("federation" = String, Path, description = "The federation's slug, e.g. north-charnwood")),
    responses((status = 200, description = "About this API", body = OrukApiInfo))
)]
#[get("/")]
pub async fn oruk_root(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    federation_by_slug(&state, &path).await?;
    Ok(HttpResponse::Ok().json(OrukApiInfo {
        version: "3.0",
        profile: "https://openreferraluk.org/",
        openapi_url: "/openapi.json",
    }))
}

/// Query parameters of the profile's service list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrukServiceQuery {
    /// Words to find in service names and descriptions.
    pub search: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Services per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<u32>,
    /// Only services classified with this taxonomy term (a need category's term id).
    pub taxonomy_term_id: Option<String>,
    /// Only services classified with a term of this taxonomy.
    pub taxonomy_id: Option<String>,
    /// Not supported: the directory records no age limits (400).
    pub minimum_age: Option<f64>,
    /// Not supported: the directory records no age limits (400).
    pub maximum_age: Option<f64>,
    /// Not supported: opening times are free text (400).
    pub start_time: Option<String>,
    /// Not supported: opening times are free text (400).
    pub end_time: Option<String>,
    /// Not supported: opening times are free text (400).
    pub day: Option<String>,
}

fn unsupported(filter: &str) -> ApiError {
    ApiError::bad_request(
        "unsupported_filter",
        format!("{filter} is not supported by this directory"),
    )
}

/// What a list query asks for, once parsed: `None` when its taxonomy filters can match nothing.
fn category_filter(query: &OrukServiceQuery) -> Option<Option<NeedCategory>> {
    if let Some(taxonomy) = query.taxonomy_id.as_deref().filter(|t| !t.is_empty()) {
        if taxonomy.parse::<Uuid>().ok() != Some(TAXONOMY_ID) {
            return None;
        }
    }
    match query.taxonomy_term_id.as_deref().filter(|t| !t.is_empty()) {
        None => Some(None),
        Some(term) => term
            .parse::<Uuid>()
            .ok()
            .and_then(NeedCategory::from_term_id)
            .map(Some),
    }
}

/// The federation's published services, a page at a time.
#[utoipa::path(
    tag = "open-referral",
    params(("federation" = String, Path, description = "The federation's slug"), OrukServiceQuery),
    responses(
        (status = 200, description = "A page of services", body = OrukPage<OrukServiceSummary>),
        (status = 404, description = "No such federation", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address; see Retry-After", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/services")]
pub async fn oruk_services(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<OrukServiceQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = federation_by_slug(&state, &path).await?;
    let unsupported_given = [
        ("minimum_age", query.minimum_age.is_some()),
        ("maximum_age", query.maximum_age.is_some()),
        ("start_time", query.start_time.is_some()),
        ("end_time", query.end_time.is_some()),
        ("day", query.day.is_some()),
    ];
    if let Some((filter, _)) = unsupported_given.iter().find(|(_, given)| *given) {
        return Err(unsupported(filter));
    }
    let page = NumberedPage::parse(query.page, query.per_page)
        .map_err(|detail| ApiError::bad_request("invalid_query_parameter", detail))?;
    let text = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let (rows, total) = match category_filter(&query) {
        None => (Vec::new(), 0),
        Some(category) => {
            let mut tx = state
                .begin_search(TenantScope::federation(federation))
                .await?;
            let filter = services::PublishedFilter {
                text,
                category,
                ..Default::default()
            };
            let found =
                services::published_page(&mut tx, federation, &filter, page.offset(), page.limit())
                    .await?;
            end_read(tx);
            found
        }
    };
    let contents: Vec<OrukServiceSummary> = rows.iter().map(OrukServiceSummary::from).collect();
    let summary = page.summary(u64::try_from(total).unwrap_or(0), contents.len() as u32);
    Ok(HttpResponse::Ok().json(OrukPage::new(summary, contents)))
}

/// One published service in full.
#[utoipa::path(
    tag = "open-referral",
    params(
        ("federation" = String, Path, description = "The federation's slug"),
        ("id" = Uuid, Path, description = "The service's id"),
    ),
    responses((status = 200, description = "The service", body = OrukService))
)]
#[get("/services/{id}")]
pub async fn oruk_service(
    state: web::Data<AppState>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, id) = path.into_inner();
    let federation = federation_by_slug(&state, &slug).await?;
    let mut tx = state
        .begin_read(TenantScope::federation(federation))
        .await?;
    let service = services::find_published(&mut tx, federation, ServiceId::from(id)).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(OrukService::from(&service)))
}

/// Query parameters of the taxonomy lists.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrukPageQuery {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<u32>,
}

fn page_of<T: ToSchema>(query: &OrukPageQuery, all: Vec<T>) -> Result<OrukPage<T>, ApiError> {
    let page = NumberedPage::parse(query.page, query.per_page)
        .map_err(|detail| ApiError::bad_request("invalid_query_parameter", detail))?;
    let total = all.len() as u64;
    let contents: Vec<T> = all
        .into_iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.per_page as usize)
        .collect();
    Ok(OrukPage::new(
        page.summary(total, contents.len() as u32),
        contents,
    ))
}

/// The taxonomies services are classified with: Waymark's need categories.
#[utoipa::path(
    tag = "open-referral",
    params(("federation" = String, Path, description = "The federation's slug"), OrukPageQuery),
    responses((status = 200, description = "A page of taxonomies", body = OrukPage<OrukTaxonomy>))
)]
#[get("/taxonomies")]
pub async fn oruk_taxonomies(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<OrukPageQuery>,
) -> Result<HttpResponse, ApiError> {
    federation_by_slug(&state, &path).await?;
    Ok(HttpResponse::Ok().json(page_of(&query, vec![OrukTaxonomy::needs()])?))
}

/// One taxonomy, with its terms.
#[utoipa::path(
    tag = "open-referral",
    params(
        ("federation" = String, Path, description = "The federation's slug"),
        ("id" = Uuid, Path, description = "The taxonomy's id"),
    ),
    responses((status = 200, description = "The taxonomy", body = OrukTaxonomy))
)]
#[get("/taxonomies/{id}")]
pub async fn oruk_taxonomy(
    state: web::Data<AppState>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, id) = path.into_inner();
    federation_by_slug(&state, &slug).await?;
    if id != TAXONOMY_ID {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::Ok().json(OrukTaxonomy::needs()))
}

/// The taxonomy terms: one per need category.
#[utoipa::path(
    tag = "open-referral",
    params(("federation" = String, Path, description = "The federation's slug"), OrukPageQuery),
    responses((status = 200, description = "A page of taxonomy terms", body = OrukPage<OrukTaxonomyTerm>))
)]
#[get("/taxonomy_terms")]
pub async fn oruk_taxonomy_terms(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<OrukPageQuery>,
) -> Result<HttpResponse, ApiError> {
    federation_by_slug(&state, &path).await?;
    let terms = NeedCategory::ALL
        .into_iter()
        .map(OrukTaxonomyTerm::from)
        .collect();
    Ok(HttpResponse::Ok().json(page_of(&query, terms)?))
}

/// One taxonomy term.
#[utoipa::path(
    tag = "open-referral",
    params(
        ("federation" = String, Path, description = "The federation's slug"),
        ("id" = Uuid, Path, description = "The term's id"),
    ),
    responses((status = 200, description = "The term", body = OrukTaxonomyTerm))
)]
#[get("/taxonomy_terms/{id}")]
pub async fn oruk_taxonomy_term(
    state: web::Data<AppState>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (slug, id) = path.into_inner();
    federation_by_slug(&state, &slug).await?;
    let category = NeedCategory::from_term_id(id).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(OrukTaxonomyTerm::from(category)))
}
