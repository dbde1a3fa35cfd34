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

    /// A pool on this database, set up as Cashflow's pools are: no TLS on loopback and no ping
    /// before each statement (sqlx's `test_before_acquire`), with its connections open before it
    /// is returned, so the measured window pays for none. Of `size` connections, or fewer when
    /// the server has fewer free (`max_connections` less those in use less 10 for others): a
    /// task that cannot have one would wait for sqlx's acquire timeout (30 s) and then fail.
    pub async fn pool(&self, size: u32) -> Result<PgPool, sqlx::Error> {
        let options = connect_options(&format!("{}{}", self.server, self.name))?;
        let mut probe = options.clone().connect().await?;
        let free: i64 = sqlx::query_scalar(
            "SELECT current_setting('max_connections')::bigint - (SELECT count(*) FROM pg_stat_activity \
             WHERE backend_type = 'client backend')",
        )
        .fetch_one(&mut probe)
        .await?;
        probe.close().await?;
        let size = match u32::try_from(free - 10) {
            Ok(available) if available < size => {
                eprintln!("the server has {free} connections free: a pool of {} instead of {size}", available.max(1));
                available.max(1)
            }
            Ok(_) => size,
            Err(_) => 1,
        };
        let pool = PgPoolOptions::new().max_connections(size).test_before_acquire(false).connect_with(options).await?;
        let mut open = Vec::new();
        for _ in 0..size {
            open.push(pool.acquire().await?);
        }
        drop(open);
        Ok(pool)
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
