//! Liveness, readiness and metrics, for orchestrators and scrapers. No authentication.

use crate::metrics::{Metrics, PoolGauges};
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;
use waymark_persistence::health::{readiness, Readiness};

#[derive(Serialize, ToSchema)]
pub struct HealthStatus {
    /// `ok` when the check passed.
    pub status: &'static str,
}

/// The process is alive.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = HealthStatus)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus { status: "ok" })
}

/// The database answers and has every migration this build expects.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = HealthStatus),
        (status = 503, description = "Database unreachable or migrations pending (`not_ready`)", body = crate::problem::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait before asking again"))),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match readiness(&state.db.pool).await {
        Ok(Readiness::Ready) => Ok(HttpResponse::Ok().json(HealthStatus { status: "ok" })),
        Ok(Readiness::MigrationsPending { applied, expected }) => {
            Err(ApiError::Unavailable(format!(
                "database schema is at migration {}, this build needs {expected}",
                applied.map_or("none".to_owned(), |v| v.to_string())
            )))
        }
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            Err(ApiError::Unavailable(
                "the database cannot be reached".into(),
            ))
        }
    }
}

/// Request counts and latencies, and pool figures, in the Prometheus text format.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4"))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, metrics: web::Data<Metrics>) -> HttpResponse {
    let pool = &state.db.pool;
    let text = metrics.render(PoolGauges {
        size: pool.size(),
        idle: pool.num_idle(),
    });
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
