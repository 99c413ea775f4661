//! Builds the actix-web application and the server around it.

use crate::auth::password::hash_password;
use crate::auth::TokenService;
use crate::csv_export::ExportSlots;
use crate::directory_cache::DirectoryCache;
use crate::json_body::BodyLimit;
use crate::metrics::Metrics;
use crate::openapi::{add_problem_responses, describe_rule_formats, ApiDoc};
use crate::problem::ApiError;
use crate::rate_limit::{RateLimiter, RatePolicies, RATELIMIT, RATELIMIT_POLICY};
use crate::request_context::{observe_request, REQUEST_ID};
use crate::routes::{self, fallback};
use crate::settings::Settings;
use crate::state::AppState;
use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::{header, Method};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use std::net::TcpListener;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;
use waymark_domain::webhooks::RetrySchedule;
use waymark_persistence::ledger::approval_queue::ApprovalQueue;

/// The OpenAPI document of every route the application serves.
pub fn document() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes::configure)
        .split_for_parts();
    add_problem_responses(&mut doc);
    describe_rule_formats(&mut doc);
    doc
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Database(String),
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, BuildError> {
        let tokens = web::Data::new(settings.token_service().map_err(BuildError::Config)?);
        let db = waymark_persistence::connect(&settings.database_url, settings.db_max_connections)
            .await
            .map_err(|e| BuildError::Database(e.to_string()))?;
        waymark_persistence::login_role::check(&db.pool)
            .await
            .map_err(|e| BuildError::Database(e.to_string()))?;
        let decoy_password_hash = hash_password("a password no account has, used for timing")
            .map_err(|e| BuildError::Config(e.to_string()))?;
        let approvals =
            ApprovalQueue::new(db.pool.clone(), routes::ledger::charges::render_decision);
        if !settings.stats_fold_interval.is_zero() {
            waymark_persistence::stats::compaction::spawn(
                db.pool.clone(),
                settings.stats_fold_interval,
            );
        }
        if !settings.events_sequence_interval.is_zero() {
            waymark_persistence::events::spawn(
                db.pool.clone(),
                settings.events_sequence_interval,
                chrono::Duration::days(i64::from(settings.events_retention_days)),
            );
        }
        if !settings.webhooks_interval.is_zero() {
            crate::webhook_delivery::spawn(
                db.pool.clone(),
                crate::webhook_delivery::DeliverySettings {
                    interval: settings.webhooks_interval,
                    timeout: settings.webhooks_timeout,
                    allowed_networks: settings.webhooks_allowed_networks.clone(),
                    retries: RetrySchedule {
                        first: settings.webhooks_first_retry,
                        ..RetrySchedule::default()
                    },
                    retention: chrono::Duration::days(i64::from(settings.events_retention_days)),
                },
                routes::webhooks::render_payload,
            )
            .map_err(BuildError::Config)?;
        }
        let state = web::Data::new(AppState {
            db,
            login_throttle: settings.login_throttle,
            decoy_password_hash,
            directory_cache: DirectoryCache::new(settings.directory_cache_bytes),
            approvals,
            // A quarter of the pool, at least one.
            exports: ExportSlots::new(settings.db_max_connections as usize / 4),
            webhook_networks: settings.webhooks_allowed_networks.clone(),
        });
        let listener = TcpListener::bind(&settings.addr).map_err(|source| BuildError::Listen {
            addr: settings.addr.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| BuildError::Listen {
                addr: settings.addr.clone(),
                source,
            })?
            .port();
        let server = serve(listener, &settings, state, tokens)?;
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn serve(
    listener: TcpListener,
    settings: &Settings,
    state: web::Data<AppState>,
    tokens: web::Data<TokenService>,
) -> Result<Server, BuildError> {
    let doc = document();
    let known_paths = web::Data::new(fallback::KnownPaths::from_openapi(&doc));
    let metrics = web::Data::new(Metrics::default());
    let body_limit = web::Data::new(BodyLimit(settings.max_body_bytes));
    let rate_limiter = web::Data::new(RateLimiter::new(
        state.db.pool.clone(),
        RatePolicies::per_minute(
            settings.rate_limit_per_subject_per_minute,
            settings.rate_limit_per_address_per_minute,
            settings.public_rate_limit_per_minute,
        ),
    ));
    RateLimiter::spawn_cleanup(state.db.pool.clone());
    let trusted_proxies = web::Data::new(settings.trusted_proxies.clone());
    let origins = settings.cors_allowed_origins.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(tokens.clone())
            .app_data(metrics.clone())
            .app_data(body_limit.clone())
            .app_data(known_paths.clone())
            .app_data(rate_limiter.clone())
            .app_data(trusted_proxies.clone())
            .app_data(web::QueryConfig::default().error_handler(|error, _| {
                ApiError::bad_request("invalid_query_parameter", error.to_string()).into()
            }))
            .app_data(web::PathConfig::default().error_handler(fallback::path_error))
            .into_utoipa_app()
            .configure(routes::configure)
            .into_app()
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", doc.clone()))
            .route(
                "/docs",
                web::get().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header((header::LOCATION, "/docs/"))
                        .finish()
                }),
            )
            .default_service(web::to(fallback::unmatched))
            .wrap(cors(&origins))
            .wrap(from_fn(observe_request))
    })
    .shutdown_timeout(settings.shutdown_timeout.as_secs())
    .listen(listener)
    .map_err(|source| BuildError::Listen {
        addr: settings.addr.clone(),
        source,
    })?;
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    Ok(server.run())
}

/// Browsers may call from the configured origins only; for any other origin the response simply
/// carries no CORS headers, and the browser withholds it.
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .block_on_origin_mismatch(false)
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            REQUEST_ID,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            RATELIMIT,
            RATELIMIT_POLICY,
            REQUEST_ID,
        ])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}
