//! The shared counts behind rate limits (`waymark_domain::rate_limit`): per key, the requests
//! leased in the current window, which every instance adds its leases to.

use crate::error::StoreError;
use crate::tenant::{begin_tally, commit, TenantScope};
use sqlx::PgPool;
use waymark_domain::rate_limit::WINDOW_SECONDS;

/// The key's window after a lease was added to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseCount {
    /// Whole windows since the Unix epoch, by the database's clock.
    pub window: i64,
    /// Requests leased in the window so far, this lease included.
    pub asked_in_window: u64,
}

/// Adds a lease of `asked` requests to `key`'s count in the current window (starting the
/// window afresh when the last lease was in an earlier one; a lease whose transaction began
/// just before a window another lease has already started counts in that newer window), and
/// answers the count with it.
/// Concurrent leases on one key take turns on its row, so each sees the count its own lease
/// made. The database's clock decides the window, so every instance agrees on it; the commit
/// does not wait for the disk (a crash may forget the last moment's leases, which only lets a
/// few more requests through in that one window).
pub async fn lease(pool: &PgPool, key: &str, asked: u32) -> Result<LeaseCount, StoreError> {
    let mut tx = begin_tally(pool, TenantScope::none()).await?;
    // The window is a whole number worked out once, in VALUES, which a write to a reference
    // table on Citus evaluates on the coordinator: nothing but immutable functions may go into
    // its DO UPDATE or RETURNING.
    let row = sqlx::query!(
        r#"INSERT INTO rate_limit_windows AS w (key, window_index, asked)
           VALUES ($1, floor(extract(epoch FROM now()) / $3)::bigint, $2)
           ON CONFLICT (key) DO UPDATE SET
               asked = CASE WHEN w.window_index >= EXCLUDED.window_index
                            THEN w.asked + EXCLUDED.asked ELSE EXCLUDED.asked END,
               window_index = greatest(w.window_index, EXCLUDED.window_index)
           RETURNING window_index, asked"#,
        key,
        i64::from(asked),
        WINDOW_SECONDS as f64,
    )
    .fetch_one(&mut *tx)
    .await?;
    commit(tx).await?;
    Ok(LeaseCount {
        window: row.window_index,
        asked_in_window: u64::try_from(row.asked).unwrap_or(0),
    })
}

/// Forgets the counts of windows that ended before the last one.
pub async fn forget_ended(pool: &PgPool) -> Result<u64, StoreError> {
    let mut tx = begin_tally(pool, TenantScope::none()).await?;
    let deleted = sqlx::query!(
        "DELETE FROM rate_limit_windows
         WHERE window_index < floor(extract(epoch FROM now()) / $1)::bigint - 1",
        WINDOW_SECONDS as f64,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    commit(tx).await?;
    Ok(deleted)
}
