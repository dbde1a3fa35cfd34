//! Realistic load for Cashflow's gRPC API: simulated people with accounts and categories
//! recording, categorising, voiding and reading movements, measured without coordinated
//! omission.
//!
//! # Layout
//!
//! - this file: [`LoadConfig`] and [`run`]: set-up, the clients, the report.
//! - [`workload`]: what one simulated person does next, and the realistic data it sends.
//! - [`report`]: histograms per RPC, errors by status code, the table and the JSON.
//! - [`rng`]: a seedable random source.
//!
//! In open-loop mode (`rate`) every operation has an intended send time on a fixed schedule
//! and its latency is measured from that time, so a stalled server shows as latency instead
//! of silently lowering the load (coordinated omission).
#![forbid(unsafe_code)]

pub mod report;
pub mod rng;
pub mod workload;

use anyhow::Context;
use report::{Recorder, Report};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};

/// How to load the server.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `http://host:port` of a running `cashflow serve`.
    pub endpoint: String,
    /// The server's `CASHFLOW_JWT_SECRET`, to sign each simulated person's token.
    pub jwt_secret: String,
    /// Simulated people; each has 1–2 accounts and a handful of categories.
    pub users: usize,
    /// Concurrent clients, each on its own connection.
    pub clients: usize,
    /// Stop after this long.
    pub duration: Duration,
    /// Stop after this many operations in all (whichever comes first).
    pub max_operations: Option<u64>,
    /// Total operations per second, open loop; `None` runs each client as fast as it can.
    pub rate: Option<f64>,
    /// Every n-th recorded movement is read back with its position as `min_position`.
    pub freshness_every: u64,
    pub seed: u64,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            endpoint: "http://127.0.0.1:50051".into(),
            jwt_secret: String::new(),
            users: 100,
            clients: 64,
            duration: Duration::from_secs(10),
            max_operations: None,
            rate: None,
            freshness_every: 10,
            seed: 1,
        }
    }
}

/// Sets up the simulated people, runs the clients, and returns what they measured.
pub async fn run(config: LoadConfig) -> anyhow::Result<Report> {
    anyhow::ensure!(config.clients > 0, "at least one client");
    anyhow::ensure!(config.users > 0, "at least one user");
    anyhow::ensure!(config.rate.is_none_or(|r| r > 0.0), "the rate must be positive");
    let endpoint = Endpoint::from_shared(config.endpoint.clone()).context("the endpoint is not a URI")?;

    // Set-up is not measured: each person's accounts and categories.
    let mut people = Vec::with_capacity(config.users);
    let channel = connect(&endpoint).await?;
    for i in 0..config.users {
        people.push(workload::Person::set_up(channel.clone(), &config.jwt_secret, config.seed ^ i as u64).await?);
    }

    // Deal the people out to the clients; a client with none borrows one.
    let mut shares: Vec<Vec<workload::Person>> = (0..config.clients).map(|_| Vec::new()).collect();
    for (i, person) in people.into_iter().enumerate() {
        shares[i % config.clients].push(person);
    }
    let mut clients = JoinSet::new();
    let started = Instant::now();
    let deadline = started + config.duration;
    let per_client_ops = config.max_operations.map(|n| n.div_ceil(config.clients as u64));
    let interval = config.rate.map(|rate| Duration::from_secs_f64(config.clients as f64 / rate));
    for (i, share) in shares.into_iter().enumerate() {
        let channel = connect(&endpoint).await?;
        let people = if share.is_empty() {
            vec![
                workload::Person::set_up(channel.clone(), &config.jwt_secret, config.seed ^ (1 << 40) ^ i as u64)
                    .await?,
            ]
        } else {
            share
        };
        let client = workload::Client::new(channel, people, config.seed ^ (i as u64) << 20, config.freshness_every);
        clients.spawn(client.run(deadline, per_client_ops, interval));
    }
    let mut recorder = Recorder::default();
    while let Some(joined) = clients.join_next().await {
        recorder.merge(joined.context("a client panicked")?);
    }
    Ok(recorder.into_report(started.elapsed(), config.clients, config.rate))
}

async fn connect(endpoint: &Endpoint) -> anyhow::Result<Channel> {
    endpoint.clone().tcp_nodelay(true).connect().await.with_context(|| format!("connecting to {}", endpoint.uri()))
}
