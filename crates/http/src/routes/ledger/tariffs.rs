//! Tariffs: the price of one unit of an activity type at a service, for a period.

use super::{administration, view, Money};
use crate::auth::Caller;
use crate::concurrency::{with_etag, IfMatch, IfMatchHeader};
use crate::json_body::JsonBody;
use crate::pagination::{Page, PageRequest};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::ledger::access::LedgerView;
use waymark_domain::ledger::tariff::NewTariff;
use waymark_domain::{OrganisationId, ServiceId, ValidationErrors};
use waymark_persistence::directory::services;
use waymark_persistence::ledger::tariffs::{self, TariffError, TariffRecord};
use waymark_persistence::{commit, end_read, StoreError, TenantScope};

#[derive(Serialize, ToSchema)]
pub struct Tariff {
    pub id: Uuid,
    pub service_id: Uuid,
    pub organisation_id: Uuid,
    #[schema(example = "session_attended")]
    pub activity_type: String,
    pub unit_price: Money,
    /// The first day the tariff is in force.
    pub effective_from: NaiveDate,
    /// The last day it is in force; absent while open-ended.
    pub effective_to: Option<NaiveDate>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<TariffRecord> for Tariff {
    fn from(r: TariffRecord) -> Self {
        Self {
            id: r.id,
            service_id: r.service_id,
            organisation_id: r.organisation_id,
            activity_type: r.activity_type,
            unit_price: Money::pence(r.unit_pence),
            effective_from: r.effective_from,
            effective_to: r.effective_to,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTariffBody {
    pub service_id: Uuid,
    /// The activity's code, as providers record it, e.g. `session_attended`.
    #[schema(example = "session_attended", pattern = "^[a-z][a-z0-9_]{0,49}$")]
    pub activity_type: String,
    /// The price of one unit, in pence.
    #[schema(example = 1500, minimum = 1, maximum = 1000000000)]
    pub unit_price_pence: i64,
    pub effective_from: NaiveDate,
    /// The last day in force (included); absent for open-ended.
    pub effective_to: Option<NaiveDate>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndTariffBody {
    /// The tariff's last day in force.
    pub effective_to: NaiveDate,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TariffQuery {
    pub service_id: Option<Uuid>,
    pub organisation_id: Option<Uuid>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn tariff_error(error: TariffError) -> ApiError {
    match error {
        TariffError::Overlaps(other) => ApiError::Conflict {
            code: "tariff_overlaps",
            detail: format!(
                "tariff {other} is in force on some of these days for the same service and \
                 activity type; end it first"
            ),
        },
        TariffError::InUse => ApiError::Conflict {
            code: "tariff_in_use",
            detail: "activities delivered after that day are priced by this tariff".into(),
        },
        TariffError::Store(e) => e.into(),
    }
}

/// Sets a price for an activity type at a service (federation administrators). Periods of one
/// service and activity type may not overlap.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    request_body = NewTariffBody,
    responses(
        (status = 201, description = "Created", body = Tariff, headers(("ETag" = String))),
        (status = 409, description = "Overlaps another tariff (`tariff_overlaps`)"),
    )
)]
#[post("/ledger/tariffs")]
pub async fn create_tariff(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<NewTariffBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = administration(&caller)?;
    let b = body.0;
    let tariff = NewTariff::parse(
        &b.activity_type,
        b.unit_price_pence,
        b.effective_from,
        b.effective_to,
    )?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let service = services::find(&mut tx, federation, ServiceId::from(b.service_id))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::Validation(ValidationErrors::single(
                "service_id",
                "not_found",
                "no such service in this federation's directory",
            )),
            other => other.into(),
        })?;
    let record = tariffs::create(
        &mut tx,
        federation,
        service.id,
        OrganisationId::from(service.organisation_id),
        &tariff,
        caller.subject,
    )
    .await
    .map_err(tariff_error)?;
    commit(tx).await?;
    Ok(with_etag(HttpResponse::Created(), record.version).json(Tariff::from(record)))
}

/// Tariffs, by id: all of the federation's for administrators, a provider's own for providers.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(TariffQuery),
    responses((status = 200, description = "A page of tariffs", body = Page<Tariff>))
)]
#[get("/ledger/tariffs")]
pub async fn list_tariffs(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<TariffQuery>,
) -> Result<HttpResponse, ApiError> {
    let (federation, view) = view(&caller)?;
    let page = PageRequest::parse(query.limit, query.cursor.as_deref())?;
    let organisation = match view {
        LedgerView::Provider(own) => Some(own.as_uuid()),
        _ => query.organisation_id,
    };
    let mut tx = state.begin_search(TenantScope::of(&caller)).await?;
    let rows = tariffs::list(
        &mut tx,
        federation,
        organisation,
        query.service_id,
        page.after,
        page.probe(),
    )
    .await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(page.page(rows, |r| r.id, Tariff::from)))
}

/// Ends a tariff on a day (federation administrators): a tariff is never deleted, nor ended
/// before an activity it has priced. Needs `If-Match`.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(
        ("tariff_id" = Uuid, Path, description = "The tariff"),
        IfMatchHeader,
    ),
    request_body = EndTariffBody,
    responses(
        (status = 200, description = "Ended", body = Tariff, headers(("ETag" = String))),
        (status = 409, description = "Activities after that day are priced by it (`tariff_in_use`), or it would overlap another (`tariff_overlaps`)"),
    )
)]
#[post("/ledger/tariffs/{tariff_id}/end")]
pub async fn end_tariff(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: JsonBody<EndTariffBody>,
) -> Result<HttpResponse, ApiError> {
    let federation = administration(&caller)?;
    let id = path.into_inner();
    let expected = if_match.version()?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let current = tariffs::find(&mut tx, federation, id).await?;
    if body.0.effective_to < current.effective_from {
        return Err(ApiError::Validation(ValidationErrors::single(
            "effective_to",
            "out_of_range",
            "must be on or after the tariff's effective_from",
        )));
    }
    let record = tariffs::end(&mut tx, federation, id, expected, body.0.effective_to)
        .await
        .map_err(tariff_error)?;
    commit(tx).await?;
    Ok(with_etag(HttpResponse::Ok(), record.version).json(Tariff::from(record)))
}

/// One tariff, with its `ETag`.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(("tariff_id" = Uuid, Path, description = "The tariff")),
    responses((status = 200, description = "The tariff", body = Tariff, headers(("ETag" = String))))
)]
#[get("/ledger/tariffs/{tariff_id}")]
pub async fn get_tariff(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (federation, view) = view(&caller)?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let record = tariffs::find(&mut tx, federation, path.into_inner()).await?;
    end_read(tx);
    if !view.sees(OrganisationId::from(record.organisation_id)) {
        return Err(ApiError::NotFound);
    }
    Ok(with_etag(HttpResponse::Ok(), record.version).json(Tariff::from(record)))
}
