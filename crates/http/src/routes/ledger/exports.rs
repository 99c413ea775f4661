//! The ledger's transfers as CSV, streamed from the database, for finance systems: every entry
//! of every transfer, so each row says which account moved how much and why.

use super::whole_ledger;
use crate::auth::Caller;
use crate::csv::text_cell;
use crate::csv_export;
use crate::problem::ApiError;
use crate::state::AppState;
use actix_web::{get, web, HttpResponse};
use chrono::NaiveDate;
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;
use waymark_persistence::ledger::accounts;
use waymark_persistence::{end_read, TenantScope};

const HEADER: &str = "transfer_id,created_at,kind,transfer_amount_pence,organisation_id,charge_id,payment_run_id,description,created_by,side,account_id,account_kind,amount_pence";

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TransferExportQuery {
    /// Only transfers made on or after this day (UTC).
    pub from: Option<NaiveDate>,
    /// Only transfers made on or before this day (UTC).
    pub to: Option<NaiveDate>,
}

/// Every entry of the federation's transfers as CSV, oldest transfer first (debits, then
/// credits), streamed (federation administrators, `ledger:read` service accounts). A transfer's
/// entries balance: its debits and its credits each sum to `transfer_amount_pence`. Amounts in
/// pence.
#[utoipa::path(
    tag = "ledger",
    security(("bearer" = [])),
    params(TransferExportQuery),
    responses((status = 200, description = "One row per entry after a header row: transfer_id, created_at, kind, transfer_amount_pence, organisation_id, charge_id, payment_run_id, description, created_by, side, account_id, account_kind, amount_pence", content_type = "text/csv", body = String))
)]
#[get("/ledger/transfers/export")]
pub async fn export_transfers(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<TransferExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let federation = whole_ledger(&caller)?;
    if let (Some(from), Some(to)) = (query.from, query.to) {
        if to < from {
            return Err(ApiError::bad_request(
                "invalid_query_parameter",
                format!("to ({to}) is before from ({from})"),
            ));
        }
    }
    let start = |day: NaiveDate| day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let from = query.from.map(start);
    let to = query
        .to
        .map(|to| start(to.succ_opt().unwrap_or(NaiveDate::MAX)));
    let slot = state.exports.take()?;
    let mut tx = state.begin_snapshot(TenantScope::of(&caller)).await?;
    Ok(csv_export::stream(
        slot,
        "ledger-transfers.csv",
        HEADER,
        &[],
        move |mut out| async move {
            let mut rows = accounts::transfer_entries(&mut tx, federation, from, to);
            while let Some(e) = rows.next().await.transpose()? {
                let id = |v: Option<uuid::Uuid>| v.map(|i| i.to_string()).unwrap_or_default();
                out.line(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    e.transfer_id,
                    e.created_at.to_rfc3339(),
                    e.kind,
                    e.transfer_amount_pence,
                    id(e.organisation_id),
                    id(e.charge_id),
                    id(e.payment_run_id),
                    e.description.as_deref().map(text_cell).unwrap_or_default(),
                    e.created_by,
                    e.side,
                    e.account_id,
                    e.account_kind,
                    e.amount_pence,
                ))
                .await?;
            }
            drop(rows);
            end_read(tx);
            Ok(out)
        },
    ))
}
