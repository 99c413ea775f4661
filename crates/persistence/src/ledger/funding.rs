//! Commissioner funding paid into the programme fund.

use super::accounts::{self, PostError, Posting, TransferRecord};
use crate::error::StoreError;
use sqlx::PgConnection;
use uuid::Uuid;
use waymark_domain::ledger::{AccountKind, Pence, Transfer, TransferKind};
use waymark_domain::FederationId;

/// Posts a top-up (commissioner → fund) and answers the transfer as recorded.
pub async fn top_up(
    conn: &mut PgConnection,
    federation: FederationId,
    amount: Pence,
    reference: &str,
    by: Uuid,
) -> Result<TransferRecord, PostError> {
    let commissioner =
        accounts::account_id(conn, federation, AccountKind::Commissioner, None).await?;
    let fund = accounts::account_id(conn, federation, AccountKind::Fund, None).await?;
    let transfer = Transfer::simple(TransferKind::TopUp, commissioner, fund, amount)
        .map_err(|e| StoreError::Database(sqlx::Error::Protocol(e.to_string())))?;
    let posting = Posting {
        description: Some(reference),
        ..Posting::new(transfer)
    };
    // Crediting the fund never needs an overdraft; the commissioner's account goes negative by
    // nature.
    accounts::post(conn, federation, &posting, by, false).await?;
    Ok(accounts::transfer(conn, federation, posting.id).await?)
}
