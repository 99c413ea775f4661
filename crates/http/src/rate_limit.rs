//! Rate limits on the API, per token subject and per client address (and per client address on
//! each federation's public routes), shared by every instance through the database
//! (`waymark_domain::rate_limit` says how, without a round trip per request). Every answer
//! carries the IETF `RateLimit-Policy` and `RateLimit` fields for the policies that applied;
//! a refusal is `429 too_many_requests` with `Retry-After`.

use crate::auth::TokenService;
use crate::client_address;
use crate::problem::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use waymark_domain::rate_limit::{
    until_end_of, window_of, Admission, Allowance, RatePolicy, WINDOW_SECONDS,
};
use waymark_persistence::{rate_limits, PgPool, StoreError};

pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Keys an instance holds allowances for before it forgets those of ended windows.
const MAX_HELD_KEYS: usize = 100_000;

/// The policies in force (a quota of 0 in the settings turns a policy off).
#[derive(Clone, Copy, Debug, Default)]
pub struct RatePolicies {
    /// Per token subject (a user or a service account), on `/v1`.
    pub subject: Option<RatePolicy>,
    /// Per client address, on `/v1`, signed in or not.
    pub address: Option<RatePolicy>,
    /// Per client address and federation, on the public Open Referral UK routes.
    pub public: Option<RatePolicy>,
}

impl RatePolicies {
    pub fn per_minute(subject: u32, address: u32, public: u32) -> Self {
        let policy = |name, quota| (quota > 0).then_some(RatePolicy { name, quota });
        Self {
            subject: policy("subject", subject),
            address: policy("address", address),
            public: policy("public", public),
        }
    }
}

/// Where a key stands in its policy after a request.
#[derive(Clone, Copy, Debug)]
pub struct Standing {
    pub policy: RatePolicy,
    pub remaining: u32,
    pub reset: Duration,
}

/// What this instance holds of each key's shared count.
pub struct RateLimiter {
    pool: PgPool,
    pub policies: RatePolicies,
    held: Mutex<HashMap<String, Allowance>>,
    /// One lease at a time per key: requests that find nothing held while a lease is on its
    /// way wait for it rather than each asking the database (a window's first moment would
    /// otherwise send every waiting request to queue on the key's row).
    leasing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A request refused by `standing`'s policy.
pub struct Refused(pub Standing);

impl RateLimiter {
    pub fn new(pool: PgPool, policies: RatePolicies) -> Self {
        Self {
            pool,
            policies,
            held: Mutex::new(HashMap::new()),
            leasing: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `key` against `policy`: served from what this instance holds, or
    /// from a new lease of the shared count when it holds nothing for the window.
    pub async fn admit(
        &self,
        policy: RatePolicy,
        key: String,
    ) -> Result<Result<Standing, Refused>, StoreError> {
        let now = unix_now();
        if let Some(answer) = self.take(&key, policy, window_of(now), now) {
            return Ok(answer);
        }
        let lease_lock = self.lease_lock(&key);
        let _leasing = lease_lock.lock().await;
        let now = unix_now();
        if let Some(answer) = self.take(&key, policy, window_of(now), now) {
            return Ok(answer);
        }
        let asked = policy.lease_size();
        let count = rate_limits::lease(&self.pool, &key, asked).await?;
        let grant = policy.granted(asked, count.asked_in_window);
        let mut held = self.lock();
        let allowance = held.entry(key).or_insert(Allowance {
            window: count.window,
            leased: 0,
            unleased: grant.left_in_window,
        });
        allowance.add(count.window, grant);
        let reset = until_end_of(count.window, now);
        Ok(match allowance.take(count.window) {
            Admission::Admitted { remaining } => Ok(Standing {
                policy,
                remaining,
                reset,
            }),
            Admission::Refused | Admission::Lease => Err(Refused(Standing {
                policy,
                remaining: 0,
                reset,
            })),
        })
    }

    /// The answer from what is held, or `None` when a lease is needed. A window the database
    /// has already begun counts as current even if this instance's clock has not reached it.
    fn take(
        &self,
        key: &str,
        policy: RatePolicy,
        window: i64,
        now: u64,
    ) -> Option<Result<Standing, Refused>> {
        let mut held = self.lock();
        let allowance = held.get_mut(key)?;
        let window = window.max(allowance.window);
        let reset = until_end_of(window, now);
        match allowance.take(window) {
            Admission::Admitted { remaining } => Some(Ok(Standing {
                policy,
                remaining,
                reset,
            })),
            Admission::Refused => Some(Err(Refused(Standing {
                policy,
                remaining: 0,
                reset,
            }))),
            Admission::Lease => None,
        }
    }

    fn lease_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut leasing = self
            .leasing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if leasing.len() >= MAX_HELD_KEYS {
            // Locks no lease holds or waits for.
            leasing.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        leasing.entry(key.to_owned()).or_default().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Allowance>> {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if held.len() >= MAX_HELD_KEYS {
            let current = window_of(unix_now());
            held.retain(|_, allowance| allowance.window >= current);
        }
        held
    }

    /// Forgets the shared counts of ended windows once a window, for as long as the runtime
    /// runs (every instance does; the deletes are idempotent).
    pub fn spawn_cleanup(pool: PgPool) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(WINDOW_SECONDS));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = rate_limits::forget_ended(&pool).await {
                    tracing::debug!(%error, "ended rate-limit windows not yet forgotten");
                }
            }
        })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Counts `key` against `policy`, adding its standing to `standings`; `Err` is the refusal to
/// answer with. When the database cannot be asked, the request goes ahead uncounted: it will
/// meet the database itself, and answer 503 if it is away.
pub async fn count(
    limiter: &RateLimiter,
    policy: Option<RatePolicy>,
    key: impl FnOnce() -> Option<String>,
    standings: &mut Vec<Standing>,
) -> Result<(), ApiError> {
    let (Some(policy), Some(key)) = (policy, key()) else {
        return Ok(());
    };
    match limiter.admit(policy, key).await {
        Ok(Ok(standing)) => {
            standings.push(standing);
            Ok(())
        }
        Ok(Err(Refused(standing))) => {
            standings.push(standing);
            Err(ApiError::RateLimited {
                policy: standing.policy.name,
                quota: standing.policy.quota,
                retry_after: standing.reset,
            })
        }
        Err(error) => {
            tracing::debug!(%error, "rate limit not counted; the database is out of reach");
            Ok(())
        }
    }
}

/// `RateLimit-Policy` and `RateLimit` for the policies that applied (IETF
/// draft-ietf-httpapi-ratelimit-headers: `"name";q=quota;w=window` and `"name";r=remaining;t=reset`).
pub fn add_headers(headers: &mut HeaderMap, standings: &[Standing]) {
    if standings.is_empty() {
        return;
    }
    let policies = standings
        .iter()
        .map(|s| {
            format!(
                "\"{}\";q={};w={WINDOW_SECONDS}",
                s.policy.name, s.policy.quota
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let limits = standings
        .iter()
        .map(|s| {
            format!(
                "\"{}\";r={};t={}",
                s.policy.name,
                s.remaining,
                s.reset.as_secs()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    if let (Ok(policies), Ok(limits)) = (
        HeaderValue::from_str(&policies),
        HeaderValue::from_str(&limits),
    ) {
        headers.insert(RATELIMIT_POLICY, policies);
        headers.insert(RATELIMIT, limits);
    }
}

/// The subject of the request's bearer token, when it carries one that verifies (one that does
/// not is the handler's to refuse; it is counted by address alone).
fn bearer_subject(req: &ServiceRequest) -> Option<String> {
    let tokens = req.app_data::<web::Data<TokenService>>()?;
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let verified = tokens.verify_issued(token.trim()).ok()?;
    Some(format!("subject:{}", verified.principal.subject))
}

/// The `/v1` API's limits: per client address, then per token subject.
pub async fn limit_api_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(limiter) = req.app_data::<web::Data<RateLimiter>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let mut standings = Vec::new();
    let counted = async {
        count(
            &limiter,
            limiter.policies.address,
            || client_address::of_service_request(&req).map(|a| format!("address:{a}")),
            &mut standings,
        )
        .await?;
        count(
            &limiter,
            limiter.policies.subject,
            || bearer_subject(&req),
            &mut standings,
        )
        .await
    }
    .await;
    respond(req, next, counted, &standings).await
}

/// Calls the handler when `counted` let the request through, and adds the rate-limit fields
/// to whatever is answered.
pub async fn respond<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
    counted: Result<(), ApiError>,
    standings: &[Standing],
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    match counted {
        Ok(()) => {
            let mut response = next.call(req).await?;
            add_headers(response.headers_mut(), standings);
            Ok(response.map_into_left_body())
        }
        Err(error) => {
            let mut response = actix_web::ResponseError::error_response(&error);
            add_headers(response.headers_mut(), standings);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}
