//! Delivering webhooks: every instance makes the deliveries owed from the change feed and
//! attempts those due, signed per the Standard Webhooks specification. State lives in the
//! database (`persistence::webhooks`), so a restart loses nothing and several instances share
//! the work without making the same attempt twice.
//!
//! Deliveries go only to addresses on the public internet, unless
//! `WAYMARK_WEBHOOKS_ALLOWED_NETWORKS` names a block: an address written in the URL is checked
//! before sending, a host name as it resolves for each attempt (so a name that later resolves
//! inside the network is refused then). Redirects are not followed, proxies from the
//! environment are not used, and each attempt has a time limit.

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use waymark_domain::network::{deliverable, AddressBlock};
use waymark_domain::webhooks::{
    signature_header, AttemptOutcome, RetrySchedule, WebhookSecret, WebhookUrl,
};
use waymark_domain::FederationId;
use waymark_persistence::events::EventRow;
use waymark_persistence::webhooks::{self, AttemptMade, DueDelivery};
use waymark_persistence::{commit, end_read, PgPool, StoreError};

/// Deliveries attempted at once, per federation and instance.
const ATTEMPTS_AT_ONCE: i64 = 16;

/// How this instance delivers.
#[derive(Clone, Debug)]
pub struct DeliverySettings {
    /// How often to look for work (zero: this instance delivers nothing).
    pub interval: Duration,
    /// The most an attempt may take.
    pub timeout: Duration,
    /// Blocks that may be delivered to although they are not public.
    pub allowed_networks: Vec<AddressBlock>,
    pub retries: RetrySchedule,
    /// How long finished deliveries are listed before they are forgotten.
    pub retention: chrono::Duration,
}

/// Renders an event as a delivery's body.
pub type RenderPayload = fn(&EventRow) -> String;

/// Finds the addresses of a host, keeping only those a webhook may be delivered to.
struct GuardedResolver {
    allowed: Arc<Vec<AddressBlock>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let deliverable: Vec<SocketAddr> = found
                .into_iter()
                .filter(|address| deliverable(address.ip(), &allowed))
                .collect();
            if deliverable.is_empty() {
                return Err(
                    format!("{host} resolves to no address webhooks may be delivered to").into(),
                );
            }
            let addrs: Addrs = Box::new(deliverable.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether `url` may be delivered to now: its address, or what its host resolves to, is one
/// webhooks may reach. `Err` says why not.
pub async fn check_destination(url: &WebhookUrl, allowed: &[AddressBlock]) -> Result<(), String> {
    if let Some(address) = url.literal_address() {
        return if deliverable(address, allowed) {
            Ok(())
        } else {
            Err(format!(
                "{address} is not on the public internet; webhooks are not delivered there"
            ))
        };
    }
    let host = url.host();
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), url.port()))
        .await
        .map_err(|e| format!("{host} does not resolve: {e}"))?
        .collect();
    if found.iter().any(|a| deliverable(a.ip(), allowed)) {
        Ok(())
    } else {
        Err(format!(
            "{host} resolves only to addresses that are not on the public internet; webhooks are not delivered there"
        ))
    }
}

/// Makes attempts.
pub struct Sender {
    client: reqwest::Client,
    allowed: Arc<Vec<AddressBlock>>,
}

/// What an attempt came to.
struct Answer {
    status: Option<u16>,
    retry_after: Option<Duration>,
    error: Option<String>,
    took: Duration,
}

impl Sender {
    pub fn new(settings: &DeliverySettings) -> Result<Self, String> {
        let allowed = Arc::new(settings.allowed_networks.clone());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .dns_resolver(Arc::new(GuardedResolver {
                allowed: allowed.clone(),
            }))
            .user_agent(concat!("Waymark-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the webhook client cannot be built: {e}"))?;
        Ok(Self { client, allowed })
    }

    /// One attempt at `delivery`, signed at `timestamp` by its endpoint's secrets in force.
    async fn attempt(&self, delivery: &DueDelivery, timestamp: i64) -> Answer {
        let started = Instant::now();
        let refused = |error: String| Answer {
            status: None,
            retry_after: None,
            error: Some(error),
            took: started.elapsed(),
        };
        let url = match WebhookUrl::parse(&delivery.url) {
            Ok(url) => url,
            Err(e) => return refused(format!("the endpoint's address is not usable: {e}")),
        };
        if let Some(address) = url.literal_address() {
            if !deliverable(address, &self.allowed) {
                return refused(format!(
                    "{address} is not on the public internet; not delivered"
                ));
            }
        }
        let mut secrets = Vec::with_capacity(2);
        for secret in std::iter::once(&delivery.secret).chain(delivery.previous_secret.as_ref()) {
            match WebhookSecret::parse(secret) {
                Ok(secret) => secrets.push(secret),
                Err(e) => return refused(format!("the endpoint's secret is not usable: {e}")),
            }
        }
        let id = delivery.event_id.to_string();
        let body = delivery.payload.clone().into_bytes();
        let signature =
            signature_header(&secrets.iter().collect::<Vec<_>>(), &id, timestamp, &body);
        let sent = self
            .client
            .post(url.as_str())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Answer {
                    status: Some(status),
                    retry_after,
                    error: (!(200..300).contains(&status)).then(|| {
                        if (300..400).contains(&status) {
                            format!("answered {status}; redirects are not followed")
                        } else {
                            format!("answered {status}")
                        }
                    }),
                    took: started.elapsed(),
                }
            }
            Err(error) => refused(if error.is_timeout() {
                "no answer in time".to_owned()
            } else if error.is_connect() {
                format!("could not connect: {}", source_of(&error))
            } else {
                error.without_url().to_string()
            }),
        }
    }
}

/// The innermost cause of a client error, which says what actually went wrong.
fn source_of(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Makes one federation's owed deliveries and attempts those due, until none are.
async fn serve_federation(
    pool: &PgPool,
    sender: &Sender,
    settings: &DeliverySettings,
    federation: FederationId,
    render: RenderPayload,
) -> Result<(), StoreError> {
    let enqueued = webhooks::enqueue(pool, federation, &render).await?;
    if enqueued.deliveries > 0 {
        tracing::debug!(%federation, deliveries = enqueued.deliveries, "webhook deliveries made");
    }
    if enqueued.endpoints == 0 {
        // A federation without enabled endpoints (or whose endpoints another instance is
        // serving just now) has nothing due here.
        return Ok(());
    }
    loop {
        let (mut tx, due) = webhooks::take_due(pool, federation, ATTEMPTS_AT_ONCE).await?;
        if due.is_empty() {
            end_read(tx);
            return Ok(());
        }
        let now = Utc::now();
        let answers =
            futures_util::future::join_all(due.iter().map(|d| sender.attempt(d, now.timestamp())))
                .await;
        for (delivery, answer) in due.iter().zip(answers) {
            record(&mut tx, settings, federation, delivery, answer, now).await?;
        }
        commit(tx).await?;
        if (due.len() as i64) < ATTEMPTS_AT_ONCE {
            return Ok(());
        }
    }
}

async fn record(
    tx: &mut waymark_persistence::Tx,
    settings: &DeliverySettings,
    federation: FederationId,
    delivery: &DueDelivery,
    answer: Answer,
    attempted_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let attempt = delivery.attempts + 1;
    let outcome = AttemptOutcome::of(answer.status);
    let next_attempt_at = match outcome {
        AttemptOutcome::Failed => {
            let since_made = (attempted_at - delivery.created_at)
                .to_std()
                .unwrap_or_default();
            let jitter = rand::thread_rng().gen::<f64>();
            settings
                .retries
                .next_wait(attempt as u32, since_made, jitter, answer.retry_after)
                .and_then(|wait| chrono::Duration::from_std(wait).ok())
                .map(|wait| attempted_at + wait)
        }
        AttemptOutcome::Delivered | AttemptOutcome::Gone => None,
    };
    if outcome != AttemptOutcome::Delivered {
        tracing::info!(
            %federation, endpoint = %delivery.endpoint_id, event = %delivery.event_id, attempt,
            error = answer.error.as_deref().unwrap_or(""), retry_at = ?next_attempt_at,
            "webhook attempt failed"
        );
    }
    webhooks::record_attempt(
        tx,
        federation,
        &AttemptMade {
            endpoint_id: delivery.endpoint_id,
            event_id: delivery.event_id,
            attempt,
            attempted_at,
            duration_ms: answer.took.as_millis().min(i32::MAX as u128) as i32,
            response_status: answer.status.map(i32::from),
            error: answer.error.as_deref(),
            outcome: outcome.code(),
            next_attempt_at,
        },
    )
    .await
}

/// Delivers every federation's webhooks every `settings.interval`, and forgets finished
/// deliveries past retention once a minute, for as long as the runtime runs.
pub fn spawn(
    pool: PgPool,
    settings: DeliverySettings,
    render: RenderPayload,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let sender = Sender::new(&settings)?;
    Ok(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(settings.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_forgotten: Option<Instant> = None;
        loop {
            ticks.tick().await;
            let forget = last_forgotten.is_none_or(|at| at.elapsed().as_secs() >= 60);
            match round(&pool, &sender, &settings, render, forget).await {
                Ok(()) if forget => last_forgotten = Some(Instant::now()),
                Ok(()) => {}
                Err(StoreError::Unavailable(error)) => {
                    tracing::debug!(%error, "webhook delivery skipped")
                }
                Err(error) => tracing::warn!(%error, "webhook delivery failed"),
            }
        }
    }))
}

async fn round(
    pool: &PgPool,
    sender: &Sender,
    settings: &DeliverySettings,
    render: RenderPayload,
    forget: bool,
) -> Result<(), StoreError> {
    for federation in waymark_persistence::events::federations(pool).await? {
        serve_federation(pool, sender, settings, federation, render).await?;
        if forget {
            let forgotten =
                webhooks::forget_finished(pool, federation, Utc::now() - settings.retention)
                    .await?;
            if forgotten > 0 {
                tracing::info!(%federation, deliveries = forgotten, "finished webhook deliveries forgotten");
            }
        }
    }
    Ok(())
}
