//! Crash safety: SIGKILL the service again and again under a write load. Every command the
//! clients saw acknowledged is in the read model exactly once, and the live read model equals
//! a rebuild from the store.

mod support;

use cashflow_proto::v1::*;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use support::{CASHFLOW, Namespace, Server, command_id, open_account};
use tokio::sync::RwLock;
use uuid::Uuid;

const WRITERS: usize = 8;
const KILLS: usize = 4;

/// One user's eight writers run as fast as the server goes: the per-user rate limit is not
/// what this test is about, so it is set far above what they can send.
const UNLIMITED: &[(&str, &str)] =
    &[("CASHFLOW_RATE_LIMIT_COMMANDS_BURST", "1000000"), ("CASHFLOW_RATE_LIMIT_COMMANDS_PER_MINUTE", "1000000")];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_commands_survive_sigkill_exactly_once() {
    let namespace = Namespace::new();
    let user = Uuid::now_v7();
    let server = Server::start_with(CASHFLOW, &namespace, "api,relay,projectors", UNLIMITED);
    let account = open_account(&mut server.ledger(user).await, "Main").await;

    // Writers find the current server through this, and retry each command with the SAME
    // command_id until it is acknowledged: what the idempotency key is for.
    let current = Arc::new(RwLock::new(server.addr.clone()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let current = current.clone();
        let stop = stop.clone();
        let account_id = account.account_id.clone();
        writers.push(tokio::spawn(async move {
            let mut acknowledged: Vec<(String, String, Decimal, u64)> = Vec::new();
            let mut retries = 0usize;
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let request = RecordMovementRequest {
                    command_id: command_id(),
                    account_id: account_id.clone(),
                    direction: Direction::Expense as i32,
                    amount: format!("{}.{:02}", w + 1, n % 100),
                    occurred_on: "2026-11-01".into(),
                    description: format!("writer {w} #{n}"),
                    counterparty: None,
                    category_id: None,
                };
                loop {
                    let addr = current.read().await.clone();
                    let attempt = async {
                        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
                            .expect("uri")
                            .connect_timeout(Duration::from_millis(500))
                            .connect()
                            .await
                            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
                        let mut client = ledger_service_client::LedgerServiceClient::with_interceptor(
                            channel,
                            support::bearer(user),
                        );
                        client.record_movement(request.clone()).await
                    };
                    match attempt.await {
                        Ok(response) => {
                            let response = response.into_inner();
                            let amount = Decimal::from_str(&request.amount).expect("amount");
                            acknowledged.push((
                                request.command_id.clone(),
                                response.movement_id,
                                amount,
                                response.position,
                            ));
                            break;
                        }
                        // The server is down or was killed mid-call: try again, same command.
                        Err(status) => {
                            assert!(
                                matches!(
                                    status.code(),
                                    tonic::Code::Unavailable
                                        | tonic::Code::Unknown
                                        | tonic::Code::Cancelled
                                        | tonic::Code::Internal
                                ),
                                "unexpected error {status:?}"
                            );
                            retries += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
            (acknowledged, retries)
        }));
    }

    let mut server = server;
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.kill();
        server = Server::start_with(CASHFLOW, &namespace, "api,relay,projectors", UNLIMITED);
        *current.write().await = server.addr.clone();
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acknowledged, mut retries) = (Vec::new(), 0);
    for writer in writers {
        let (acked, retried) = writer.await.expect("writer");
        acknowledged.extend(acked);
        retries += retried;
    }
    eprintln!("{} commands acknowledged, {retries} attempts cut off by a kill and retried", acknowledged.len());
    assert!(acknowledged.len() > 20, "the load was too small to prove anything: {}", acknowledged.len());
    assert!(retries > 0, "no kill interrupted a write: the test proved nothing");

    // Every acknowledged command is in the read model exactly once.
    let last = acknowledged.iter().map(|a| a.3).max().unwrap_or(0);
    let mut query = server.query(user).await;
    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = query
            .list_movements(ListMovementsRequest {
                page_size: 500,
                page_token: page_token.clone(),
                min_position: Some(last),
                ..Default::default()
            })
            .await
            .expect("list")
            .into_inner();
        listed.extend(page.movements);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for movement in &listed {
        *by_id.entry(movement.movement_id.as_str()).or_default() += 1;
    }
    assert!(by_id.values().all(|&n| n == 1), "a movement is listed twice");
    for (command, movement_id, amount, _) in &acknowledged {
        let movement = listed.iter().find(|m| &m.movement_id == movement_id);
        let movement = movement.unwrap_or_else(|| panic!("acknowledged command {command} is missing"));
        assert_eq!(Decimal::from_str(&movement.amount).expect("amount"), *amount);
    }
    // Each command was retried until acknowledged, so nothing else may exist either.
    assert_eq!(listed.len(), acknowledged.len());
    let expected: Decimal = -acknowledged.iter().map(|a| a.2).sum::<Decimal>();
    let balances = query
        .get_balances(GetBalancesRequest { min_position: Some(last), as_of: None })
        .await
        .expect("balances")
        .into_inner();
    assert_eq!(Decimal::from_str(&balances.balances[0].balance).expect("balance"), expected);

    // The live read model equals a rebuild from the store.
    server.terminate();
    let pool = namespace.pool().await;
    let live = support::dump_ledger(&pool).await;
    let output = support::run_cli(CASHFLOW, &namespace, &["projections", "rebuild", "ledger"]);
    assert!(output.status.success(), "rebuild failed: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(support::dump_ledger(&pool).await, live);
}
