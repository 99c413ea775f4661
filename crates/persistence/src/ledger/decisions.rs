//! What federation administrators do to charges: approve (posting fund → provider payable) or
//! reject pending charges, one or many at once and all or none, and reverse an approved charge
//! that has not been paid (provider payable → fund). The charge state machine decides each
//! change, on charges locked for the rest of the transaction.

use super::accounts::{self, PostError, Posting};
use super::charges::{self, ChargeRecord};
use super::settings;
use crate::error::StoreError;
use sqlx::PgConnection;
use std::collections::BTreeMap;
use uuid::Uuid;
use waymark_domain::ledger::{AccountKind, ChargeStatus, Entry, Pence, Transfer, TransferKind};
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

fn total(charges: &[ChargeRecord]) -> Result<Pence, DecisionError> {
    charges
        .iter()
        .try_fold(Pence::ZERO, |sum, c| sum.checked_add(c.amount()))
        .ok_or(DecisionError::Overflow)
}

/// Charges approved and marked so, whose money has yet to move. Post it as the last thing the
/// transaction does before it commits: the accounts it locks (the fund above all, which every
/// approval touches) are then held for as short a time as possible.
#[must_use = "an approval moves no money until it is posted, and cannot commit before"]
pub struct Approval {
    pub decided: Decided,
    posting: Posting<'static>,
    fund_overdraft_allowed: bool,
    by: Uuid,
}

impl Approval {
    /// Posts the approval's transfer (fund → provider payables); refused, with nothing
    /// posted, when the fund cannot pay and no overdraft is allowed.
    pub async fn post(
        self,
        conn: &mut PgConnection,
        federation: FederationId,
    ) -> Result<Decided, DecisionError> {
        accounts::post(
            conn,
            federation,
            &self.posting,
            self.by,
            self.fund_overdraft_allowed,
        )
        .await?;
        Ok(self.decided)
    }
}

/// Approves the pending charges `ids` (distinct), all or none, in one transfer: the fund is
/// debited the total and each provider's payable credited its share, so a shortfall is the
/// batch's. The charges are marked here; the money moves when the answer is posted.
pub async fn approve(
    conn: &mut PgConnection,
    federation: FederationId,
    ids: &[Uuid],
    reason: Option<&str>,
    by: Uuid,
) -> Result<Approval, DecisionError> {
    let locked = lock_for(conn, federation, ids, ChargeStatus::Approved).await?;
    let total = total(&locked)?;
    let mut owed: BTreeMap<Uuid, Pence> = BTreeMap::new();
    for charge in &locked {
        let share = owed.entry(charge.organisation_id).or_default();
        *share = share
            .checked_add(charge.amount())
            .ok_or(DecisionError::Overflow)?;
    }
    let overdraft = settings::lock(conn, federation)
        .await?
        .fund_overdraft_allowed;
    let fund = accounts::account_id(conn, federation, AccountKind::Fund, None).await?;
    let organisations: Vec<Uuid> = owed.keys().copied().collect();
    let payables = accounts::payable_ids(conn, federation, &organisations).await?;
    let mut entries = vec![Entry::debit(fund, total)];
    for (organisation, amount) in owed {
        let payable = payables.get(&organisation).ok_or(StoreError::NotFound)?;
        entries.push(Entry::credit(*payable, amount));
    }
    let transfer = Transfer::new(TransferKind::ChargeApproval, entries)
        .map_err(|e| StoreError::Database(sqlx::Error::Protocol(e.to_string())))?;
    let posting = Posting {
        charge: (locked.len() == 1).then(|| locked[0].id),
        description: Some("charge approval"),
        ..Posting::new(transfer)
    };
    let decided = charges::decide_all(
        conn,
        federation,
        ids,
        ChargeStatus::Approved,
        Some(posting.id),
        reason,
        by,
    )
    .await?;
    Ok(Approval {
        decided: Decided {
            transfer_id: Some(posting.id),
            amount: total,
            charges: decided,
        },
        posting,
        fund_overdraft_allowed: overdraft,
        by,
    })
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
