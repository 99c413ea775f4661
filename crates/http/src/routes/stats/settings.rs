//! A federation's statistics settings: its disclosure control and the unit cost of a GP
//! consultation its savings are estimated at.

use super::reader;
use crate::auth::Caller;
use crate::concurrency::{with_etag, IfMatch, IfMatchHeader};
use crate::json_body::JsonBody;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use waymark_domain::stats::settings::MAX_GP_CONSULTATION_PENCE;
use waymark_domain::stats::{DisclosurePolicy, StatsSettings};
use waymark_domain::ValidationErrors;
use waymark_persistence::stats::settings;
use waymark_persistence::{commit, end_read, TenantScope};

#[derive(Serialize, ToSchema)]
pub struct StatsSettingsView {
    /// Counts from 1 to this are suppressed (7 by NHS Digital's method; never less).
    #[schema(example = 7)]
    pub suppress_up_to: u64,
    /// Other counts are rounded to the nearest multiple of this (5 by NHS Digital's method;
    /// never less).
    #[schema(example = 5)]
    pub round_to: u64,
    /// Whether suppressed cells of tables with totals are protected by suppressing others.
    pub secondary_suppression: bool,
    /// The unit cost of a GP consultation savings are estimated at, in pence (the Unit Costs
    /// of Health and Social Care 2025: £48 for a 10-minute surgery consultation).
    #[schema(example = 4800)]
    pub gp_consultation_pence: i64,
}

impl From<StatsSettings> for StatsSettingsView {
    fn from(s: StatsSettings) -> Self {
        Self {
            suppress_up_to: s.policy.suppress_up_to(),
            round_to: s.policy.round_to(),
            secondary_suppression: s.policy.secondary(),
            gp_consultation_pence: s.gp_consultation_pence,
        }
    }
}

/// The whole of the settings: each field is required.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatsSettingsBody {
    /// At least 7, at most 1000.
    #[schema(minimum = 7, maximum = 1000)]
    pub suppress_up_to: i64,
    /// At least 5, at most 1000.
    #[schema(minimum = 5, maximum = 1000)]
    pub round_to: i64,
    pub secondary_suppression: bool,
    /// From 0 to 100000000 (£1,000,000).
    #[schema(minimum = 0, maximum = 100000000)]
    pub gp_consultation_pence: i64,
}

impl StatsSettingsBody {
    fn parse(&self) -> Result<StatsSettings, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if !(7..=1000).contains(&self.suppress_up_to) {
            errors.add(
                "suppress_up_to",
                "out_of_range",
                "counts up to at least 7 (NHS Digital's threshold) and at most 1000 are suppressed",
            );
        }
        if !(5..=1000).contains(&self.round_to) {
            errors.add(
                "round_to",
                "out_of_range",
                "counts are rounded to a multiple of at least 5 (NHS Digital's) and at most 1000",
            );
        }
        if !(0..=MAX_GP_CONSULTATION_PENCE).contains(&self.gp_consultation_pence) {
            errors.add(
                "gp_consultation_pence",
                "out_of_range",
                format!("from 0 to {MAX_GP_CONSULTATION_PENCE} pence"),
            );
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let policy = DisclosurePolicy::new(
            self.suppress_up_to as u64,
            self.round_to as u64,
            self.secondary_suppression,
        )
        .map_err(|e| ValidationErrors::single("suppress_up_to", "out_of_range", e.to_string()))?;
        Ok(StatsSettings {
            policy,
            gp_consultation_pence: self.gp_consultation_pence,
        })
    }
}

/// The federation's statistics settings (statistics readers).
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    responses((status = 200, description = "The settings", body = StatsSettingsView, headers(("ETag" = String))))
)]
#[get("/stats/settings")]
pub async fn get_stats_settings(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let federation = reader(&caller)?;
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let found = settings::find(&mut tx, federation).await?;
    end_read(tx);
    Ok(with_etag(HttpResponse::Ok(), found.version).json(StatsSettingsView::from(found.settings)))
}

/// Replaces the federation's statistics settings (federation administrators). A policy can be
/// made stricter than NHS Digital's, never looser. Needs `If-Match`.
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    params(IfMatchHeader),
    request_body = StatsSettingsBody,
    responses((status = 200, description = "Replaced", body = StatsSettingsView, headers(("ETag" = String))))
)]
#[put("/stats/settings")]
pub async fn replace_stats_settings(
    state: web::Data<AppState>,
    caller: Caller,
    if_match: IfMatch,
    body: JsonBody<StatsSettingsBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(
        caller.is_federation_admin(),
        "only federation administrators change the statistics settings",
    )?;
    let federation = caller.federation()?;
    let expected = if_match.version()?;
    let wanted = body.0.parse()?;
    let mut tx = state.begin(TenantScope::of(&caller)).await?;
    let changed = settings::update(&mut tx, federation, expected, wanted, caller.subject).await?;
    commit(tx).await?;
    Ok(with_etag(HttpResponse::Ok(), changed.version)
        .json(StatsSettingsView::from(changed.settings)))
}
