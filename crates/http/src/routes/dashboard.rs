//! The commissioner dashboard: a page and its scripts, served from the binary (nothing is
//! fetched from anywhere else), which sign in with the password grant and draw the statistics
//! API's answers as SVG charts in the browser.

use actix_web::http::header;
use actix_web::{get, HttpResponse};

const PAGE: &str = include_str!("../../assets/dashboard/index.html");
const SCRIPT: &str = include_str!("../../assets/dashboard/dashboard.js");
const CHARTS: &str = include_str!("../../assets/dashboard/charts.js");
const STYLE: &str = include_str!("../../assets/dashboard/dashboard.css");

/// Only the page's own scripts, styles and API; no framing, no inline code.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// The commissioner dashboard page: sign in, choose the period and practices, and see the
/// funnel, referrals over time, wellbeing change, GP appointments and spend against savings,
/// with suppressed figures shown as such and each chart's figures as CSV.
#[utoipa::path(
    tag = "dashboard",
    responses((status = 200, description = "The page", content_type = "text/html", body = String))
)]
#[get("/dashboard")]
pub async fn dashboard_page() -> HttpResponse {
    asset("text/html; charset=utf-8", PAGE)
}

/// The dashboard's script.
#[utoipa::path(
    tag = "dashboard",
    responses((status = 200, description = "The script", content_type = "text/javascript", body = String))
)]
#[get("/dashboard/dashboard.js")]
pub async fn dashboard_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The dashboard's charts, drawn as SVG.
#[utoipa::path(
    tag = "dashboard",
    responses((status = 200, description = "The script", content_type = "text/javascript", body = String))
)]
#[get("/dashboard/charts.js")]
pub async fn dashboard_charts() -> HttpResponse {
    asset("text/javascript; charset=utf-8", CHARTS)
}

/// The dashboard's styles.
#[utoipa::path(
    tag = "dashboard",
    responses((status = 200, description = "The styles", content_type = "text/css", body = String))
)]
#[get("/dashboard/dashboard.css")]
pub async fn dashboard_style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}
