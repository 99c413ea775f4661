//! Services of the directory, and the search volunteers use mid-conversation.

use super::{readable_directory, require_writer};
use crate::auth::Caller;
use crate::concurrency::{with_etag, IfMatch, IfMatchHeader};
use crate::json_body::{absent_or_nullable, apply_change, JsonBody};
use crate::pagination::Page;
use crate::problem::ApiError;
use crate::routes::location;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse, HttpResponseBuilder};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::directory::geo::parse_within_km;
use waymark_domain::directory::schedule::{OpeningPeriod, OpeningPeriodInput};
use waymark_domain::directory::service::{ServiceDetails, ServiceInput};
use waymark_domain::directory::{DeliveryMode, GeoPoint, NeedCategory};
use waymark_domain::pagination::{KeysetCursor, Limit, SortKey};
use waymark_domain::{OrganisationId, ServiceId};
use waymark_persistence::directory;
use waymark_persistence::directory::search::{self as service_search, ServiceHit, ServiceSearch};
use waymark_persistence::directory::services::{self, ServiceRecord};
use waymark_persistence::{commit, end_read, TenantScope};

/// The default search radius when `near` is given without `within_km`.
const DEFAULT_WITHIN_KM: f64 = 10.0;

#[derive(Serialize, ToSchema)]
pub struct OrganisationSummary {
    pub id: Uuid,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

/// One regular weekly opening, in UK local time, to the minute.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpeningPeriodBody {
    #[schema(schema_with = crate::schemas::day_of_week)]
    pub day: String,
    #[schema(example = "09:30", pattern = "^([01]?[0-9]|2[0-3]):[0-5][0-9](:00)?$")]
    pub opens_at: String,
    /// After `opens_at`, the same day: a period past midnight is two periods.
    #[schema(example = "12:00", pattern = "^([01]?[0-9]|2[0-3]):[0-5][0-9](:00)?$")]
    pub closes_at: String,
}

impl From<&OpeningPeriod> for OpeningPeriodBody {
    fn from(p: &OpeningPeriod) -> Self {
        Self {
            day: p.day().code().to_owned(),
            opens_at: p.opens_at().to_string(),
            closes_at: p.closes_at().to_string(),
        }
    }
}

fn period_inputs(periods: Vec<OpeningPeriodBody>) -> Vec<OpeningPeriodInput> {
    periods
        .into_iter()
        .map(|p| OpeningPeriodInput {
            day: p.day,
            opens_at: p.opens_at,
            closes_at: p.closes_at,
        })
        .collect()
}

#[derive(Serialize, ToSchema)]
pub struct Service {
    pub id: Uuid,
    pub federation_id: Uuid,
    pub organisation: OrganisationSummary,
    pub external_id: Option<String>,
    #[schema(example = "Health walks")]
    pub name: String,
    pub description: String,
    #[schema(schema_with = crate::schemas::need_categories)]
    pub need_categories: Vec<NeedCategory>,
    /// Who the service is for, in words.
    pub eligibility: Option<String>,
    /// The youngest age the service is for, in years; absent when it names none.
    #[schema(example = 18)]
    pub minimum_age: Option<u8>,
    /// The oldest age the service is for, in years; absent when it names none.
    pub maximum_age: Option<u8>,
    #[schema(schema_with = crate::schemas::delivery_modes)]
    pub delivery_modes: Vec<DeliveryMode>,
    pub address: Option<String>,
    #[schema(example = "LE11 1AA")]
    pub postcode: Option<String>,
    pub location: Option<Location>,
    /// When the service runs, in words.
    pub opening_times: Option<String>,
    /// Regular weekly opening hours, in week order.
    pub schedules: Vec<OpeningPeriodBody>,
    /// How many people the service can take on at a time, if it says.
    pub capacity: Option<i32>,
    pub accepting_referrals: bool,
    /// What the patient pays, in words.
    #[schema(example = "Free")]
    pub cost_to_patient: String,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub website: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Kilometres from the `near` point of a search; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
}

impl Service {
    fn from_record(r: ServiceRecord, distance_km: Option<f64>) -> Self {
        let location = r
            .latitude
            .zip(r.longitude)
            .map(|(latitude, longitude)| Location {
                latitude,
                longitude,
            });
        Self {
            id: r.id,
            federation_id: r.federation_id,
            organisation: OrganisationSummary {
                id: r.organisation_id,
                name: r.organisation_name,
            },
            external_id: r.external_id,
            name: r.name,
            description: r.description,
            need_categories: r.need_categories,
            eligibility: r.eligibility,
            minimum_age: r.ages.minimum(),
            maximum_age: r.ages.maximum(),
            delivery_modes: r.delivery_modes,
            address: r.address,
            postcode: r.postcode,
            location,
            opening_times: r.opening_times,
            schedules: r
                .schedule
                .periods()
                .iter()
                .map(OpeningPeriodBody::from)
                .collect(),
            capacity: r.capacity,
            accepting_referrals: r.accepting_referrals,
            cost_to_patient: r.cost_to_patient,
            contact_email: r.contact_email,
            contact_phone: r.contact_phone,
            website: r.website,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
            distance_km: distance_km.map(|d| (d * 100.0).round() / 100.0),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServiceBody {
    pub organisation_id: Uuid,
    #[schema(format = "line-or-blank", max_length = 200)]
    pub external_id: Option<String>,
    #[schema(format = "line", example = "Health walks", max_length = 200)]
    pub name: String,
    #[schema(
        format = "lines",
        example = "Friendly, gentle group walks of about an hour.",
        max_length = 5000
    )]
    pub description: String,
    #[schema(schema_with = crate::schemas::need_categories)]
    pub need_categories: Vec<NeedCategory>,
    #[schema(format = "lines-or-blank", max_length = 2000)]
    pub eligibility: Option<String>,
    /// Whole years, 0 to 130; no more than `maximum_age`.
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 130, example = 18)]
    pub minimum_age: Option<f64>,
    /// Whole years, 0 to 130.
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 130)]
    pub maximum_age: Option<f64>,
    #[schema(schema_with = crate::schemas::delivery_modes)]
    pub delivery_modes: Vec<DeliveryMode>,
    #[schema(format = "lines-or-blank", max_length = 500)]
    pub address: Option<String>,
    #[schema(format = "uk-postcode", example = "LE11 1AA")]
    pub postcode: Option<String>,
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
    #[schema(format = "lines-or-blank", max_length = 1000)]
    pub opening_times: Option<String>,
    /// Regular weekly opening hours: at most 50 periods, none overlapping another.
    #[schema(max_items = 50)]
    pub schedules: Option<Vec<OpeningPeriodBody>>,
    #[schema(minimum = 0)]
    pub capacity: Option<i32>,
    /// Defaults to true.
    pub accepting_referrals: Option<bool>,
    /// Defaults to "Free".
    #[schema(format = "line-or-blank", max_length = 200)]
    pub cost_to_patient: Option<String>,
    #[schema(format = Email)]
    pub contact_email: Option<String>,
    #[schema(format = "phone", max_length = 30)]
    pub contact_phone: Option<String>,
    #[schema(format = "web-address", max_length = 500)]
    pub website: Option<String>,
    /// Defaults to true.
    pub active: Option<bool>,
}

impl From<NewServiceBody> for ServiceInput {
    fn from(b: NewServiceBody) -> Self {
        ServiceInput {
            organisation_id: Some(OrganisationId::from(b.organisation_id)),
            external_id: b.external_id,
            name: b.name,
            description: b.description,
            need_categories: b.need_categories,
            eligibility: b.eligibility,
            minimum_age: b.minimum_age,
            maximum_age: b.maximum_age,
            delivery_modes: b.delivery_modes,
            address: b.address,
            postcode: b.postcode,
            latitude: b.latitude,
            longitude: b.longitude,
            opening_times: b.opening_times,
            schedules: period_inputs(b.schedules.unwrap_or_default()),
            capacity: b.capacity,
            accepting_referrals: b.accepting_referrals.unwrap_or(true),
            cost_to_patient: b.cost_to_patient,
            contact_email: b.contact_email,
            contact_phone: b.contact_phone,
            website: b.website,
            active: b.active.unwrap_or(true),
        }
    }
}

/// Fields to change; absent fields stay as they are and `null` clears an optional field.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceChangesBody {
    /// Move the service to another organisation (directory writers only).
    pub organisation_id: Option<Uuid>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "line-or-blank", value_type = Option<String>, max_length = 200)]
    pub external_id: Option<Option<String>>,
    #[schema(format = "line", max_length = 200)]
    pub name: Option<String>,
    #[schema(format = "lines", max_length = 5000)]
    pub description: Option<String>,
    #[schema(schema_with = crate::schemas::optional_need_categories)]
    pub need_categories: Option<Vec<NeedCategory>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "lines-or-blank", value_type = Option<String>, max_length = 2000)]
    pub eligibility: Option<Option<String>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 130)]
    pub minimum_age: Option<Option<f64>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 130)]
    pub maximum_age: Option<Option<f64>>,
    #[schema(schema_with = crate::schemas::optional_delivery_modes)]
    pub delivery_modes: Option<Vec<DeliveryMode>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "lines-or-blank", value_type = Option<String>, max_length = 500)]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "uk-postcode", value_type = Option<String>)]
    pub postcode: Option<Option<String>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(value_type = Option<f64>)]
    pub latitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(value_type = Option<f64>)]
    pub longitude: Option<Option<f64>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "lines-or-blank", value_type = Option<String>, max_length = 1000)]
    pub opening_times: Option<Option<String>>,
    /// The whole weekly schedule, replacing the one there; `null` or `[]` clears it.
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(value_type = Option<Vec<OpeningPeriodBody>>, max_items = 50)]
    pub schedules: Option<Option<Vec<OpeningPeriodBody>>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(value_type = Option<i32>)]
    pub capacity: Option<Option<i32>>,
    pub accepting_referrals: Option<bool>,
    #[schema(format = "line-or-blank", max_length = 200)]
    pub cost_to_patient: Option<String>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(value_type = Option<String>, format = Email)]
    pub contact_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "phone", value_type = Option<String>, max_length = 30)]
    pub contact_phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "absent_or_nullable")]
    #[schema(format = "web-address", value_type = Option<String>, max_length = 500)]
    pub website: Option<Option<String>>,
    pub active: Option<bool>,
}

impl ServiceChangesBody {
    fn apply(self, mut input: ServiceInput) -> ServiceInput {
        apply_change(
            &mut input.organisation_id,
            self.organisation_id.map(|o| Some(OrganisationId::from(o))),
        );
        apply_change(&mut input.external_id, self.external_id);
        apply_change(&mut input.name, self.name);
        apply_change(&mut input.description, self.description);
        apply_change(&mut input.need_categories, self.need_categories);
        apply_change(&mut input.eligibility, self.eligibility);
        apply_change(&mut input.minimum_age, self.minimum_age);
        apply_change(&mut input.maximum_age, self.maximum_age);
        apply_change(&mut input.delivery_modes, self.delivery_modes);
        apply_change(&mut input.address, self.address);
        apply_change(&mut input.postcode, self.postcode);
        apply_change(&mut input.latitude, self.latitude);
        apply_change(&mut input.longitude, self.longitude);
        apply_change(&mut input.opening_times, self.opening_times);
        apply_change(
            &mut input.schedules,
            self.schedules
                .map(|periods| period_inputs(periods.unwrap_or_default())),
        );
        apply_change(&mut input.capacity, self.capacity);
        apply_change(&mut input.accepting_referrals, self.accepting_referrals);
        apply_change(&mut input.cost_to_patient, self.cost_to_patient.map(Some));
        apply_change(&mut input.contact_email, self.contact_email);
        apply_change(&mut input.contact_phone, self.contact_phone);
        apply_change(&mut input.website, self.website);
        apply_change(&mut input.active, self.active);
        input
    }
}

fn respond(builder: HttpResponseBuilder, record: ServiceRecord) -> HttpResponse {
    with_etag(builder, record.version).json(Service::from_record(record, None))
}

/// Adds a service to the directory.
#[utoipa::path(
    tag = "directory",
    security(("bearer" = [])),
    request_body = NewServiceBody,
    responses((status = 201, description = "Created", body = Service, headers(("Location" = String), ("ETag" = String))))
)]
#[post("/directory/services")]
pub async fn create_service(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<NewServiceBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = require_writer(&caller)?;
    let details = ServiceDetails::parse(body.0.into())?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let record = services::create(&mut tx, federation, ServiceId::new(), &details).await?;
    commit(tx).await?;
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, location("directory/services", record.id)));
    Ok(respond(created, record))
}

/// Search parameters. Without `q` or `near`, services come in name order.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceSearchQuery {
    /// Words to find in names and descriptions (web-search syntax: "quoted phrases", -exclusions,
    /// or). Results are ranked by relevance, names counting more than descriptions. At most 200
    /// characters, none of them a control character.
    #[param(pattern = "^[^\u{0}-\u{1f}\u{7f}-\u{9f}]*$", max_length = 200)]
    pub q: Option<String>,
    /// Only services meeting this need.
    #[param(example = "loneliness_isolation", schema_with = crate::schemas::need_category_filter)]
    pub category: Option<String>,
    /// Only services delivered this way: in_person, phone or online.
    #[param(schema_with = crate::schemas::delivery_mode_filter)]
    pub delivery_mode: Option<String>,
    /// Only services that are (or are not) accepting referrals.
    pub accepting_referrals: Option<bool>,
    /// `latitude,longitude`: only services within `within_km` of this point, nearest first (unless
    /// `q` ranks them); each result carries `distance_km`.
    #[param(example = "52.7721,-1.2062")]
    pub near: Option<String>,
    /// Search radius in kilometres around `near`, which it needs: `within_km` without `near` is
    /// `400 invalid_query_parameter` (default 10, at most 200).
    #[param(minimum = 0, maximum = 200)]
    pub within_km: Option<f64>,
    /// Only this organisation's services.
    pub organisation_id: Option<Uuid>,
    /// Include inactive services (directory writers only).
    pub include_inactive: Option<bool>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page of the same search.
    pub cursor: Option<String>,
}

/// A query parameter's value, where an empty one (`category=`, as form-driven clients send for
/// "any") counts as absent.
fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn invalid_query(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query_parameter", detail)
}

impl ServiceSearchQuery {
    fn parse(
        &self,
        caller: &Caller,
    ) -> Result<(ServiceSearch, Limit, Option<KeysetCursor>), ApiError> {
        let category = given(&self.category)
            .as_deref()
            .map(str::parse::<NeedCategory>)
            .transpose()
            .map_err(|e| invalid_query(e.to_string()))?;
        let delivery_mode = given(&self.delivery_mode)
            .as_deref()
            .map(str::parse::<DeliveryMode>)
            .transpose()
            .map_err(|e| invalid_query(e.to_string()))?;
        let near = match (given(&self.near), self.within_km) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(invalid_query("within_km needs near=latitude,longitude"))
            }
            (Some(raw), km) => {
                let point = GeoPoint::parse(&raw)
                    .map_err(|e| invalid_query(format!("near {}", e.message)))?;
                let km = parse_within_km(km.unwrap_or(DEFAULT_WITHIN_KM))
                    .map_err(|e| invalid_query(e.message))?;
                Some((point, km))
            }
        };
        let include_inactive = self.include_inactive.unwrap_or(false);
        if include_inactive && !caller.can_write_directory() {
            return Err(ApiError::Forbidden(
                "only directory writers see inactive services",
            ));
        }
        let text = given(&self.q);
        if text.as_ref().is_some_and(|q| q.chars().count() > 200) {
            return Err(invalid_query("q must be at most 200 characters"));
        }
        // A search never needs one, and the database cannot hold a NUL.
        if text
            .as_ref()
            .is_some_and(|q| q.chars().any(char::is_control))
        {
            return Err(invalid_query("q must not contain control characters"));
        }
        let search = ServiceSearch {
            text,
            category,
            delivery_mode,
            accepting_referrals: self.accepting_referrals,
            near,
            organisation: self.organisation_id.map(OrganisationId::from),
            include_inactive,
        };
        let limit = Limit::parse(self.limit).map_err(invalid_query)?;
        let cursor = self
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(KeysetCursor::decode)
            .transpose()
            .map_err(invalid_query)?;
        if let Some(cursor) = &cursor {
            let by_name = matches!(cursor.key, SortKey::Text(_));
            if by_name != search.orders_by_name() {
                return Err(invalid_query("the cursor belongs to a different search"));
            }
        }
        Ok((search, limit, cursor))
    }
}

/// Searches the directory: full text, need category, delivery mode, accepting referrals and
/// distance from a point, with a stable order for paging.
#[utoipa::path(
    tag = "directory",
    security(("bearer" = [])),
    params(ServiceSearchQuery),
    responses((status = 200, description = "A page of services", body = Page<Service>))
)]
#[get("/directory/services")]
pub async fn search_services(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<ServiceSearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = readable_directory(&caller)?;
    let (search, limit, cursor) = query.parse(&caller)?;
    // The answer depends on nothing but the federation's directory and the query, which has
    // been validated (and `include_inactive` authorised) above.
    let request = format!("services?{}", req.query_string());
    let mut tx = state.begin_snapshot(TenantScope::of(&caller)).await?;
    let version = directory::version(&mut tx, federation).await?;
    if let Some(body) = state.directory_cache.get(federation, &request, version) {
        end_read(tx);
        return Ok(json_bytes(body));
    }
    let hits = service_search::search(&mut tx, federation, &search, cursor.as_ref(), limit.probe())
        .await?;
    end_read(tx);
    let body =
        Bytes::from(serde_json::to_vec(&search_page(hits, limit)).map_err(ApiError::internal)?);
    state
        .directory_cache
        .put(federation, &request, version, body.clone());
    Ok(json_bytes(body))
}

/// A kept (or just rendered) JSON answer.
fn json_bytes(body: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body)
}

fn search_page(hits: Vec<ServiceHit>, limit: Limit) -> Page<Service> {
    let mut hits = hits;
    let page_size = limit.get() as usize;
    let more = hits.len() > page_size;
    hits.truncate(page_size);
    let next_cursor = more
        .then(|| hits.last().map(|hit| hit.position.encode()))
        .flatten();
    let items = hits
        .into_iter()
        .map(
            |ServiceHit {
                 service,
                 distance_km,
                 ..
             }| Service::from_record(service, distance_km),
        )
        .collect();
    Page { items, next_cursor }
}

/// One service, with its `ETag`.
#[utoipa::path(
    tag = "directory",
    security(("bearer" = [])),
    params(("service_id" = Uuid, Path, description = "The service's id")),
    responses((status = 200, description = "The service", body = Service, headers(("ETag" = String))))
)]
#[get("/directory/services/{service_id}")]
pub async fn get_service(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let federation = caller.federation().map_err(|_| ApiError::NotFound)?;
    readable_directory(&caller)?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let record = services::find(&mut tx, federation, ServiceId::from(path.into_inner())).await?;
    end_read(tx);
    Ok(respond(HttpResponse::Ok(), record))
}

/// Changes a service: directory writers any, providers their own organisation's. Needs `If-Match`.
#[utoipa::path(
    tag = "directory",
    security(("bearer" = [])),
    params(
        ("service_id" = Uuid, Path, description = "The service's id"),
        IfMatchHeader,
    ),
    request_body = ServiceChangesBody,
    responses((status = 200, description = "Updated", body = Service, headers(("ETag" = String))))
)]
#[patch("/directory/services/{service_id}")]
pub async fn update_service(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<ServiceChangesBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = caller.federation().map_err(|_| ApiError::NotFound)?;
    readable_directory(&caller)?;
    let id = ServiceId::from(path.into_inner());
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let current = services::find(&mut tx, federation, id).await?;
    caller.require(
        caller.can_edit_services_of(OrganisationId::from(current.organisation_id)),
        "you may change only your own organisation's services",
    )?;
    let version = if_match.version()?;
    let details = ServiceDetails::parse(body.0.apply(current.to_input()))?;
    caller.require(
        caller.can_edit_services_of(details.organisation_id),
        "you may not move a service to another organisation",
    )?;
    let record = services::update(&mut tx, federation, id, version, &details).await?;
    commit(tx).await?;
    Ok(respond(HttpResponse::Ok(), record))
}
