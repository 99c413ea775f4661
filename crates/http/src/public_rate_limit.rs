//! A per-address request budget for the public (unauthenticated) routes, which anyone can call.

use crate::problem::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// Requests allowed per client address per minute, counted in fixed one-minute windows.
pub struct PublicRateLimit {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl PublicRateLimit {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request from `address` at `now`; `Err(wait)` when its budget is spent.
    pub fn admit(&self, address: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > 100_000 {
            // Forget finished windows rather than grow without bound under a scan of addresses.
            windows.retain(|_, (started, _)| now.duration_since(*started) < WINDOW);
        }
        let (started, count) = windows.entry(address).or_insert((now, 0));
        if now.duration_since(*started) >= WINDOW {
            *started = now;
            *count = 0;
        }
        if *count >= self.per_minute {
            return Err(WINDOW
                .saturating_sub(now.duration_since(*started))
                .max(Duration::from_secs(1)));
        }
        *count += 1;
        Ok(())
    }
}

pub async fn limit_public_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let limiter = req.app_data::<web::Data<PublicRateLimit>>().cloned();
    let address = req.peer_addr().map(|a| a.ip());
    if let (Some(limiter), Some(address)) = (limiter, address) {
        if let Err(retry_after) = limiter.admit(address, Instant::now()) {
            let response = actix_web::ResponseError::error_response(&ApiError::TooManyRequests {
                retry_after,
            });
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_budget_per_minute() {
        let limiter = PublicRateLimit::new(2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let start = Instant::now();
        assert!(limiter.admit(a, start).is_ok());
        assert!(limiter.admit(a, start).is_ok());
        let wait = limiter
            .admit(a, start + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(limiter.admit(b, start).is_ok());
        assert!(limiter.admit(a, start + Duration::from_secs(60)).is_ok());
    }
}
