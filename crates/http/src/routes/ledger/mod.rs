//! The federation's payment ledger under `/v1/ledger/…`: tariffs, charges and their approval,
//! clawbacks of paid charges, funding, payment runs with remittances, and statements. Federation
//! administrators move the money; `ledger:read` service accounts read all of it; a provider reads
//! only its own part; everyone else gets 403.

pub mod charges;
pub mod clawbacks;
pub mod exports;
pub mod funding;
pub mod payment_runs;
pub mod statements;
pub mod tariffs;

use crate::auth::Caller;
use crate::problem::ApiError;
use waymark_domain::ledger::access::{ledger_view, LedgerView};
use waymark_domain::FederationId;
use waymark_persistence::ledger::accounts::PostError;

/// The federation of a caller who runs its ledger.
pub fn administration(caller: &Caller) -> Result<FederationId, ApiError> {
    match ledger_view(caller) {
        LedgerView::Administration => caller.federation(),
        _ => Err(ApiError::Forbidden(
            "only federation administrators move the ledger's money",
        )),
    }
}

/// The federation of a caller who reads its whole ledger: its administrators, and service
/// accounts granted `ledger:read`.
pub fn whole_ledger(caller: &Caller) -> Result<FederationId, ApiError> {
    match ledger_view(caller) {
        LedgerView::Administration | LedgerView::Reader => caller.federation(),
        _ => Err(ApiError::Forbidden(
            "the whole ledger is for federation administrators and ledger:read service accounts",
        )),
    }
}

/// The caller's view of the ledger, for the routes providers may read.
pub fn view(caller: &Caller) -> Result<(FederationId, LedgerView), ApiError> {
    match ledger_view(caller) {
        LedgerView::None => Err(ApiError::Forbidden(
            "the ledger is for federation administrators, ledger:read service accounts and, for their own part, providers",
        )),
        view => Ok((caller.federation()?, view)),
    }
}

impl From<PostError> for ApiError {
    fn from(error: PostError) -> Self {
        match error {
            PostError::InsufficientFunds(e) => ApiError::InsufficientFunds {
                detail: format!(
                    "{e}; top up the fund, or allow the fund an overdraft in the ledger settings"
                ),
                shortfall_pence: e.shortfall.0,
            },
            PostError::Store(e) => e.into(),
        }
    }
}

/// Money in responses: pence, with the currency named.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Money {
    #[schema(example = 1500)]
    pub pence: i64,
    #[schema(example = "GBP")]
    pub currency: &'static str,
}

impl Money {
    pub fn pence(pence: i64) -> Self {
        Self {
            pence,
            currency: waymark_domain::ledger::money::CURRENCY,
        }
    }
}
