//! Configuration, read once from environment variables. `serve`, `token` and `seed-demo` read
//! the same variables, so a token minted by one is accepted by the others.

use crate::client_address::{AddressBlock, TrustedProxies};
use std::path::PathBuf;
use std::time::Duration;
use waymark_domain::login_throttle::LoginThrottle;

#[derive(Clone)]
pub struct Settings {
    /// `DATABASE_URL`: the service's own login, a role holding only `waymark_app`'s rights.
    pub database_url: String,
    /// `WAYMARK_MIGRATION_DATABASE_URL`: the schema owner, used only by `waymark migrate`.
    pub migration_database_url: String,
    /// `WAYMARK_ADDR`: where to listen.
    pub addr: String,
    /// `WAYMARK_SIGNING_KEY_FILE`: Ed25519 private key (PKCS#8 PEM) that signs access tokens.
    pub signing_key_file: PathBuf,
    /// `WAYMARK_RETIRED_KEY_FILES`: comma-separated PEM files still accepted for verification.
    pub retired_key_files: Vec<PathBuf>,
    /// `WAYMARK_TOKEN_ISSUER`
    pub issuer: String,
    /// `WAYMARK_TOKEN_AUDIENCE`
    pub audience: String,
    /// `WAYMARK_TOKEN_TTL_SECONDS`, at most 900.
    pub token_ttl: Duration,
    /// `WAYMARK_CORS_ALLOWED_ORIGINS`: comma-separated origins allowed to call from a browser.
    pub cors_allowed_origins: Vec<String>,
    /// `WAYMARK_MAX_BODY_BYTES`
    pub max_body_bytes: usize,
    /// `WAYMARK_WORKERS`: HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// `WAYMARK_DB_MAX_CONNECTIONS`
    pub db_max_connections: u32,
    /// `WAYMARK_SHUTDOWN_TIMEOUT_SECONDS`: how long in-flight requests get on SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// `WAYMARK_PUBLIC_RATE_LIMIT_PER_MINUTE` (600): requests per client address per minute on
    /// each federation's public Open Referral UK routes.
    pub public_rate_limit_per_minute: u32,
    /// `WAYMARK_RATE_LIMIT_PER_SUBJECT_PER_MINUTE` (1200): requests per token subject (a user or
    /// a service account) per minute on `/v1`.
    pub rate_limit_per_subject_per_minute: u32,
    /// `WAYMARK_RATE_LIMIT_PER_ADDRESS_PER_MINUTE` (6000): requests per client address per
    /// minute on `/v1`, signed in or not; a practice's staff behind one address share it. Each
    /// of the three limits is off at 0.
    pub rate_limit_per_address_per_minute: u32,
    /// `WAYMARK_DIRECTORY_CACHE_MB`: memory for rendered directory answers (0 turns it off).
    pub directory_cache_bytes: usize,
    /// `WAYMARK_STATS_FOLD_INTERVAL_MS`: how often the statistics deltas writers append are
    /// folded into the rollups (0 turns folding off in this instance; answers stay exact, only
    /// slower as deltas build up).
    pub stats_fold_interval: Duration,
    /// `WAYMARK_EVENTS_SEQUENCE_INTERVAL_MS`: how often committed events are given their places
    /// in the change feed (0 turns this off in this instance; a reader of the feed still
    /// sequences its federation's events before it reads).
    pub events_sequence_interval: Duration,
    /// `WAYMARK_EVENTS_RETENTION_DAYS`: how long the change feed keeps an event (30 to 3650).
    pub events_retention_days: u32,
    /// `WAYMARK_SIGN_IN_FAILURES_PER_ACCOUNT_AND_ADDRESS` (5), `…_PER_ACCOUNT` (20) and
    /// `…_PER_ADDRESS` (200): failed sign-ins within 15 minutes after which attempts wait.
    pub login_throttle: LoginThrottle,
    /// `WAYMARK_TRUSTED_PROXIES`: comma-separated addresses and blocks (`10.0.0.0/8`) of the
    /// proxies in front of the service, whose `X-Forwarded-For` entries name the client.
    pub trusted_proxies: TrustedProxies,
    /// `WAYMARK_WEBHOOKS_INTERVAL_MS` (1000): how often this instance makes and attempts
    /// webhook deliveries (0: never here; other instances still do).
    pub webhooks_interval: Duration,
    /// `WAYMARK_WEBHOOKS_TIMEOUT_SECONDS` (15, 1 to 60): the most an attempt may take.
    pub webhooks_timeout: Duration,
    /// `WAYMARK_WEBHOOKS_FIRST_RETRY_MS` (5000): the wait after a first failed attempt, which
    /// grows fourfold with each failure up to 8 hours, for up to three days.
    pub webhooks_first_retry: Duration,
    /// `WAYMARK_WEBHOOKS_ALLOWED_NETWORKS`: comma-separated blocks webhooks may be delivered to
    /// although they are not on the public internet (loopback, private, link-local…); none by
    /// default.
    pub webhooks_allowed_networks: Vec<AddressBlock>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The database URL may carry a password.
        f.debug_struct("Settings")
            .field("addr", &self.addr)
            .field("signing_key_file", &self.signing_key_file)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("token_ttl", &self.token_ttl)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://waymark_service@127.0.0.1:55432/waymark";
pub const DEFAULT_MIGRATION_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:55432/waymark";
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_SIGNING_KEY_FILE: &str = ".waymark/signing-key.pem";

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub problem: String,
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let text = |name: &str, default: &str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let number = |name: &'static str, default: u64| -> Result<u64, SettingsError> {
            match lookup(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(raw) => raw.trim().parse().map_err(|_| SettingsError {
                    variable: name,
                    problem: format!("expected a whole number, got {raw:?}"),
                }),
            }
        };
        let list = |name: &str| -> Vec<String> {
            lookup(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let token_ttl = number("WAYMARK_TOKEN_TTL_SECONDS", 900)?;
        if !(1..=900).contains(&token_ttl) {
            return Err(SettingsError {
                variable: "WAYMARK_TOKEN_TTL_SECONDS",
                problem: "must be between 1 and 900 (tokens live at most 15 minutes)".into(),
            });
        }
        let events_retention_days = number("WAYMARK_EVENTS_RETENTION_DAYS", 30)?;
        if !(30..=3650).contains(&events_retention_days) {
            return Err(SettingsError {
                variable: "WAYMARK_EVENTS_RETENTION_DAYS",
                problem: "must be between 30 and 3650 (the feed keeps events at least 30 days)"
                    .into(),
            });
        }
        let failures = |variable: &'static str, default: u64| -> Result<u32, SettingsError> {
            match number(variable, default)? {
                n @ 1..=100_000 => Ok(n as u32),
                _ => Err(SettingsError {
                    variable,
                    problem: "must be between 1 and 100000".into(),
                }),
            }
        };
        let quota = |variable: &'static str, default: u64| -> Result<u32, SettingsError> {
            u32::try_from(number(variable, default)?).map_err(|_| SettingsError {
                variable,
                problem: "must be at most 4294967295 (0 turns the limit off)".into(),
            })
        };
        let login_throttle = LoginThrottle {
            max_failures_per_account_and_address: failures(
                "WAYMARK_SIGN_IN_FAILURES_PER_ACCOUNT_AND_ADDRESS",
                5,
            )?,
            max_failures_per_account: failures("WAYMARK_SIGN_IN_FAILURES_PER_ACCOUNT", 20)?,
            max_failures_per_address: failures("WAYMARK_SIGN_IN_FAILURES_PER_ADDRESS", 200)?,
            ..LoginThrottle::default()
        };
        let webhooks_timeout = number("WAYMARK_WEBHOOKS_TIMEOUT_SECONDS", 15)?;
        if !(1..=60).contains(&webhooks_timeout) {
            return Err(SettingsError {
                variable: "WAYMARK_WEBHOOKS_TIMEOUT_SECONDS",
                problem: "must be between 1 and 60".into(),
            });
        }
        let webhooks_first_retry = number("WAYMARK_WEBHOOKS_FIRST_RETRY_MS", 5000)?;
        if !(1..=3_600_000).contains(&webhooks_first_retry) {
            return Err(SettingsError {
                variable: "WAYMARK_WEBHOOKS_FIRST_RETRY_MS",
                problem: "must be between 1 and 3600000 (an hour)".into(),
            });
        }
        let webhooks_allowed_networks = list("WAYMARK_WEBHOOKS_ALLOWED_NETWORKS")
            .iter()
            .map(|block| AddressBlock::parse(block))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|problem| SettingsError {
                variable: "WAYMARK_WEBHOOKS_ALLOWED_NETWORKS",
                problem,
            })?;
        Ok(Settings {
            webhooks_interval: Duration::from_millis(number("WAYMARK_WEBHOOKS_INTERVAL_MS", 1000)?),
            webhooks_timeout: Duration::from_secs(webhooks_timeout),
            webhooks_first_retry: Duration::from_millis(webhooks_first_retry),
            webhooks_allowed_networks,
            login_throttle,
            events_sequence_interval: Duration::from_millis(number(
                "WAYMARK_EVENTS_SEQUENCE_INTERVAL_MS",
                500,
            )?),
            events_retention_days: events_retention_days as u32,
            database_url: text("DATABASE_URL", DEFAULT_DATABASE_URL),
            migration_database_url: text(
                "WAYMARK_MIGRATION_DATABASE_URL",
                DEFAULT_MIGRATION_DATABASE_URL,
            ),
            addr: text("WAYMARK_ADDR", DEFAULT_ADDR),
            signing_key_file: PathBuf::from(text(
                "WAYMARK_SIGNING_KEY_FILE",
                DEFAULT_SIGNING_KEY_FILE,
            )),
            retired_key_files: list("WAYMARK_RETIRED_KEY_FILES")
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            issuer: text("WAYMARK_TOKEN_ISSUER", "waymark"),
            audience: text("WAYMARK_TOKEN_AUDIENCE", "waymark-api"),
            token_ttl: Duration::from_secs(token_ttl),
            cors_allowed_origins: list("WAYMARK_CORS_ALLOWED_ORIGINS"),
            max_body_bytes: number("WAYMARK_MAX_BODY_BYTES", 1024 * 1024)? as usize,
            workers: number("WAYMARK_WORKERS", 0)? as usize,
            db_max_connections: number("WAYMARK_DB_MAX_CONNECTIONS", 16)? as u32,
            shutdown_timeout: Duration::from_secs(number("WAYMARK_SHUTDOWN_TIMEOUT_SECONDS", 30)?),
            public_rate_limit_per_minute: quota("WAYMARK_PUBLIC_RATE_LIMIT_PER_MINUTE", 600)?,
            rate_limit_per_subject_per_minute: quota(
                "WAYMARK_RATE_LIMIT_PER_SUBJECT_PER_MINUTE",
                1200,
            )?,
            rate_limit_per_address_per_minute: quota(
                "WAYMARK_RATE_LIMIT_PER_ADDRESS_PER_MINUTE",
                6000,
            )?,
            directory_cache_bytes: number("WAYMARK_DIRECTORY_CACHE_MB", 32)? as usize * 1024 * 1024,
            stats_fold_interval: Duration::from_millis(number(
                "WAYMARK_STATS_FOLD_INTERVAL_MS",
                2000,
            )?),
            trusted_proxies: TrustedProxies::parse(&list("WAYMARK_TRUSTED_PROXIES")).map_err(
                |problem| SettingsError {
                    variable: "WAYMARK_TRUSTED_PROXIES",
                    problem,
                },
            )?,
        })
    }

    /// The signing keys named by the settings.
    pub fn load_signing_keys(&self) -> Result<crate::auth::SigningKeys, String> {
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read key file {}: {e}", path.display()))
        };
        let active = read(&self.signing_key_file)?;
        let retired = self
            .retired_key_files
            .iter()
            .map(read)
            .collect::<Result<Vec<_>, _>>()?;
        crate::auth::SigningKeys::from_pem(&active, &retired)
            .map_err(|e| format!("{}: {e}", self.signing_key_file.display()))
    }

    pub fn token_service(&self) -> Result<crate::auth::TokenService, String> {
        Ok(crate::auth::TokenService::new(
            self.load_signing_keys()?,
            self.issuer.clone(),
            self.audience.clone(),
            self.token_ttl,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.addr, DEFAULT_ADDR);
        assert_eq!(s.token_ttl, Duration::from_secs(900));
        assert!(s.cors_allowed_origins.is_empty());
    }

    #[test]
    fn lists_and_numbers_are_parsed_and_bad_values_named() {
        let s = settings(&[
            (
                "WAYMARK_CORS_ALLOWED_ORIGINS",
                "https://a.example, https://b.example",
            ),
            ("WAYMARK_WORKERS", "2"),
        ])
        .unwrap();
        assert_eq!(
            s.cors_allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(s.workers, 2);
        assert_eq!(
            settings(&[("WAYMARK_WORKERS", "many")])
                .unwrap_err()
                .variable,
            "WAYMARK_WORKERS"
        );
        assert!(settings(&[("WAYMARK_TOKEN_TTL_SECONDS", "3600")]).is_err());
    }
}
