//! A database of the run's own, created before it and dropped after it, and the pool on it.

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct BenchDatabase {
    server: String,
    pub name: String,
}

impl BenchDatabase {
    /// Creates `cashflow_bench_<kind>_<unix seconds>_<pid>` on `server` (a URL ending in `/`).
    pub async fn create(server: &str, kind: &str) -> Result<Self, sqlx::Error> {
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let name = format!("cashflow_bench_{kind}_{stamp}_{}", std::process::id());
        let mut maintenance = connect_options(&format!("{server}postgres"))?.connect().await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut maintenance).await?;
        maintenance.close().await?;
        Ok(Self { server: server.to_owned(), name })
    }

    /// A pool of `size` connections on this database, set up as Cashflow's pools are: no TLS on
    /// loopback and no ping before each statement (sqlx's `test_before_acquire`).
    pub async fn pool(&self, size: u32) -> Result<PgPool, sqlx::Error> {
        let options = connect_options(&format!("{}{}", self.server, self.name))?;
        PgPoolOptions::new().max_connections(size).test_before_acquire(false).connect_with(options).await
    }

    pub async fn drop_database(self) -> Result<(), sqlx::Error> {
        let mut maintenance = connect_options(&format!("{}postgres", self.server))?.connect().await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut maintenance).await?;
        maintenance.close().await
    }
}

/// `url`'s settings; a loopback host without `sslmode` in the URL connects without TLS, as
/// `cashflow_eventstore::postgres::connect_options` does (ADR 0008).
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    let loopback = match options.get_host() {
        "localhost" => true,
        host => host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
    };
    if loopback && !url.to_ascii_lowercase().contains("sslmode=") {
        return Ok(options.ssl_mode(PgSslMode::Disable));
    }
    Ok(options)
}
