//! Provider statements for a period, as JSON or CSV.

use super::view;
use crate::auth::Caller;
use crate::csv::{text_cell, wants_csv};
use crate::csv_export;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use waymark_domain::{FederationId, OrganisationId};
use waymark_persistence::ledger::statements::{self, Section, StatementHead, StatementLine};
use waymark_persistence::{end_read, TenantScope, Tx};

#[derive(Serialize, ToSchema)]
pub struct StatementEntry {
    pub transfer_id: Uuid,
    /// `charge_approval`, `charge_reversal`, `payment`, `clawback` (a paid charge clawed back)
    /// or `clawback_netted` (what a payment netted off for clawbacks).
    pub kind: String,
    pub posted_at: DateTime<Utc>,
    /// In `entries`: positive when the provider is owed more, negative when paid, reversed or
    /// netted off. In `owed_back_entries`: positive when the provider owes more back (a
    /// clawback), negative when a payment recovered some of it.
    pub amount_pence: i64,
    pub charge_id: Option<Uuid>,
    pub service_name: Option<String>,
    pub activity_type: Option<String>,
    pub delivered_on: Option<NaiveDate>,
    pub quantity: Option<i32>,
    pub unit_pence: Option<i64>,
    pub payment_run_id: Option<Uuid>,
    /// Why a charge was clawed back.
    pub reason: Option<String>,
}

impl From<StatementLine> for StatementEntry {
    fn from(l: StatementLine) -> Self {
        Self {
            transfer_id: l.transfer_id,
            kind: l.kind,
            posted_at: l.posted_at,
            amount_pence: l.amount_pence,
            charge_id: l.charge_id,
            service_name: l.service_name,
            activity_type: l.activity_type,
            delivered_on: l.delivered_on,
            quantity: l.quantity,
            unit_pence: l.unit_pence,
            payment_run_id: l.payment_run_id,
            reason: l.reason,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProviderStatement {
    pub organisation_id: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[schema(example = "GBP")]
    pub currency: &'static str,
    /// What the federation owed the provider at the start of `from`.
    pub opening_balance_pence: i64,
    pub entries: Vec<StatementEntry>,
    /// What it owed at the end of `to`.
    pub closing_balance_pence: i64,
    /// What the provider owed back for clawbacks at the start of `from`.
    pub owed_back_opening_pence: i64,
    /// Clawbacks raised, and what payments netted off them.
    pub owed_back_entries: Vec<StatementEntry>,
    /// What it owed back at the end of `to`.
    pub owed_back_closing_pence: i64,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// The first day (UTC).
    pub from: NaiveDate,
    /// The last day (UTC), included; at most 366 days after `from`.
    pub to: NaiveDate,
    /// `json` (the default) or `csv`; `Accept: text/csv` also asks for CSV.
    #[param(schema_with = crate::csv::format_parameter)]
    pub format: Option<String>,
}

const CSV_HEADER: &str = "posted_at,kind,amount_pence,charge_id,service_name,activity_type,delivered_on,quantity,unit_pence,payment_run_id,transfer_id,reason";

fn csv_line(l: &StatementLine) -> String {
    let text = |v: Option<String>| v.map(|s| text_cell(&s)).unwrap_or_default();
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{}",
        l.posted_at.to_rfc3339(),
        l.kind,
        l.amount_pence,
        text(l.charge_id.map(|i| i.to_string())),
        text(l.service_name.clone()),
        text(l.activity_type.clone()),
        text(l.delivered_on.map(|d| d.to_string())),
        text(l.quantity.map(|q| q.to_string())),
        text(l.unit_pence.map(|u| u.to_string())),
        text(l.payment_run_id.map(|i| i.to_string())),
        l.transfer_id,
        text(l.reason.clone()),
    )
}

/// The statement as CSV, streamed: each section's opening row, its lines as they are read,
/// then its closing row, summed on the way.
fn stream_csv(
    slot: tokio::sync::OwnedSemaphorePermit,
    mut tx: Tx,
    federation: FederationId,
    head: StatementHead,
    from: NaiveDate,
    to: NaiveDate,
) -> HttpResponse {
    let filename = format!("statement-{}-{from}-{to}.csv", head.organisation);
    csv_export::stream(
        slot,
        &filename,
        CSV_HEADER,
        &[],
        move |mut out| async move {
            for (section, name, opening) in [
                (Section::Balance, "balance", head.opening_pence),
                (Section::OwedBack, "owed_back", head.owed_back_opening_pence),
            ] {
                out.line(&format!("{from},opening_{name},{opening},,,,,,,,,"))
                    .await?;
                let mut closing = opening;
                let mut lines = head.lines(&mut tx, federation, section);
                while let Some(line) = lines.next().await.transpose()? {
                    closing += line.amount_pence;
                    out.line(&csv_line(&line)).await?;
                }
                out.line(&format!("{to},closing_{name},{closing},,,,,,,,,"))
                    .await?;
            }
            end_read(tx);
            Ok(out)
        },
    )
}

#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(("organisation_id" = Uuid, Path, description = "The provider organisation"), StatementQuery),
    responses((status = 200, description = "The statement, as JSON, or as CSV (one row per entry between `opening_balance` and `closing_balance` rows, then clawbacks between `opening_owed_back` and `closing_owed_back`) with `format=csv` or `Accept: text/csv`", content(
        (ProviderStatement = "application/json"),
        (String = "text/csv"),
    )))
)]
#[get("/ledger/statements/{organisation_id}")]
pub async fn get_statement(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<Uuid>,
    query: web::Query<StatementQuery>,
) -> Result<HttpResponse, ApiError> {
    let (federation, view) = view(&caller)?;
    let organisation = path.into_inner();
    if !view.sees(OrganisationId::from(organisation)) {
        return Err(ApiError::NotFound);
    }
    if query.to < query.from || (query.to - query.from).num_days() > 366 {
        return Err(ApiError::bad_request(
            "invalid_query_parameter",
            "`to` must be on or after `from`, and at most 366 days later",
        ));
    }
    let csv = wants_csv(query.format.as_deref(), &req)?;
    if csv {
        let slot = state.exports.take()?;
        let mut tx = state.begin_snapshot(TenantScope::of(&caller)).await?;
        let head =
            statements::head(&mut tx, federation, organisation, query.from, query.to).await?;
        return Ok(stream_csv(slot, tx, federation, head, query.from, query.to));
    }
    let mut tx = state.begin_read(TenantScope::of(&caller)).await?;
    let found =
        statements::statement(&mut tx, federation, organisation, query.from, query.to).await?;
    end_read(tx);
    Ok(HttpResponse::Ok().json(ProviderStatement {
        organisation_id: organisation,
        from: query.from,
        to: query.to,
        currency: waymark_domain::ledger::money::CURRENCY,
        opening_balance_pence: found.opening_pence,
        entries: found.lines.into_iter().map(StatementEntry::from).collect(),
        closing_balance_pence: found.closing_pence,
        owed_back_opening_pence: found.owed_back_opening_pence,
        owed_back_entries: found
            .owed_back_lines
            .into_iter()
            .map(StatementEntry::from)
            .collect(),
        owed_back_closing_pence: found.owed_back_closing_pence,
    }))
}
