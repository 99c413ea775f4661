//! The Open Referral UK 3.0 read routes.

use super::model::{
    OrukPage, OrukService, OrukServiceAtLocationDetail, OrukServiceAtLocationSummary,
    OrukServiceSummary, OrukTaxonomy, OrukTaxonomyTerm,
};
use crate::problem::ApiError;
use crate::public_rate_limit::PublicFederation;
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::directory::eligibility::AgeFilter;
use waymark_domain::directory::need::TAXONOMY_ID;
use waymark_domain::directory::schedule::OpeningFilter;
use waymark_domain::directory::NeedCategory;
use waymark_domain::pagination::NumberedPage;
use waymark_domain::ServiceId;
use waymark_persistence::directory::services::{self, PublishedFilter, ServiceRecord};
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
    // The federation must exist; what these answer is the same in every federation.
    _: PublicFederation,
) -> Result<HttpResponse, ApiError> {
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
    /// Words to find in service names and descriptions; no control characters.
    #[param(pattern = "^[^\u{0}-\u{1f}\u{7f}-\u{9f}]*$")]
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
    /// Only services whose minimum age is at least this (0 to 130). A service that names no
    /// minimum age is open from birth: its minimum is 0.
    #[param(value_type = Option<f64>, minimum = 0, maximum = 130)]
    pub minimum_age: Option<String>,
    /// Only services that name a maximum age of at most this (0 to 130). A service that names
    /// no maximum age has no upper limit, and is left out.
    #[param(value_type = Option<f64>, minimum = 0, maximum = 130)]
    pub maximum_age: Option<String>,
    /// `HH:MM`, UK local time: only services with an opening period that opens at this time or
    /// later (with `day` and `end_time`, the same period meets them all). Services without
    /// weekly opening hours are left out.
    #[param(example = "09:00")]
    pub start_time: Option<String>,
    /// `HH:MM`, UK local time: only services with an opening period that closes at this time or
    /// earlier.
    #[param(example = "17:00")]
    pub end_time: Option<String>,
    /// Only services open on this day: `MO` to `SU`, or the day's name (`monday`, `mon`).
    #[param(example = "MO")]
    pub day: Option<String>,
}

/// Query parameters of the profile's service_at_location list: the service list's, and two the
/// directory cannot answer.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrukServiceAtLocationQuery {
    /// Words to find in service names and descriptions.
    pub search: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Entries per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<u32>,
    /// As for services.
    pub taxonomy_term_id: Option<String>,
    /// As for services.
    pub taxonomy_id: Option<String>,
    /// As for services.
    #[param(value_type = Option<f64>, minimum = 0, maximum = 130)]
    pub minimum_age: Option<String>,
    /// As for services.
    #[param(value_type = Option<f64>, minimum = 0, maximum = 130)]
    pub maximum_age: Option<String>,
    /// As for services.
    pub start_time: Option<String>,
    /// As for services.
    pub end_time: Option<String>,
    /// As for services.
    pub day: Option<String>,
    /// Not supported (400 `unsupported_filter`): the directory has no postcode centroids.
    pub postcode: Option<String>,
    /// Not supported (400 `unsupported_filter`): the directory has no postcode centroids.
    pub proximity: Option<String>,
}

fn unsupported(filter: &str) -> ApiError {
    ApiError::bad_request(
        "unsupported_filter",
        format!("{filter} is not supported by this directory: it has no postcode centroids to measure from"),
    )
}

fn invalid_query(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query_parameter", detail)
}

/// The parameters the service and service_at_location lists share, as given.
struct ListParameters<'a> {
    search: Option<&'a str>,
    page: Option<u32>,
    per_page: Option<u32>,
    taxonomy_id: Option<&'a str>,
    taxonomy_term_id: Option<&'a str>,
    minimum_age: Option<&'a str>,
    maximum_age: Option<&'a str>,
    day: Option<&'a str>,
    start_time: Option<&'a str>,
    end_time: Option<&'a str>,
}

/// A list query, once parsed; `filter` is `None` when its taxonomy filters can match nothing.
struct ListQuery<'a> {
    page: NumberedPage,
    filter: Option<PublishedFilter<'a>>,
}

impl<'a> ListQuery<'a> {
    fn parse(p: ListParameters<'a>, located: bool) -> Result<Self, ApiError> {
        let page = NumberedPage::parse(p.page, p.per_page).map_err(invalid_query)?;
        let ages = AgeFilter::parse(p.minimum_age, p.maximum_age).map_err(invalid_query)?;
        let opening =
            OpeningFilter::parse(p.day, p.start_time, p.end_time).map_err(invalid_query)?;
        let text = p.search.map(str::trim).filter(|s| !s.is_empty());
        // A search never needs one, and the database cannot hold a NUL.
        if text.is_some_and(|s| s.chars().any(char::is_control)) {
            return Err(ApiError::bad_request(
                "invalid_query_parameter",
                "search must not contain control characters",
            ));
        }
        let filter =
            category_filter(p.taxonomy_id, p.taxonomy_term_id).map(|category| PublishedFilter {
                text,
                category,
                ages,
                opening,
                located,
            });
        Ok(Self { page, filter })
    }

    /// The page of published services the query asks for, and how many match in all.
    async fn run(
        &self,
        state: &AppState,
        federation: waymark_domain::FederationId,
    ) -> Result<(Vec<ServiceRecord>, u64), ApiError> {
        let Some(filter) = &self.filter else {
            return Ok((Vec::new(), 0));
        };
        let mut tx = state
            .begin_search(TenantScope::federation(federation))
            .await?;
        let (rows, total) = services::published_page(
            &mut tx,
            federation,
            filter,
            self.page.offset(),
            self.page.limit(),
        )
        .await?;
        end_read(tx);
        Ok((rows, u64::try_from(total).unwrap_or(0)))
    }
}

/// The need category a list is narrowed to: `None` when its taxonomy filters can match nothing.
fn category_filter(
    taxonomy_id: Option<&str>,
    taxonomy_term_id: Option<&str>,
) -> Option<Option<NeedCategory>> {
    if let Some(taxonomy) = taxonomy_id.filter(|t| !t.is_empty()) {
        if taxonomy.parse::<Uuid>().ok() != Some(TAXONOMY_ID) {
            return None;
        }
    }
    match taxonomy_term_id.filter(|t| !t.is_empty()) {
        None => Some(None),
        Some(term) => term
            .parse::<Uuid>()
            .ok()
            .and_then(NeedCategory::from_term_id)
            .map(Some),
    }
}

/// The federation's published services, a page at a time. The age and time filters read as the
/// profile words them; see each parameter.
#[utoipa::path(
    tag = "open-referral",
    params(("federation" = String, Path, description = "The federation's slug"), OrukServiceQuery),
    responses(
        (status = 200, description = "A page of services", body = OrukPage<OrukServiceSummary>),
        (status = 400, description = "A filter's value cannot be read", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such federation", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address; see Retry-After", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/services")]
pub async fn oruk_services(
    state: web::Data<AppState>,
    PublicFederation(federation): PublicFederation,
    query: web::Query<OrukServiceQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = &*query;
    let list = ListQuery::parse(
        ListParameters {
            search: q.search.as_deref(),
            page: q.page,
            per_page: q.per_page,
            taxonomy_id: q.taxonomy_id.as_deref(),
            taxonomy_term_id: q.taxonomy_term_id.as_deref(),
            minimum_age: q.minimum_age.as_deref(),
            maximum_age: q.maximum_age.as_deref(),
            day: q.day.as_deref(),
            start_time: q.start_time.as_deref(),
            end_time: q.end_time.as_deref(),
        },
        false,
    )?;
    let (rows, total) = list.run(&state, federation).await?;
    let contents: Vec<OrukServiceSummary> = rows.iter().map(OrukServiceSummary::from).collect();
    let summary = list.page.summary(total, contents.len() as u32);
    Ok(HttpResponse::Ok().json(OrukPage::new(summary, contents)))
}

/// The federation's published services at their locations, a page at a time: one for each
/// service with a place to attend (delivered in person, at coordinates or a postcode), filtered
/// as services are.
#[utoipa::path(
    tag = "open-referral",
    params(("federation" = String, Path, description = "The federation's slug"), OrukServiceAtLocationQuery),
    responses(
        (status = 200, description = "A page of services at their locations", body = OrukPage<OrukServiceAtLocationSummary>),
        (status = 400, description = "A filter's value cannot be read, or the filter is not supported", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such federation", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address; see Retry-After", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/service_at_locations")]
pub async fn oruk_service_at_locations(
    state: web::Data<AppState>,
    PublicFederation(federation): PublicFederation,
    query: web::Query<OrukServiceAtLocationQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = &*query;
    if q.postcode.is_some() {
        return Err(unsupported("postcode"));
    }
    if q.proximity.is_some() {
        return Err(unsupported("proximity"));
    }
    let list = ListQuery::parse(
        ListParameters {
            search: q.search.as_deref(),
            page: q.page,
            per_page: q.per_page,
            taxonomy_id: q.taxonomy_id.as_deref(),
            taxonomy_term_id: q.taxonomy_term_id.as_deref(),
            minimum_age: q.minimum_age.as_deref(),
            maximum_age: q.maximum_age.as_deref(),
            day: q.day.as_deref(),
            start_time: q.start_time.as_deref(),
            end_time: q.end_time.as_deref(),
        },
        true,
    )?;
    let (rows, total) = list.run(&state, federation).await?;
    let contents: Vec<OrukServiceAtLocationSummary> = rows
        .iter()
        .filter_map(OrukServiceAtLocationSummary::of)
        .collect();
    let summary = list.page.summary(total, contents.len() as u32);
    Ok(HttpResponse::Ok().json(OrukPage::new(summary, contents)))
}

/// One published service at its location, in full.
#[utoipa::path(
    tag = "open-referral",
    params(
        ("federation" = String, Path, description = "The federation's slug"),
        ("id" = Uuid, Path, description = "The service_at_location's id"),
    ),
    responses(
        (status = 200, description = "The service at its location", body = OrukServiceAtLocationDetail),
        (status = 404, description = "No such service_at_location", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/service_at_locations/{id}")]
pub async fn oruk_service_at_location(
    state: web::Data<AppState>,
    PublicFederation(federation): PublicFederation,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let mut tx = state
        .begin_read(TenantScope::federation(federation))
        .await?;
    let service = services::find_published_at_location(&mut tx, federation, id).await?;
    end_read(tx);
    let detail = OrukServiceAtLocationDetail::of(&service).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(detail))
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
    PublicFederation(federation): PublicFederation,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
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
    _: PublicFederation,
    query: web::Query<OrukPageQuery>,
) -> Result<HttpResponse, ApiError> {
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
    _: PublicFederation,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
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
    _: PublicFederation,
    query: web::Query<OrukPageQuery>,
) -> Result<HttpResponse, ApiError> {
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
    _: PublicFederation,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = path.into_inner();
    let category = NeedCategory::from_term_id(id).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(OrukTaxonomyTerm::from(category)))
}
