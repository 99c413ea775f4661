//! Webhooks: a federation's events pushed to the endpoints it registers, signed as the Standard
//! Webhooks specification says (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64
//! HMAC-SHA256 of id.timestamp.body>`, `whsec_` secrets), at least once, retried with
//! exponential backoff and jitter for up to three days.

use crate::events::{Audience, ResourceType};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;
use std::time::Duration;

/// How a secret is written, so it is recognised as a Standard Webhooks signing secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a secret Waymark makes (the specification allows 24 to 64).
pub const SECRET_BYTES: usize = 32;
/// The longest endpoint address accepted.
pub const MAX_URL_LENGTH: usize = 2000;

/// Where an endpoint receives its deliveries: an absolute `http` or `https` address with a
/// host, and no user name, password or fragment. Whether its host may be reached is decided
/// when it resolves (`network::deliverable`), at registration and again at every delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.len() > MAX_URL_LENGTH {
            return Err(format!("at most {MAX_URL_LENGTH} characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| format!("not an absolute address: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("webhooks are delivered over http or https only".into());
        }
        if url.host().is_none() {
            return Err("the address names no host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "the address may not carry a user name or password; the signature authenticates each delivery"
                    .into(),
            );
        }
        if url.fragment().is_some() {
            return Err("the address may not have a fragment (#…)".into());
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host as written, without brackets around an IPv6 address.
    pub fn host(&self) -> String {
        match self.0.host() {
            Some(url::Host::Ipv6(v6)) => v6.to_string(),
            Some(host) => host.to_string(),
            None => String::new(),
        }
    }

    /// The address itself, when the host is written as one.
    pub fn literal_address(&self) -> Option<IpAddr> {
        match self.0.host()? {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(_) => None,
        }
    }

    /// The port, the scheme's own when none is written.
    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(443)
    }
}

/// A signing secret: `whsec_` then 24 to 64 random bytes in base64; the bytes are the HMAC key.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    pub fn from_random(bytes: [u8; SECRET_BYTES]) -> Self {
        Self(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
    }

    /// A secret as stored or given; its key must decode to 24 to 64 bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let key = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| format!("a signing secret starts with {SECRET_PREFIX}"))?;
        let bytes = STANDARD
            .decode(key)
            .map_err(|_| "a signing secret's key is base64".to_owned())?;
        if !(24..=64).contains(&bytes.len()) {
            return Err("a signing secret's key is 24 to 64 bytes".into());
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn key(&self) -> Vec<u8> {
        STANDARD
            .decode(&self.0[SECRET_PREFIX.len()..])
            .expect("checked when made")
    }

    /// `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under this secret.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key()).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: a signature by each secret in force (the new one and,
/// during a rotation's grace period, the old), separated by spaces, so a receiver holding
/// either verifies the delivery.
pub fn signature_header(
    secrets: &[&WebhookSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What an attempt's answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A 2xx: delivered.
    Delivered,
    /// 410 Gone: the receiver wants no more; the endpoint is disabled.
    Gone,
    /// Anything else (another status, a redirect, a timeout, no connection): try again later.
    Failed,
}

impl AttemptOutcome {
    /// The outcome of an answer with `status`, or of none at all.
    pub fn of(status: Option<u16>) -> Self {
        match status {
            Some(200..=299) => AttemptOutcome::Delivered,
            Some(410) => AttemptOutcome::Gone,
            _ => AttemptOutcome::Failed,
        }
    }

    pub const fn code(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Gone => "gone",
            AttemptOutcome::Failed => "failed",
        }
    }
}

/// When a failed delivery is tried again: exponential backoff (`first`, multiplied by `factor`
/// after each failure, at most `cap`), each wait stretched or shrunk by up to a fifth at random
/// so receivers recovering from an outage are not met by every retry at once, until the next
/// attempt would fall more than `give_up_after` after the delivery was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    pub first: Duration,
    pub factor: u32,
    pub cap: Duration,
    pub give_up_after: Duration,
}

impl Default for RetrySchedule {
    /// 5 s, 20 s, 80 s, 5 min, 21 min, 85 min, 5.7 h, then every 8 h, for three days: about
    /// fourteen attempts.
    fn default() -> Self {
        Self {
            first: Duration::from_secs(5),
            factor: 4,
            cap: Duration::from_secs(8 * 60 * 60),
            give_up_after: Duration::from_secs(3 * 24 * 60 * 60),
        }
    }
}

impl RetrySchedule {
    /// The wait before the next attempt after `failed` failed attempts, `since_made` after the
    /// delivery was made; `jitter` is a random number in [0, 1), `retry_after` what the
    /// receiver asked for (a 429 or 503's `Retry-After`), honoured up to the cap. `None`: give
    /// up.
    pub fn next_wait(
        &self,
        failed: u32,
        since_made: Duration,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let exponent = failed.saturating_sub(1).min(32);
        let backoff = self
            .first
            .saturating_mul(self.factor.saturating_pow(exponent))
            .min(self.cap);
        let stretch = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        let wait = backoff
            .mul_f64(stretch)
            .max(retry_after.unwrap_or_default().min(self.cap));
        (since_made + wait <= self.give_up_after).then_some(wait)
    }
}

/// The event types an endpoint registered by `audience` may receive: those of the resources the
/// audience follows across the whole federation (a federation administrator's endpoints, every
/// type; a `webhooks:write` integration's, what belongs to no practice).
pub fn receivable_types(audience: Audience) -> Vec<String> {
    let visibility = audience.visibility();
    ResourceType::ALL
        .into_iter()
        .filter(|r| visibility.federation_wide.contains(r))
        .flat_map(|r| r.verbs().iter().map(move |v| format!("{}.{v}", r.as_str())))
        .collect()
}

/// Checks an endpoint's event types against what `audience` may receive; none means all of
/// them. The answer is sorted and without repeats.
pub fn event_types_for(audience: Audience, asked: &[String]) -> Result<Vec<String>, String> {
    let receivable = receivable_types(audience);
    if asked.is_empty() {
        return Ok(receivable);
    }
    let known = crate::events::event_types();
    let mut types = Vec::with_capacity(asked.len());
    for asked in asked {
        if !known.contains(asked) {
            return Err(format!(
                "{asked:?} is not an event type; the types are {}",
                known.join(", ")
            ));
        }
        if !receivable.contains(asked) {
            return Err(format!(
                "{asked:?} is not an event type you may receive; yours are {}",
                receivable.join(", ")
            ));
        }
        types.push(asked.clone());
    }
    types.sort();
    types.dedup();
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PracticeId;

    #[test]
    fn signatures_match_the_standard_webhooks_reference() {
        // The example of the specification's reference libraries.
        let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(
            secret.sign(
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn during_a_rotation_each_secret_signs() {
        let old = WebhookSecret::from_random([1; SECRET_BYTES]);
        let new = WebhookSecret::from_random([2; SECRET_BYTES]);
        let header = signature_header(&[&new, &old], "id", 7, b"{}");
        let signatures: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            signatures,
            [new.sign("id", 7, b"{}"), old.sign("id", 7, b"{}")]
        );
        assert_ne!(signatures[0], signatures[1]);
        assert!(new.as_str().starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(new.as_str()).unwrap(), new);
    }

    #[test]
    fn secrets_are_whsec_and_24_to_64_bytes_of_base64() {
        assert!(WebhookSecret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
        assert!(WebhookSecret::parse("whsec_!!!").is_err());
        assert!(WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([0u8; 16]))).is_err());
        assert!(WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([0u8; 65]))).is_err());
        assert_eq!(
            format!("{:?}", WebhookSecret::from_random([9; 32])),
            "WebhookSecret(…)"
        );
    }

    #[test]
    fn endpoints_are_http_or_https_addresses_with_a_host_and_no_credentials() {
        let url = WebhookUrl::parse(" https://hooks.example.org/waymark?x=1 ").unwrap();
        assert_eq!(url.as_str(), "https://hooks.example.org/waymark?x=1");
        assert_eq!(url.host(), "hooks.example.org");
        assert_eq!(url.port(), 443);
        assert_eq!(url.literal_address(), None);
        let literal = WebhookUrl::parse("http://[::1]:8080/h").unwrap();
        assert_eq!(literal.literal_address(), Some("::1".parse().unwrap()));
        assert_eq!(literal.host(), "::1");
        assert_eq!(literal.port(), 8080);
        for refused in [
            "ftp://example.org/",
            "file:///etc/passwd",
            "hooks.example.org/x",
            "https://user:pass@example.org/",
            "https://example.org/#frag",
            "gopher://example.org",
        ] {
            assert!(WebhookUrl::parse(refused).is_err(), "{refused}");
        }
        let long = format!("https://example.org/{}", "a".repeat(MAX_URL_LENGTH));
        assert!(WebhookUrl::parse(&long).is_err());
    }

    #[test]
    fn answers_are_delivered_gone_or_failed() {
        assert_eq!(AttemptOutcome::of(Some(200)), AttemptOutcome::Delivered);
        assert_eq!(AttemptOutcome::of(Some(204)), AttemptOutcome::Delivered);
        assert_eq!(AttemptOutcome::of(Some(410)), AttemptOutcome::Gone);
        for failed in [Some(301), Some(404), Some(429), Some(500), None] {
            assert_eq!(AttemptOutcome::of(failed), AttemptOutcome::Failed);
        }
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_for_three_days() {
        let schedule = RetrySchedule::default();
        let at = |failed, jitter| schedule.next_wait(failed, Duration::ZERO, jitter, None);
        assert_eq!(at(1, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(at(2, 0.5), Some(Duration::from_secs(20)));
        assert_eq!(at(3, 0.5), Some(Duration::from_secs(80)));
        assert_eq!(at(9, 0.5), Some(Duration::from_secs(8 * 3600)));
        assert_eq!(at(2, 0.0), Some(Duration::from_secs(16)));
        assert_eq!(
            at(2, 0.999_999),
            Some(Duration::from_secs(20).mul_f64(0.8 + 0.4 * 0.999_999))
        );
        // A receiver's Retry-After is honoured, up to the cap.
        assert_eq!(
            schedule.next_wait(1, Duration::ZERO, 0.5, Some(Duration::from_secs(120))),
            Some(Duration::from_secs(120))
        );
        // Walking the schedule: every wait grows until the cap, and the last attempt falls
        // within three days of the first.
        let mut elapsed = Duration::ZERO;
        let mut attempts = 1;
        let mut last_wait = Duration::ZERO;
        while let Some(wait) = schedule.next_wait(attempts, elapsed, 0.5, None) {
            assert!(wait >= last_wait);
            last_wait = wait;
            elapsed += wait;
            attempts += 1;
        }
        assert!(elapsed <= Duration::from_secs(72 * 3600));
        assert!(elapsed > Duration::from_secs(64 * 3600), "{elapsed:?}");
        assert!((12..=16).contains(&attempts), "{attempts}");
    }

    #[test]
    fn an_endpoint_receives_only_what_its_registrar_may_follow_across_the_federation() {
        let all = event_types_for(Audience::Federation, &[]).unwrap();
        assert_eq!(all.len(), crate::events::event_types().len());
        let integration = event_types_for(Audience::Integration, &[]).unwrap();
        assert!(integration.contains(&"payment_run.created".to_owned()));
        assert!(integration.contains(&"service.updated".to_owned()));
        assert!(!integration.iter().any(|t| t.starts_with("referral.")));
        assert!(event_types_for(Audience::Integration, &["referral.created".into()]).is_err());
        assert!(event_types_for(Audience::Federation, &["referral.deleted".into()]).is_err());
        assert_eq!(
            event_types_for(
                Audience::Federation,
                &[
                    "referral.updated".into(),
                    "referral.created".into(),
                    "referral.updated".into()
                ]
            )
            .unwrap(),
            ["referral.created", "referral.updated"]
        );
        // Practice staff follow their own practice only: nothing federation-wide but the
        // directory.
        let practice = receivable_types(Audience::Practice(PracticeId::new()));
        assert!(practice
            .iter()
            .all(|t| t.starts_with("organisation.") || t.starts_with("service.")));
    }
}
