//! `cashflow-loadgen`: drives a running Cashflow server and prints what it measured.
#![forbid(unsafe_code)]

use anyhow::Context;
use cashflow_loadgen::{LoadConfig, run};
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Realistic load against Cashflow's gRPC API.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The server, e.g. http://127.0.0.1:50051.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    endpoint: String,
    /// The server's JWT secret, to sign the simulated people's tokens.
    #[arg(long, env = "CASHFLOW_JWT_SECRET", hide_env_values = true)]
    jwt_secret: String,
    /// Simulated people.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Concurrent clients, one connection each.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Run time in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Stop after this many operations.
    #[arg(long)]
    count: Option<u64>,
    /// Operations per second in all (open loop); full speed when absent.
    #[arg(long)]
    rate: Option<f64>,
    /// Measure freshness on every n-th recorded movement.
    #[arg(long, default_value_t = 10)]
    freshness_every: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = LoadConfig {
        endpoint: args.endpoint,
        jwt_secret: args.jwt_secret,
        users: args.users,
        clients: args.clients,
        duration: Duration::try_from_secs_f64(args.duration).context("--duration")?,
        max_operations: args.count,
        rate: args.rate,
        freshness_every: args.freshness_every,
        seed: args.seed,
    };
    let report = run(config).await?;
    print!("{}", report.table());
    if let Some(path) = args.json {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
