//! The baseline `bench/scoped-get` measures Waymark's scoped read against: the same practice
//! row, read by primary key with one prepared statement on a pooled connection, as the schema
//! owner, with no token, no tenant, no transaction and no middleware, serialised to the same
//! JSON. Whatever Waymark's `GET /v1/practices/{id}` costs beyond this is the price of
//! authentication, tenant scoping, row-level security and its request conventions.
//!
//! Configured by `DATABASE_URL`, `BARE_ADDR` (default 127.0.0.1:18081),
//! `BARE_DB_MAX_CONNECTIONS` (default 16, as Waymark's pool) and `BARE_TEST_BEFORE_ACQUIRE`
//! (default `true`, sqlx's own default: ping each connection as it leaves the pool).

use actix_web::{get, web, App, HttpResponse, HttpServer};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Serialize, sqlx::FromRow)]
struct Practice {
    id: Uuid,
    federation_id: Uuid,
    ods_code: String,
    name: String,
    active: bool,
    #[serde(skip)]
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[get("/practices/{id}")]
async fn practice(pool: web::Data<PgPool>, id: web::Path<Uuid>) -> HttpResponse {
    let found = sqlx::query_as::<_, Practice>(
        "SELECT id, federation_id, ods_code, name, active, version, created_at, updated_at
         FROM practices WHERE id = $1",
    )
    .bind(id.into_inner())
    .fetch_optional(pool.get_ref())
    .await;
    match found {
        Ok(Some(p)) => HttpResponse::Ok()
            .insert_header(("ETag", format!("\"{}\"", p.version)))
            .json(p),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL names the database to read");
    let connections: u32 = env_or("BARE_DB_MAX_CONNECTIONS", "16")
        .parse()
        .expect("BARE_DB_MAX_CONNECTIONS is a number");
    let test_before_acquire = env_or("BARE_TEST_BEFORE_ACQUIRE", "true") == "true";
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .test_before_acquire(test_before_acquire)
        .connect(&url)
        .await
        .map_err(std::io::Error::other)?;
    let pool = web::Data::new(pool);
    HttpServer::new(move || App::new().app_data(pool.clone()).service(practice))
        .bind(env_or("BARE_ADDR", "127.0.0.1:18081"))?
        .run()
        .await
}
