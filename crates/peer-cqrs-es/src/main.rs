//! `cashflow-peer`: the two figures that BENCHMARKS.md sets beside the end-to-end command rate,
//! measured on the same PostgreSQL in the same run of `scripts/bench.sh` (ADR 0029).
//!
//! ```text
//! cashflow-peer peer [--seconds 15] [--concurrency 64] [--accounts 1500] [--pool 20] [--json PATH]
//! cashflow-peer raw  [--seconds 15] [--concurrency 64] [--pool <concurrency>] [--json PATH]
//! ```
//!
//! `peer`: a cqrs-es + postgres-es account aggregate recording movements, one library call per
//! command (load the account's events, decide, append), from `concurrency` tasks. No gRPC, no
//! authentication, no projection, no bus.
//!
//! `raw`: single-row INSERT transactions (autocommit) into a copy of Cashflow's `events` table,
//! the same statement as the `append` bench of `cashflow-eventstore`, from `concurrency` tasks.
//!
//! Each run makes its own database on `CASHFLOW_BENCH_POSTGRES` (a server URL ending in `/`;
//! the local server by default) and drops it afterwards. A loopback server is reached without
//! TLS unless the URL sets `sslmode` (ADR 0008). Prints a line for people and one JSON line.
#![forbid(unsafe_code)]

mod account;
mod database;
mod load;
mod peer;
mod raw;

use std::path::PathBuf;
use std::time::Duration;

struct Args {
    mode: String,
    seconds: f64,
    concurrency: usize,
    accounts: usize,
    pool: Option<u32>,
    json: Option<PathBuf>,
}

const USAGE: &str =
    "usage: cashflow-peer (peer|raw) [--seconds S] [--concurrency N] [--accounts N] [--pool N] [--json PATH]";

fn parse() -> Result<Args, String> {
    let mut words = std::env::args().skip(1);
    let mode = words.next().filter(|m| m == "peer" || m == "raw").ok_or(USAGE)?;
    let mut args = Args { mode, seconds: 15.0, concurrency: 64, accounts: 1500, pool: None, json: None };
    while let Some(flag) = words.next() {
        let value = words.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |_| format!("{flag}: {value:?} is not a number");
        match flag.as_str() {
            "--seconds" => args.seconds = value.parse().map_err(|_| format!("--seconds: {value:?}"))?,
            "--concurrency" => args.concurrency = value.parse().map_err(bad)?,
            "--accounts" => args.accounts = value.parse().map_err(bad)?,
            "--pool" => args.pool = Some(value.parse().map_err(bad)?),
            "--json" => args.json = Some(value.into()),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if args.concurrency == 0 || args.accounts == 0 || !args.seconds.is_finite() || args.seconds <= 0.0 {
        return Err("--concurrency, --accounts and --seconds must be positive".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let server =
        std::env::var("CASHFLOW_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/".into());
    let duration = Duration::from_secs_f64(args.seconds);
    // By default what suits each best on 2 cores (ADR 0029): the peer over 20 connections, as
    // `cashflow serve`; raw INSERTs one per task, as the append bench.
    let pool_size = args.pool.unwrap_or(match args.mode.as_str() {
        "peer" => 20,
        _ => u32::try_from(args.concurrency).unwrap_or(u32::MAX),
    });
    let report = match args.mode.as_str() {
        "peer" => peer::run(&server, duration, args.concurrency, args.accounts, pool_size).await,
        _ => raw::run(&server, duration, args.concurrency, pool_size).await,
    };
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            eprintln!("cashflow-peer {}: {error}", args.mode);
            std::process::exit(1);
        }
    };
    println!("{}", report.line());
    let json = report.json();
    println!("{json}");
    if let Some(path) = args.json
        && let Err(error) = std::fs::write(&path, format!("{json}\n"))
    {
        eprintln!("writing {}: {error}", path.display());
        std::process::exit(1);
    }
}
