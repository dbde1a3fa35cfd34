//! End to end: `/metrics`, `/healthz` and `/readyz` of the real binary. After known traffic
//! the counters and histograms hold exactly its counts; the projection lag shows the events a
//! stopped projector has not applied, and returns to 0 once one runs.

mod support;

use cashflow_proto::v1::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::{CASHFLOW, Namespace, Server, command_id, open_account};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const SETTLE: Duration = Duration::from_secs(30);

/// `GET path` over plain HTTP/1.1; the status code and the body.
async fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect to the metrics port");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    (status, body.to_owned())
}

/// One Prometheus sample: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition format (labels without escaped quotes or commas, as ours are).
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample line: {line}"));
            let value = match value {
                "+Inf" => f64::INFINITY,
                other => other.parse().unwrap_or_else(|_| panic!("a value: {line}")),
            };
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split(',')
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (k, v) = pair.split_once('=').expect("label=value");
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
                None => (series.to_owned(), BTreeMap::new()),
            };
            Sample { name, labels, value }
        })
        .collect()
}

struct Scrape(Vec<Sample>);

impl Scrape {
    async fn from(addr: &str) -> Self {
        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200, "{body}");
        Self(parse(&body))
    }

    /// The value of the one series named `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<&Sample> = self
            .0
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .collect();
        assert!(matching.len() <= 1, "{name} {labels:?} is ambiguous: {matching:?}");
        matching.first().map(|s| s.value)
    }

    fn sum(&self, name: &str) -> f64 {
        self.0.iter().filter(|s| s.name == name).map(|s| s.value).sum()
    }
}

/// Scrapes until `done` holds, or fails after [`SETTLE`].
async fn scrape_until(addr: &str, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + SETTLE;
    loop {
        let scrape = Scrape::from(addr).await;
        if done(&scrape) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "{what} within {SETTLE:?}: {:#?}", scrape.0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const MOVEMENTS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_known_traffic_and_projection_lag_returns_to_zero() {
    let namespace = Namespace::new();
    let metrics_env = [("CASHFLOW_METRICS_ADDR", "127.0.0.1:0")];
    // The API and the relay, but no projector yet: the ledger must fall behind.
    let api = Server::start_with(CASHFLOW, &namespace, "api,relay", &metrics_env);
    let api_metrics = api.metrics_addr.clone().expect("the metrics port is announced");

    assert_eq!(get(&api_metrics, "/healthz").await.0, 200);
    assert_eq!(get(&api_metrics, "/readyz").await.0, 200);
    assert_eq!(get(&api_metrics, "/nothing-here").await.0, 404);

    // Known traffic: one account, MOVEMENTS movements, one refused movement.
    let mut ledger = api.ledger(Uuid::now_v7()).await;
    let account = open_account(&mut ledger, "Main").await;
    let mut head = account.position;
    for i in 0..MOVEMENTS {
        let recorded = ledger
            .record_movement(RecordMovementRequest {
                command_id: command_id(),
                account_id: account.account_id.clone(),
                direction: Direction::Expense as i32,
                amount: format!("{}.25", i + 1),
                occurred_on: "2026-01-15".into(),
                description: "Lunch".into(),
                counterparty: None,
                category_id: None,
            })
            .await
            .expect("record movement")
            .into_inner();
        head = head.max(recorded.position);
    }
    let refused = ledger
        .record_movement(RecordMovementRequest {
            command_id: command_id(),
            account_id: account.account_id.clone(),
            direction: Direction::Expense as i32,
            amount: "-3".into(),
            occurred_on: "2026-01-15".into(),
            description: "Refused".into(),
            counterparty: None,
            category_id: None,
        })
        .await
        .expect_err("a negative amount is refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    // The relay publishes everything; nothing projects it.
    let scrape = scrape_until(&api_metrics, "the relay catching up", |s| {
        s.value("cashflow_relay_lag_positions", &[]) == Some(0.0)
            && s.value("cashflow_eventstore_head_position", &[]) == Some(head as f64)
    })
    .await;
    assert_eq!(scrape.value("cashflow_projection_lag_positions", &[("projection", "ledger")]), Some(head as f64));
    assert!(scrape.value("cashflow_projection_lag_seconds", &[("projection", "ledger")]).is_some_and(|s| s > 0.0));
    assert_eq!(scrape.value("cashflow_relay_published_total", &[]), Some(head as f64));

    // RPCs by method and code: counters and histograms.
    let ledger_rpc = |method: &'static str, code: &'static str| {
        [("service", "cashflow.v1.LedgerService"), ("method", method), ("code", code)]
    };
    assert_eq!(scrape.value("cashflow_rpc_requests_total", &ledger_rpc("OpenAccount", "Ok")), Some(1.0));
    assert_eq!(
        scrape.value("cashflow_rpc_requests_total", &ledger_rpc("RecordMovement", "Ok")),
        Some(MOVEMENTS as f64)
    );
    assert_eq!(
        scrape.value("cashflow_rpc_requests_total", &ledger_rpc("RecordMovement", "InvalidArgument")),
        Some(1.0)
    );
    assert_eq!(
        scrape.value("cashflow_rpc_duration_seconds_count", &ledger_rpc("RecordMovement", "Ok")),
        Some(MOVEMENTS as f64)
    );
    let mut inf = ledger_rpc("RecordMovement", "Ok").to_vec();
    inf.push(("le", "+Inf"));
    assert_eq!(scrape.value("cashflow_rpc_duration_seconds_bucket", &inf), Some(MOVEMENTS as f64));
    assert!(scrape.value("cashflow_rpc_duration_seconds_sum", &ledger_rpc("RecordMovement", "Ok")).unwrap() > 0.0);

    // The event store: every stored event by type, one append per command, no conflict.
    assert_eq!(
        scrape.value("cashflow_events_appended_total", &[("event_type", "MovementRecorded")]),
        Some(MOVEMENTS as f64)
    );
    assert_eq!(scrape.sum("cashflow_events_appended_total"), head as f64);
    assert_eq!(
        scrape.value("cashflow_eventstore_append_duration_seconds_count", &[("outcome", "ok")]),
        Some((MOVEMENTS + 1) as f64)
    );
    assert_eq!(scrape.value("cashflow_eventstore_append_conflicts_total", &[]), Some(0.0));
    // Every append went through a group commit, however the batches fell.
    assert_eq!(scrape.value("cashflow_eventstore_batch_requests_sum", &[]), Some((MOVEMENTS + 1) as f64));
    assert!(scrape.value("cashflow_eventstore_batch_duration_seconds_count", &[]).is_some_and(|n| n >= 1.0));
    assert_eq!(scrape.value("cashflow_db_pool_connections_max", &[]), Some(10.0));
    assert!(scrape.value("cashflow_db_pool_connections_in_use", &[]).is_some());

    // A projector and a worker start: the lag returns to 0, seen from both processes.
    let projectors = Server::start_with(CASHFLOW, &namespace, "projectors,categoriser", &metrics_env);
    let projector_metrics = projectors.metrics_addr.clone().expect("the projectors' metrics port");
    scrape_until(&api_metrics, "the projection lag back to 0", |s| {
        s.value("cashflow_projection_lag_positions", &[("projection", "ledger")]) == Some(0.0)
            && s.value("cashflow_projection_lag_seconds", &[("projection", "ledger")]) == Some(0.0)
    })
    .await;
    let consumer = format!("{}_ledger", namespace.prefix());
    let scrape = scrape_until(&projector_metrics, "the consumer's backlog drained", |s| {
        s.value("cashflow_jetstream_consumer_pending", &[("consumer", &consumer)]) == Some(0.0)
            && s.value("cashflow_jetstream_consumer_ack_pending", &[("consumer", &consumer)]) == Some(0.0)
    })
    .await;
    assert_eq!(scrape.value("cashflow_projection_lag_positions", &[("projection", "ledger")]), Some(0.0));
    assert_eq!(scrape.value("cashflow_projector_events_applied_total", &[("projection", "ledger")]), Some(head as f64));
    assert!(scrape.value("cashflow_jetstream_consumer_redelivered", &[("consumer", &consumer)]).is_some());
    // Workers' consumers are reported beside the projectors': the categoriser (it takes
    // MovementRecorded only) handled every movement.
    let worker = format!("{}_categoriser", namespace.prefix());
    let scrape = scrape_until(&projector_metrics, "the categoriser's backlog drained", |s| {
        s.value("cashflow_jetstream_consumer_pending", &[("consumer", &worker)]) == Some(0.0)
            && s.value("cashflow_worker_messages_total", &[("worker", "categoriser"), ("outcome", "ok")])
                == Some(MOVEMENTS as f64)
    })
    .await;
    assert_eq!(scrape.value("cashflow_jetstream_consumer_ack_pending", &[("consumer", &worker)]), Some(0.0));
    let (_, text) = get(&projector_metrics, "/metrics").await;
    for described in ["cashflow_worker_messages_total", "cashflow_worker_handle_duration_seconds"] {
        assert!(text.contains(&format!("# HELP {described} ")), "{described} has no HELP line");
    }

    // A graceful stop still works with the metrics port open.
    assert_eq!(get(&projector_metrics, "/readyz").await.0, 200);
    assert!(projectors.terminate().success());
}

/// Calls to method names no service declares, with or without a token, add no series: a scanner
/// cannot grow `/metrics` (1,500 such calls added 4.3 MB of series that never expired).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn method_names_no_service_declares_add_no_series() {
    const CALLS: usize = 60;
    let namespace = Namespace::new();
    let api = Server::start_with(CASHFLOW, &namespace, "api", &[("CASHFLOW_METRICS_ADDR", "127.0.0.1:0")]);
    let metrics = api.metrics_addr.clone().expect("the metrics port is announced");
    let before = get(&metrics, "/metrics").await.1.len();

    let mut grpc = tonic::client::Grpc::new(api.channel().await);
    let names: Vec<String> = (0..CALLS).map(|i| format!("Probe{i}x{}", Uuid::now_v7().simple())).collect();
    for (i, name) in names.iter().enumerate() {
        // Half under a real service (its auth refuses first), half under no service at all.
        let service = if i % 2 == 0 { "cashflow.v1.LedgerService" } else { "cashflow.v9.NoSuchService" };
        let path = http::uri::PathAndQuery::try_from(format!("/{service}/{name}")).expect("a path");
        grpc.ready().await.expect("the channel is ready");
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        let status = grpc.unary(tonic::Request::new(()), path, codec).await.expect_err("no such method");
        assert!(matches!(status.code(), tonic::Code::Unauthenticated | tonic::Code::Unimplemented), "{status:?}");
    }

    let (_, body) = get(&metrics, "/metrics").await;
    for name in &names {
        assert!(!body.contains(name.as_str()), "{name} became a label");
    }
    assert!(!body.contains("cashflow.v9.NoSuchService"), "an undeclared service became a label");
    let scrape = Scrape::from(&metrics).await;
    let unknown = |code| {
        scrape.value("cashflow_rpc_requests_total", &[("service", "unknown"), ("method", "unknown"), ("code", code)])
    };
    assert_eq!(unknown("Unauthenticated"), Some((CALLS / 2) as f64));
    assert_eq!(unknown("Unimplemented"), Some((CALLS / 2) as f64));
    // Two label sets (each a counter and a histogram), whatever the number of names tried.
    assert!(body.len() < before + 16 * 1024, "/metrics grew from {before} to {} bytes", body.len());
}
