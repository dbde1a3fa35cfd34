//! Configuration from the environment, with the names operators and tests rely on.

use std::net::SocketAddr;
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
            .finish()
    }
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/cashflow";
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
pub const DEFAULT_NATS_PREFIX: &str = "cashflow";
pub const DEFAULT_GRPC_ADDR: &str = "0.0.0.0:50051";
pub const MIN_JWT_SECRET_BYTES: usize = 32;

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
        Ok(Self {
            database_url: get("CASHFLOW_DATABASE_URL", DEFAULT_DATABASE_URL),
            nats_url: get("CASHFLOW_NATS_URL", DEFAULT_NATS_URL),
            nats_prefix,
            grpc_addr,
            jwt_secret,
            db_max_connections,
        })
    }
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
    fn a_prefix_that_would_break_subjects_is_refused() {
        let secret = "s".repeat(32);
        assert!(config(&[("CASHFLOW_JWT_SECRET", &secret), ("CASHFLOW_NATS_PREFIX", "a.b")]).is_err());
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
