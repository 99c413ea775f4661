//! Counts of requests to a federation's public routes, per client address and one-minute window,
//! shared by every instance of the service.

use crate::error::StoreError;
use chrono::Utc;
use sqlx::PgConnection;
use std::net::IpAddr;
use std::time::Duration;
use waymark_domain::request_budget::WindowCount;
use waymark_domain::FederationId;

/// Counts one request from `address` to `federation`'s public routes, in the window it falls in
/// (the database's clock decides, so every instance agrees), and answers the window's count with
/// it. Concurrent requests from one address take turns on its row, so none goes uncounted.
pub async fn count(
    conn: &mut PgConnection,
    federation: FederationId,
    address: IpAddr,
) -> Result<WindowCount, StoreError> {
    // The window is a whole number worked out once, in VALUES, which a distributed write
    // evaluates on the coordinator: Citus lets nothing but immutable functions into DO UPDATE
    // or RETURNING (where a worker would evaluate them), and comparing integers is immutable.
    let row = sqlx::query!(
        r#"INSERT INTO public_request_windows AS w (federation_id, address, window_minute, requests)
           VALUES ($1, $2::text::inet, floor(extract(epoch FROM now()) / 60)::bigint, 1)
           ON CONFLICT (federation_id, address) DO UPDATE SET
               requests = CASE WHEN w.window_minute = EXCLUDED.window_minute
                               THEN w.requests + 1 ELSE 1 END,
               window_minute = EXCLUDED.window_minute
           RETURNING requests, window_minute"#,
        federation.as_uuid(),
        address.to_string(),
    )
    .fetch_one(&mut *conn)
    .await?;
    if row.requests == 1 {
        // A window just began, which happens for an address at most once a minute: a good
        // moment to forget this federation's windows that ended long ago.
        sqlx::query!(
            "DELETE FROM public_request_windows
             WHERE federation_id = $1 AND window_minute < $2",
            federation.as_uuid(),
            row.window_minute - 60,
        )
        .execute(&mut *conn)
        .await?;
    }
    // How far into the window this is, by this server's clock: a skew between it and the
    // database's moves only the Retry-After hint, never which window a request counts in.
    let started = row.window_minute.saturating_mul(60);
    let age_seconds = (Utc::now().timestamp() - started).clamp(0, 60);
    Ok(WindowCount {
        requests: u32::try_from(row.requests).unwrap_or(u32::MAX),
        age: Duration::from_secs(age_seconds as u64),
    })
}
