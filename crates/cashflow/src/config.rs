//! Configuration from the environment, with the names operators and tests rely on.

use cashflow_api::{Limits, RateLimit, TrustedProxies};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

/// Everything the roles need. Built once at start-up; every field is validated here.
#[derive(Clone)]
pub struct Config {
    /// `CASHFLOW_DATABASE_URL`: the event store and read models. Created if missing.
    pub database_url: String,
    /// `CASHFLOW_NATS_URL`.
    pub nats_url: String,
    /// `CASHFLOW_NATS_PREFIX`: namespace of the JetStream stream, subjects and consumers.
    pub nats_prefix: String,
    /// `CASHFLOW_GRPC_ADDR`: where the API listens (port 0 picks a free one).
    pub grpc_addr: SocketAddr,
    /// `CASHFLOW_JWT_SECRET`: the HS256 key, at least 32 bytes. No default.
    pub jwt_secret: String,
    /// `CASHFLOW_DB_MAX_CONNECTIONS`: the PostgreSQL pool size of this process.
    pub db_max_connections: u32,
    /// `CASHFLOW_JWT_JWKS_FILE`: public keys of an external identity provider, with
    /// `CASHFLOW_JWT_JWKS_ISSUER` / `CASHFLOW_JWT_JWKS_AUDIENCE` (both default `cashflow`).
    pub jwks: Option<JwksSource>,
    /// `CASHFLOW_ACCESS_TOKEN_TTL_SECS`: lifetime of the access tokens Login issues (900).
    pub access_token_ttl: Duration,
    /// Rate, size, time and concurrency limits (`CASHFLOW_RATE_LIMIT_*`, `CASHFLOW_MAX_MESSAGE_BYTES`,
    /// `CASHFLOW_CALL_TIMEOUT_SECS`, `CASHFLOW_MAX_CONCURRENT_CALLS`).
    pub limits: Limits,
    /// `CASHFLOW_TRUSTED_PROXIES`: addresses and blocks (`10.0.0.0/8, 192.0.2.10`) whose
    /// `x-forwarded-for` names the client Login and Register are limited by. None by default.
    pub trusted_proxies: TrustedProxies,
    /// `CASHFLOW_PASSWORD_HASH_CONCURRENCY`: passwords hashed at once (the cores); a Login or
    /// Register beyond them is refused as `RESOURCE_EXHAUSTED`.
    pub password_hash_concurrency: usize,
    /// `CASHFLOW_CORS_ORIGINS`: comma-separated origins browsers may call from over grpc-web.
    pub cors_origins: Vec<String>,
    /// `CASHFLOW_TLS_CERT` and `CASHFLOW_TLS_KEY`: PEM files; both or neither.
    pub tls: Option<TlsFiles>,
    /// `CASHFLOW_WEB_DIR`: the built browser app served at `/` on the gRPC port (`web/dist`,
    /// relative to the working directory, by default).
    pub web_dir: PathBuf,
    /// `CASHFLOW_METRICS_ADDR`: where `/metrics`, `/healthz` and `/readyz` are served (port 0
    /// picks a free one). Unset: no metrics endpoint, and metrics cost nothing.
    pub metrics_addr: Option<SocketAddr>,
    /// `CASHFLOW_BLOB_URL`: where invoice originals are stored (`file:///…`, `s3://bucket/prefix`).
    pub blob_url: String,
    /// `CASHFLOW_MAX_UPLOAD_BYTES` (10 MiB), `CASHFLOW_MAX_UPLOAD_PIXELS` (40 million),
    /// `CASHFLOW_UPLOAD_BUFFER_BYTES` (256 MiB held by uploads in flight across the process) and
    /// `CASHFLOW_UPLOADS_PER_USER` (4 in flight per person).
    pub uploads: cashflow_api::UploadLimits,
    /// `CASHFLOW_OCR_THREADS`: OCR engines of this process, each on its own thread (the cores).
    pub ocr_threads: usize,
    /// `CASHFLOW_WORKER_CONCURRENCY`, `CASHFLOW_WORKER_ACK_WAIT_SECS`, `CASHFLOW_WORKER_MAX_DELIVER`,
    /// `CASHFLOW_WORKER_RETRY_DELAY_MS`: how the OCR worker and the categoriser consume.
    pub worker: cashflow_bus::WorkerConfig,
    /// `CASHFLOW_AUDIT_KEY` or `CASHFLOW_AUDIT_KEY_FILE`: the key that signs and checks audit
    /// anchors; kept outside the database. Only `audit anchor` and `audit verify --anchor` need it.
    pub audit_key: Option<AuditKey>,
    /// `CASHFLOW_SMTP_URL`, `CASHFLOW_SMTP_FROM`, `CASHFLOW_SMS_*` and
    /// `CASHFLOW_WEBHOOK_ALLOW_PRIVATE`: how notifications are delivered.
    pub delivery: cashflow_delivery::DeliveryConfig,
    /// `CASHFLOW_DELIVERY_LEASE_SECS` (60): how long a delivery a dispatcher claimed is its own;
    /// after a crash mid-attempt, another dispatcher takes it over once the lease ends. Longer
    /// than an attempt can take (10 s).
    pub delivery_lease: Duration,
    /// `CASHFLOW_DELIVERY_RETENTION_DAYS` (90; 0 keeps them for good; at least 2 otherwise): how
    /// long settled deliveries stay in the log, and in the channels' delivery counts (ADR 0036).
    pub delivery_retention: Option<Duration>,
    /// `CASHFLOW_MONTHLY_REPORT_EVERY_SECS` (600) and `CASHFLOW_MONTHLY_REPORT_WINDOW_DAYS` (7, 31
    /// at most): how often the `reports` role looks for monthly reports to request, and in which
    /// first days of a month last month's are requested.
    pub monthly_reports: cashflow_reports::ScheduleConfig,
}

/// Where the audit anchors' HMAC key is: the value itself, or a file holding it.
#[derive(Clone, PartialEq, Eq)]
pub enum AuditKey {
    Value(String),
    File(PathBuf),
}

impl AuditKey {
    /// The key's bytes (a file's without its trailing newline), at least
    /// [`MIN_KEY_BYTES`](cashflow_eventstore::audit::MIN_KEY_BYTES) of them.
    pub fn load(&self) -> Result<Vec<u8>, ConfigError> {
        let (name, value, key) = match self {
            AuditKey::Value(value) => ("CASHFLOW_AUDIT_KEY", String::new(), value.as_bytes().to_vec()),
            AuditKey::File(path) => {
                let value = path.display().to_string();
                let mut key = std::fs::read(path).map_err(|error| ConfigError::Invalid {
                    name: "CASHFLOW_AUDIT_KEY_FILE",
                    value: value.clone(),
                    reason: error.to_string(),
                })?;
                while key.last().is_some_and(|byte| matches!(byte, b'\n' | b'\r')) {
                    key.pop();
                }
                ("CASHFLOW_AUDIT_KEY_FILE", value, key)
            }
        };
        let min = cashflow_eventstore::audit::MIN_KEY_BYTES;
        if key.len() < min {
            return Err(ConfigError::Invalid {
                name,
                value,
                reason: format!("the key is {} bytes; use at least {min}, e.g. `openssl rand -hex 32`", key.len()),
            });
        }
        Ok(key)
    }
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditKey::Value(_) => f.write_str("Value(<redacted>)"),
            AuditKey::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// Where the JWKS is and what its tokens claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSource {
    pub file: PathBuf,
    pub issuer: String,
    pub audience: String,
}

/// The server's certificate chain and private key, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("nats_url", &redact_url(&self.nats_url))
            .field("nats_prefix", &self.nats_prefix)
            .field("grpc_addr", &self.grpc_addr)
            .field("jwt_secret", &"<redacted>")
            .field("db_max_connections", &self.db_max_connections)
            .field("jwks", &self.jwks)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("limits", &self.limits)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("password_hash_concurrency", &self.password_hash_concurrency)
            .field("cors_origins", &self.cors_origins)
            .field("web_dir", &self.web_dir)
            .field("tls", &self.tls)
            .field("metrics_addr", &self.metrics_addr)
            .field("blob_url", &redact_url(&self.blob_url))
            .field("uploads", &self.uploads)
            .field("ocr_threads", &self.ocr_threads)
            .field("worker", &self.worker)
            .field("audit_key", &self.audit_key)
            .field("delivery", &self.delivery)
            .field("delivery_lease", &self.delivery_lease)
            .field("delivery_retention", &self.delivery_retention)
            .field("monthly_reports", &self.monthly_reports)
            .finish()
    }
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/cashflow";
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
pub const DEFAULT_NATS_PREFIX: &str = "cashflow";
pub const DEFAULT_GRPC_ADDR: &str = "0.0.0.0:50051";
/// The browser app's built assets, relative to the working directory (`npm run build` in `web/`).
pub const DEFAULT_WEB_DIR: &str = "web/dist";
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// The longest delivery log retention that can be set: a hundred years.
const MAX_DELIVERY_RETENTION_DAYS: u64 = 36_500;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(
        "CASHFLOW_JWT_SECRET is not set. Set it to a random secret of at least {MIN_JWT_SECRET_BYTES} bytes, e.g. \
         `export CASHFLOW_JWT_SECRET=$(openssl rand -hex 32)`"
    )]
    MissingJwtSecret,
    #[error(
        "CASHFLOW_JWT_SECRET is {0} bytes; it must be at least {MIN_JWT_SECRET_BYTES}, e.g. \
         `export CASHFLOW_JWT_SECRET=$(openssl rand -hex 32)`"
    )]
    ShortJwtSecret(usize),
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid { name: &'static str, value: String, reason: String },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get =
            |name: &str, default: &str| lookup(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned());
        let grpc_addr = get("CASHFLOW_GRPC_ADDR", DEFAULT_GRPC_ADDR);
        let grpc_addr = grpc_addr.parse().map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
            name: "CASHFLOW_GRPC_ADDR",
            value: grpc_addr.clone(),
            reason: e.to_string(),
        })?;
        let jwt_secret =
            lookup("CASHFLOW_JWT_SECRET").filter(|v| !v.is_empty()).ok_or(ConfigError::MissingJwtSecret)?;
        if jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError::ShortJwtSecret(jwt_secret.len()));
        }
        let nats_prefix = get("CASHFLOW_NATS_PREFIX", DEFAULT_NATS_PREFIX);
        if !nats_prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(ConfigError::Invalid {
                name: "CASHFLOW_NATS_PREFIX",
                value: nats_prefix,
                reason: "use only letters, digits, '_' and '-'".into(),
            });
        }
        let pool = get("CASHFLOW_DB_MAX_CONNECTIONS", "20");
        let db_max_connections = pool.parse().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError::Invalid {
            name: "CASHFLOW_DB_MAX_CONNECTIONS",
            value: pool.clone(),
            reason: "must be a positive number".into(),
        })?;
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match lookup(name).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(value) => value.trim().parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ConfigError::Invalid { name, value, reason: "must be a positive whole number".into() }
                }),
            }
        };
        let small = |name: &'static str, default: u32| -> Result<u32, ConfigError> {
            let value = number(name, u64::from(default))?;
            u32::try_from(value).map_err(|_| ConfigError::Invalid {
                name,
                value: value.to_string(),
                reason: "is too large".into(),
            })
        };
        let defaults = Limits::default();
        let rate = |per_minute: &'static str, burst: &'static str, default: RateLimit| {
            Ok::<_, ConfigError>(RateLimit::new(small(burst, default.burst)?, small(per_minute, default.per_minute)?))
        };
        let limits = Limits {
            commands: rate(
                "CASHFLOW_RATE_LIMIT_COMMANDS_PER_MINUTE",
                "CASHFLOW_RATE_LIMIT_COMMANDS_BURST",
                defaults.commands,
            )?,
            queries: rate(
                "CASHFLOW_RATE_LIMIT_QUERIES_PER_MINUTE",
                "CASHFLOW_RATE_LIMIT_QUERIES_BURST",
                defaults.queries,
            )?,
            login: rate("CASHFLOW_RATE_LIMIT_LOGIN_PER_MINUTE", "CASHFLOW_RATE_LIMIT_LOGIN_BURST", defaults.login)?,
            login_address: rate(
                "CASHFLOW_RATE_LIMIT_LOGIN_ADDRESS_PER_MINUTE",
                "CASHFLOW_RATE_LIMIT_LOGIN_ADDRESS_BURST",
                defaults.login_address,
            )?,
            max_message_bytes: usize::try_from(number(
                "CASHFLOW_MAX_MESSAGE_BYTES",
                defaults.max_message_bytes as u64,
            )?)
            .unwrap_or(usize::MAX),
            call_timeout: Duration::from_secs(number("CASHFLOW_CALL_TIMEOUT_SECS", defaults.call_timeout.as_secs())?),
            max_concurrent_calls: usize::try_from(number(
                "CASHFLOW_MAX_CONCURRENT_CALLS",
                defaults.max_concurrent_calls as u64,
            )?)
            .unwrap_or(usize::MAX),
        };
        let access_token_ttl = Duration::from_secs(number(
            "CASHFLOW_ACCESS_TOKEN_TTL_SECS",
            cashflow_api::DEFAULT_ACCESS_TOKEN_TTL.as_secs(),
        )?);
        let jwks = lookup("CASHFLOW_JWT_JWKS_FILE").filter(|v| !v.is_empty()).map(|file| JwksSource {
            file: PathBuf::from(file),
            issuer: get("CASHFLOW_JWT_JWKS_ISSUER", cashflow_identity::ISSUER),
            audience: get("CASHFLOW_JWT_JWKS_AUDIENCE", cashflow_identity::AUDIENCE),
        });
        let cors_origins = lookup("CASHFLOW_CORS_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.ends_with('/')
                    && http::HeaderValue::from_str(origin).is_ok();
                if valid {
                    Ok(origin.to_owned())
                } else {
                    Err(ConfigError::Invalid {
                        name: "CASHFLOW_CORS_ORIGINS",
                        value: origin.to_owned(),
                        reason: "each origin is scheme://host[:port], e.g. https://app.example.com".into(),
                    })
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cert = lookup("CASHFLOW_TLS_CERT").filter(|v| !v.is_empty());
        let key = lookup("CASHFLOW_TLS_KEY").filter(|v| !v.is_empty());
        let tls = match (cert, key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.into(), key: key.into() }),
            (None, None) => None,
            (cert, _) => {
                return Err(ConfigError::Invalid {
                    name: if cert.is_some() { "CASHFLOW_TLS_KEY" } else { "CASHFLOW_TLS_CERT" },
                    value: String::new(),
                    reason: "set both CASHFLOW_TLS_CERT and CASHFLOW_TLS_KEY, or neither".into(),
                });
            }
        };
        let metrics_addr = match lookup("CASHFLOW_METRICS_ADDR").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
        {
            None => None,
            Some(value) => Some(value.parse().map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
                name: "CASHFLOW_METRICS_ADDR",
                value: value.clone(),
                reason: e.to_string(),
            })?),
        };
        let blob_url = match lookup("CASHFLOW_BLOB_URL").filter(|v| !v.is_empty()) {
            Some(url) => url,
            None => default_blob_url(),
        };
        let upload_defaults = cashflow_api::UploadLimits::default();
        let uploads = cashflow_api::UploadLimits {
            max_bytes: usize::try_from(number("CASHFLOW_MAX_UPLOAD_BYTES", upload_defaults.max_bytes as u64)?)
                .unwrap_or(usize::MAX),
            max_pixels: number("CASHFLOW_MAX_UPLOAD_PIXELS", upload_defaults.max_pixels)?,
            buffer_bytes: usize::try_from(number("CASHFLOW_UPLOAD_BUFFER_BYTES", upload_defaults.buffer_bytes as u64)?)
                .unwrap_or(usize::MAX),
            per_user: usize::try_from(number("CASHFLOW_UPLOADS_PER_USER", upload_defaults.per_user as u64)?)
                .unwrap_or(upload_defaults.per_user),
        };
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let password_hash_concurrency =
            usize::try_from(number("CASHFLOW_PASSWORD_HASH_CONCURRENCY", cores as u64)?).unwrap_or(cores);
        let trusted_proxies = lookup("CASHFLOW_TRUSTED_PROXIES").unwrap_or_default();
        let trusted_proxies = trusted_proxies.parse().map_err(|reason| ConfigError::Invalid {
            name: "CASHFLOW_TRUSTED_PROXIES",
            value: trusted_proxies.clone(),
            reason,
        })?;
        let delivery_lease = Duration::from_secs(number("CASHFLOW_DELIVERY_LEASE_SECS", 60)?.max(1));
        let retention_days = lookup("CASHFLOW_DELIVERY_RETENTION_DAYS").filter(|v| !v.is_empty());
        let delivery_retention = match retention_days.as_deref().map(|v| v.trim().parse::<u64>()) {
            None => Some(Duration::from_secs(90 * 24 * 3600)),
            Some(Ok(0)) => None,
            Some(Ok(days))
                if days <= MAX_DELIVERY_RETENTION_DAYS
                    && Duration::from_secs(days * 24 * 3600) >= cashflow_notify::dispatch::MIN_RETENTION =>
            {
                Some(Duration::from_secs(days * 24 * 3600))
            }
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "CASHFLOW_DELIVERY_RETENTION_DAYS",
                    value: retention_days.unwrap_or_default(),
                    reason: "must be 0 (keep for good), or from 2 days (past the 24-hour delivery window) to 36500"
                        .into(),
                });
            }
        };
        let monthly_reports = cashflow_reports::ScheduleConfig {
            every: Duration::from_secs(number("CASHFLOW_MONTHLY_REPORT_EVERY_SECS", 600)?.max(1)),
            window_days: u32::try_from(number("CASHFLOW_MONTHLY_REPORT_WINDOW_DAYS", 7)?.clamp(1, 31)).unwrap_or(7),
        };
        let ocr_threads = usize::try_from(number("CASHFLOW_OCR_THREADS", cores as u64)?).unwrap_or(cores);
        let worker_defaults = cashflow_bus::WorkerConfig::default();
        let worker = cashflow_bus::WorkerConfig {
            concurrency: usize::try_from(number("CASHFLOW_WORKER_CONCURRENCY", worker_defaults.concurrency as u64)?)
                .unwrap_or(worker_defaults.concurrency),
            ack_wait: Duration::from_secs(number("CASHFLOW_WORKER_ACK_WAIT_SECS", worker_defaults.ack_wait.as_secs())?),
            max_deliver: i64::try_from(number("CASHFLOW_WORKER_MAX_DELIVER", worker_defaults.max_deliver as u64)?)
                .unwrap_or(worker_defaults.max_deliver),
            retry_delay: Duration::from_millis(number(
                "CASHFLOW_WORKER_RETRY_DELAY_MS",
                worker_defaults.retry_delay.as_millis() as u64,
            )?),
        };
        let audit_key = match (
            lookup("CASHFLOW_AUDIT_KEY").filter(|v| !v.is_empty()),
            lookup("CASHFLOW_AUDIT_KEY_FILE").filter(|v| !v.is_empty()),
        ) {
            (None, None) => None,
            (Some(value), None) => Some(AuditKey::Value(value)),
            (None, Some(file)) => Some(AuditKey::File(file.into())),
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "CASHFLOW_AUDIT_KEY_FILE",
                    value: String::new(),
                    reason: "set CASHFLOW_AUDIT_KEY or CASHFLOW_AUDIT_KEY_FILE, not both".into(),
                });
            }
        };
        if let Some(key @ AuditKey::Value(_)) = &audit_key {
            key.load()?;
        }
        let delivery = cashflow_delivery::DeliveryConfig::from_lookup(&lookup).map_err(|reason| {
            let name = ["CASHFLOW_SMS_API_URL", "CASHFLOW_WEBHOOK_ALLOW_PRIVATE"]
                .into_iter()
                .find(|name| reason.starts_with(name))
                .unwrap_or("CASHFLOW_SMTP_URL");
            ConfigError::Invalid { name, value: lookup(name).unwrap_or_default(), reason }
        })?;
        Ok(Self {
            delivery,
            delivery_lease,
            delivery_retention,
            monthly_reports,
            trusted_proxies,
            password_hash_concurrency,
            audit_key,
            blob_url,
            uploads,
            ocr_threads,
            worker,
            metrics_addr,
            jwks,
            access_token_ttl,
            limits,
            cors_origins,
            tls,
            web_dir: PathBuf::from(get("CASHFLOW_WEB_DIR", DEFAULT_WEB_DIR)),
            database_url: get("CASHFLOW_DATABASE_URL", DEFAULT_DATABASE_URL),
            nats_url: get("CASHFLOW_NATS_URL", DEFAULT_NATS_URL),
            nats_prefix,
            grpc_addr,
            jwt_secret,
            db_max_connections,
        })
    }
}

/// `file://<current directory>/cashflow-data/blobs`: beside where the service was started, as a
/// laptop run expects; servers set `CASHFLOW_BLOB_URL`.
fn default_blob_url() -> String {
    let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/tmp"));
    format!("file://{}", dir.join("cashflow-data").join("blobs").display())
}

/// Hides a password in a connection URL for logs.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_secret_is_set() {
        let config = config(&[("CASHFLOW_JWT_SECRET", &"s".repeat(32))]).unwrap();
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(config.nats_url, DEFAULT_NATS_URL);
        assert_eq!(config.nats_prefix, DEFAULT_NATS_PREFIX);
        assert_eq!(config.grpc_addr.to_string(), DEFAULT_GRPC_ADDR);
    }

    #[test]
    fn a_missing_secret_says_how_to_set_one() {
        let message = config(&[]).unwrap_err().to_string();
        assert!(message.contains("CASHFLOW_JWT_SECRET") && message.contains("openssl rand"), "{message}");
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert!(matches!(config(&[("CASHFLOW_JWT_SECRET", "short")]), Err(ConfigError::ShortJwtSecret(5))));
    }

    #[test]
    fn the_metrics_port_is_off_unless_set_and_must_be_an_address() {
        let secret = "s".repeat(32);
        assert_eq!(config(&[("CASHFLOW_JWT_SECRET", &secret)]).unwrap().metrics_addr, None);
        let set = config(&[("CASHFLOW_JWT_SECRET", &secret), ("CASHFLOW_METRICS_ADDR", "0.0.0.0:9100")]).unwrap();
        assert_eq!(set.metrics_addr.map(|a| a.port()), Some(9100));
        assert!(config(&[("CASHFLOW_JWT_SECRET", &secret), ("CASHFLOW_METRICS_ADDR", "9100")]).is_err());
    }

    #[test]
    fn the_upload_budget_and_per_person_cap_are_read() {
        let secret = "s".repeat(32);
        let defaults = config(&[("CASHFLOW_JWT_SECRET", &secret)]).unwrap().uploads;
        assert_eq!((defaults.buffer_bytes, defaults.per_user), (256 * 1024 * 1024, 4));
        let set = config(&[
            ("CASHFLOW_JWT_SECRET", &secret),
            ("CASHFLOW_UPLOAD_BUFFER_BYTES", "1048576"),
            ("CASHFLOW_UPLOADS_PER_USER", "2"),
        ])
        .unwrap()
        .uploads;
        assert_eq!((set.buffer_bytes, set.per_user), (1024 * 1024, 2));
        assert!(config(&[("CASHFLOW_JWT_SECRET", &secret), ("CASHFLOW_UPLOADS_PER_USER", "0")]).is_err());
    }

    #[test]
    fn the_delivery_log_is_kept_90_days_for_good_with_0_and_never_under_2() {
        let secret = "s".repeat(32);
        let days = |value: &str| {
            config(&[("CASHFLOW_JWT_SECRET", &secret), ("CASHFLOW_DELIVERY_RETENTION_DAYS", value)])
                .map(|config| config.delivery_retention)
        };
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(config(&[("CASHFLOW_JWT_SECRET", &secret)]).unwrap().delivery_retention, Some(90 * day));
        assert_eq!(days("0").unwrap(), None);
        assert_eq!(days("2").unwrap(), Some(2 * day));
        let message = days("1").unwrap_err().to_string();
        assert!(message.contains("CASHFLOW_DELIVERY_RETENTION_DAYS"), "{message}");
        assert_eq!(days("36500").unwrap(), Some(36_500 * day));
        assert!(days("36501").is_err() && days("-1").is_err() && days("ninety").is_err());
    }

    #[test]
    fn a_prefix_that_would_break_subjects_is_refused() {
        let secret = "s".repeat(32);
        assert!(config(&[("CASHFLOW_JWT_SECRET", &secret), ("CASHFLOW_NATS_PREFIX", "a.b")]).is_err());
    }

    #[test]
    fn limits_tls_cors_and_jwks_are_read() {
        let secret = "s".repeat(32);
        let defaults = config(&[("CASHFLOW_JWT_SECRET", &secret)]).unwrap();
        assert_eq!(defaults.limits, Limits::default());
        assert_eq!((defaults.tls, defaults.jwks, defaults.cors_origins.len()), (None, None, 0));
        assert_eq!(defaults.access_token_ttl, Duration::from_secs(900));
        let set = config(&[
            ("CASHFLOW_JWT_SECRET", &secret),
            ("CASHFLOW_RATE_LIMIT_LOGIN_BURST", "3"),
            ("CASHFLOW_RATE_LIMIT_LOGIN_PER_MINUTE", "1"),
            ("CASHFLOW_MAX_MESSAGE_BYTES", "1024"),
            ("CASHFLOW_CORS_ORIGINS", "https://app.example.com, http://localhost:3000"),
            ("CASHFLOW_TLS_CERT", "/c.pem"),
            ("CASHFLOW_TLS_KEY", "/k.pem"),
            ("CASHFLOW_JWT_JWKS_FILE", "/jwks.json"),
            ("CASHFLOW_RATE_LIMIT_LOGIN_ADDRESS_BURST", "7"),
            ("CASHFLOW_TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8::1"),
            ("CASHFLOW_PASSWORD_HASH_CONCURRENCY", "3"),
        ])
        .unwrap();
        assert_eq!(set.limits.login, RateLimit::new(3, 1));
        assert_eq!(set.limits.login_address, RateLimit::new(7, Limits::default().login_address.per_minute));
        assert_eq!(set.trusted_proxies, "10.0.0.0/8,2001:db8::1".parse().unwrap());
        assert_eq!(set.password_hash_concurrency, 3);
        assert!(defaults.trusted_proxies.is_empty());
        assert!(defaults.password_hash_concurrency >= 1);
        assert_eq!(set.limits.max_message_bytes, 1024);
        assert_eq!(set.cors_origins, ["https://app.example.com", "http://localhost:3000"]);
        assert_eq!(set.tls, Some(TlsFiles { cert: "/c.pem".into(), key: "/k.pem".into() }));
        assert_eq!(set.jwks.unwrap().issuer, "cashflow");
        for (name, value) in [
            ("CASHFLOW_TLS_CERT", "/c.pem"),
            ("CASHFLOW_RATE_LIMIT_QUERIES_BURST", "0"),
            ("CASHFLOW_CALL_TIMEOUT_SECS", "soon"),
            ("CASHFLOW_CORS_ORIGINS", "*"),
            ("CASHFLOW_TRUSTED_PROXIES", "10.0.0.0/40"),
            ("CASHFLOW_TRUSTED_PROXIES", "proxy.internal"),
            ("CASHFLOW_PASSWORD_HASH_CONCURRENCY", "0"),
        ] {
            assert!(config(&[("CASHFLOW_JWT_SECRET", &secret), (name, value)]).is_err(), "{name}={value}");
        }
    }

    #[test]
    fn the_audit_key_comes_from_the_environment_or_a_file_and_is_long_enough() {
        let secret = "s".repeat(32);
        let key = "k".repeat(32);
        assert_eq!(config(&[("CASHFLOW_JWT_SECRET", &secret)]).unwrap().audit_key, None);
        let set = config(&[("CASHFLOW_JWT_SECRET", &secret), ("CASHFLOW_AUDIT_KEY", &key)]).unwrap();
        assert_eq!(set.audit_key.unwrap().load().unwrap(), key.as_bytes());
        assert!(
            !format!("{:?}", config(&[("CASHFLOW_JWT_SECRET", &secret), ("CASHFLOW_AUDIT_KEY", &key)]).unwrap())
                .contains(&key)
        );
        assert!(config(&[("CASHFLOW_JWT_SECRET", &secret), ("CASHFLOW_AUDIT_KEY", "short")]).is_err());
        let both =
            [("CASHFLOW_JWT_SECRET", secret.as_str()), ("CASHFLOW_AUDIT_KEY", &key), ("CASHFLOW_AUDIT_KEY_FILE", "/k")];
        assert!(config(&both).is_err());

        let dir = std::env::temp_dir().join(format!("cashflow-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("audit.key");
        std::fs::write(&file, format!("{key}\n")).unwrap();
        let from_file =
            config(&[("CASHFLOW_JWT_SECRET", &secret), ("CASHFLOW_AUDIT_KEY_FILE", file.to_str().unwrap())]);
        assert_eq!(from_file.unwrap().audit_key.unwrap().load().unwrap(), key.as_bytes());
        std::fs::write(&file, "short\n").unwrap();
        assert!(AuditKey::File(file.clone()).load().is_err());
        assert!(AuditKey::File(dir.join("missing")).load().is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn passwords_are_redacted_from_debug_output() {
        let secret = "s".repeat(32);
        let config =
            config(&[("CASHFLOW_JWT_SECRET", &secret), ("CASHFLOW_DATABASE_URL", "postgres://u:hunter2@db/x")])
                .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2") && !debug.contains(&secret), "{debug}");
    }
}
