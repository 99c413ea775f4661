//! What federation administrators do to charges besides approving them (see `approvals`):
//! reject pending charges, one or many at once and all or none, and reverse an approved charge
//! that has not been paid (provider payable → fund). The charge state machine decides each
//! change, on charges locked for the rest of the transaction.

use super::accounts::{self, PostError, Posting};
use super::charges::{self, ChargeRecord};
use crate::error::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::ledger::{AccountKind, ChargeStatus, Pence, Transfer, TransferKind};
use waymark_domain::FederationId;

/// What a decision did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    /// The transfer that moved the money, for approvals and reversals.
    pub transfer_id: Option<Uuid>,
    /// The total moved (nothing for rejections).
    pub amount: Pence,
    pub charges: Vec<ChargeRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("no charge {0} in this federation")]
    UnknownCharge(Uuid),
    #[error("charge {charge} is {from} and cannot become {to}")]
    IllegalTransition {
        charge: Uuid,
        from: ChargeStatus,
        to: ChargeStatus,
    },
    #[error("the charges' total overflows")]
    Overflow,
    #[error(transparent)]
    Post(#[from] PostError),
}

impl From<StoreError> for DecisionError {
    fn from(e: StoreError) -> Self {
        DecisionError::Post(PostError::Store(e))
    }
}

/// Locks the charges and checks that each may become `to`.
async fn lock_for(
    conn: &mut PgConnection,
    federation: FederationId,
    ids: &[Uuid],
    to: ChargeStatus,
) -> Result<Vec<ChargeRecord>, DecisionError> {
    let locked = charges::lock(conn, federation, ids).await?;
    if let Some(missing) = ids.iter().find(|id| !locked.iter().any(|c| c.id == **id)) {
        return Err(DecisionError::UnknownCharge(*missing));
    }
    for charge in &locked {
        charge
            .status
            .transition(to)
            .map_err(|_| DecisionError::IllegalTransition {
                charge: charge.id,
                from: charge.status,
                to,
            })?;
    }
    Ok(locked)
}

/// Rejects the pending charges `ids` (distinct), all or none; no money moves.
pub async fn reject(
    conn: &mut PgConnection,
    federation: FederationId,
    ids: &[Uuid],
    reason: &str,
    by: Uuid,
) -> Result<Decided, DecisionError> {
    lock_for(conn, federation, ids, ChargeStatus::Rejected).await?;
    let decided = charges::decide_all(
        conn,
        federation,
        ids,
        ChargeStatus::Rejected,
        None,
        Some(reason),
        by,
    )
    .await?;
    Ok(Decided {
        transfer_id: None,
        amount: Pence::ZERO,
        charges: decided,
    })
}

/// Takes back an approved charge that has not been paid, with a reversing transfer (provider
/// payable → fund); nothing is ever deleted.
pub async fn reverse(
    conn: &mut PgConnection,
    federation: FederationId,
    id: Uuid,
    reason: &str,
    by: Uuid,
) -> Result<Decided, DecisionError> {
    let locked = lock_for(conn, federation, &[id], ChargeStatus::Reversed).await?;
    let charge = &locked[0];
    let fund = accounts::account_id(conn, federation, AccountKind::Fund, None).await?;
    let payable = *accounts::payable_ids(conn, federation, &[charge.organisation_id])
        .await?
        .get(&charge.organisation_id)
        .ok_or(StoreError::NotFound)?;
    let transfer = Transfer::simple(TransferKind::ChargeReversal, payable, fund, charge.amount())
        .map_err(|e| StoreError::Database(sqlx::Error::Protocol(e.to_string())))?;
    let posting = Posting {
        charge: Some(charge.id),
        description: Some(reason),
        ..Posting::new(transfer)
    };
    let decided = charges::decide_all(
        conn,
        federation,
        &[id],
        ChargeStatus::Reversed,
        Some(posting.id),
        Some(reason),
        by,
    )
    .await?;
    // A reversal credits the fund and debits only a payable, which the overdraft rule does
    // not concern.
    accounts::post(conn, federation, &posting, by, false).await?;
    Ok(Decided {
        transfer_id: Some(posting.id),
        amount: charge.amount(),
        charges: decided,
    })
}
