//! Notifications under the ledger's end-to-end load: the release `cashflow serve` (api, relay,
//! projectors, notifications in one process) takes RecordMovement open loop at a fixed rate from
//! many people, each expense at or over its person's large expense threshold, so every command
//! raises one notification delivered to that person's webhook (a receiver on 127.0.0.1 that
//! answers at once). Reported: commands/s, notifications raised and delivered per second, and the
//! latency from each command's intended send time to its webhook's arrival (p50, p90, p99, max),
//! so a stall shows as latency (no coordinated omission).
//!
//! `CASHFLOW_BENCH_RATE` (commands/s, 500), `CASHFLOW_BENCH_SECONDS` (20), `CASHFLOW_BENCH_PEOPLE`
//! (200), `CASHFLOW_BENCH_CLIENTS` (64 connections).

use cashflow_proto::v1::*;
use cashflow_testkit::receivers::receiver;
use cashflow_testkit::scale::env;
use cashflow_testkit::{Namespace, Server, command_id, open_account};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CASHFLOW: &str = env!("CARGO_BIN_EXE_cashflow");

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let rate = env("CASHFLOW_BENCH_RATE", 500);
    let seconds = env("CASHFLOW_BENCH_SECONDS", 20);
    let people = env("CASHFLOW_BENCH_PEOPLE", 200);
    let clients = env("CASHFLOW_BENCH_CLIENTS", 64);
    let hook = receiver(http::StatusCode::NO_CONTENT).await;
    let namespace = Namespace::new();
    let server = Server::start_with(
        CASHFLOW,
        &namespace,
        "api,relay,projectors,notifications",
        &[("CASHFLOW_WEBHOOK_ALLOW_PRIVATE", "true"), ("CASHFLOW_DB_MAX_CONNECTIONS", "20"), ("RUST_LOG", "error")],
    );
    println!("notifications bench: {rate} commands/s for {seconds} s, {people} people, {clients} connections");

    let mut accounts = Vec::new();
    for _ in 0..people {
        let user = uuid::Uuid::now_v7();
        let mut clients = server.clients(user).await;
        let account = open_account(&mut clients.ledger, "Main").await.account_id;
        clients
            .notifications
            .add_channel(AddChannelRequest {
                command_id: command_id(),
                kind: ChannelKind::Webhook.into(),
                target: hook.url(&format!("/{user}")),
                topics: vec![],
            })
            .await
            .expect("add a webhook");
        clients
            .notifications
            .set_preferences(SetPreferencesRequest {
                command_id: command_id(),
                large_expense_threshold: Some("1.00".into()),
                monthly_report: None,
            })
            .await
            .expect("preferences");
        accounts.push((user, account));
    }
    // Commands go out over `clients` connections, each person's on one of them.
    let mut per_connection: Vec<Vec<(uuid::Uuid, String)>> = vec![Vec::new(); clients.clamp(1, people)];
    let connections = per_connection.len();
    for (index, person) in accounts.into_iter().enumerate() {
        per_connection[index % connections].push(person);
    }
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(server.channel().await);
    }

    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let errors = Arc::new(Mutex::new(0u64));
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut ledgers: Vec<_> = per_connection
        .iter()
        .zip(&channels)
        .map(|(people, channel)| {
            people
                .iter()
                .map(|(user, account)| {
                    let client = ledger_service_client::LedgerServiceClient::with_interceptor(
                        channel.clone(),
                        cashflow_testkit::bearer(*user),
                    );
                    (client, account.clone())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut cursor = vec![0usize; ledgers.len()];
    for i in 0..total {
        let intended = started + interval * u32::try_from(i).expect("fewer commands");
        let connection = i % ledgers.len();
        let people = &mut ledgers[connection];
        let (client, account) = people[cursor[connection] % people.len()].clone();
        cursor[connection] += 1;
        let (sent, errors) = (sent.clone(), errors.clone());
        let mut client = client;
        tokio::time::sleep_until(intended.into()).await;
        tasks.spawn(async move {
            let recorded = client
                .record_movement(RecordMovementRequest {
                    command_id: command_id(),
                    account_id: account,
                    direction: Direction::Expense.into(),
                    amount: "5.00".into(),
                    occurred_on: "2026-11-10".into(),
                    description: "coffee beans".into(),
                    counterparty: None,
                    category_id: None,
                })
                .await;
            match recorded {
                Ok(recorded) => {
                    sent.lock().expect("sent").insert(recorded.into_inner().movement_id, intended);
                }
                Err(_) => *errors.lock().expect("errors") += 1,
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let load_seconds = started.elapsed().as_secs_f64();
    let recorded = sent.lock().expect("sent").len();

    let deadline = Instant::now() + Duration::from_secs(300);
    while hook.received().len() < recorded && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = hook.received();
    let sent = sent.lock().expect("sent").clone();
    let mut latencies = Vec::new();
    let mut last = started;
    for request in &received {
        let body: serde_json::Value = serde_json::from_str(&request.body).expect("JSON");
        let movement = body["subjectId"].as_str().expect("a subject");
        if let Some(intended) = sent.get(movement) {
            latencies.push(request.at.saturating_duration_since(*intended));
            last = last.max(request.at);
        }
    }
    latencies.sort();
    let span = last.saturating_duration_since(started).as_secs_f64();
    println!(
        "commands: {recorded} ok, {} errors, {:.1}/s",
        *errors.lock().expect("errors"),
        recorded as f64 / load_seconds
    );
    println!(
        "notifications delivered: {} of {recorded} ({} duplicates), {:.1}/s from the first command to the last delivery",
        latencies.len(),
        received.len() - latencies.len(),
        latencies.len() as f64 / span
    );
    if !latencies.is_empty() {
        println!(
            "command (intended send) -> webhook received, ms: p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1}",
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.90),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0)
        );
    }
    drop(server);
}
