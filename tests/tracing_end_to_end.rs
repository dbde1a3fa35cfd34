//! End to end: one RecordMovement, sent with a trace context the test chose, reads as one
//! trace from the gRPC call through the event store and NATS to the ledger projector, in one
//! process and across two; JSON logs carry the same trace id.
//!
//! The spans are received by an OTLP collector implemented here (the collector's
//! `TraceService/Export`), so what is checked is exactly what Jaeger would get.

mod support;

use cashflow_proto::v1::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{CASHFLOW, Namespace, Server, command_id, open_account};
use uuid::Uuid;

/// Longest wait for spans to arrive: the batch exporter sends every 200 ms here.
const ARRIVAL: Duration = Duration::from_secs(30);
const AMOUNT: &str = "4321.09";

/// A span as received, with the roles of the process that sent it.
#[derive(Clone, Debug)]
struct Received {
    roles: String,
    span: Span,
}

/// The OTLP trace collector: keeps every span it is sent.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().expect("spans");
        for resource_spans in request.into_inner().resource_spans {
            let attributes = resource_spans.resource.map(|r| r.attributes).unwrap_or_default();
            assert_eq!(attribute(&attributes, "service.name").as_deref(), Some("cashflow"));
            assert!(attribute(&attributes, "service.version").is_some_and(|v| !v.is_empty()));
            assert!(attribute(&attributes, "host.name").is_some_and(|v| !v.is_empty()));
            let roles = attribute(&attributes, "cashflow.roles").expect("the roles resource attribute");
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans.into_iter().map(|span| Received { roles: roles.clone(), span }));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

impl Collector {
    /// Listens on a free port; returns the endpoint for `CASHFLOW_OTLP_ENDPOINT`.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the collector");
        let addr = listener.local_addr().expect("collector address");
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await
                .expect("the collector stopped");
        });
        format!("http://{addr}")
    }

    fn all(&self) -> Vec<Received> {
        self.spans.lock().expect("spans").clone()
    }

    /// Waits until `done` holds for what was received, or fails after [`ARRIVAL`].
    async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + ARRIVAL;
        loop {
            let spans = self.all();
            if done(&spans) {
                return spans;
            }
            assert!(Instant::now() < deadline, "{what} did not arrive within {ARRIVAL:?}; got {}", summary(&spans));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn text(value: &Option<AnyValue>) -> Option<String> {
    Some(match value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => s.clone(),
        Value::IntValue(i) => i.to_string(),
        Value::BoolValue(b) => b.to_string(),
        Value::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    })
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| text(&kv.value))
}

fn attr(span: &Span, key: &str) -> Option<String> {
    attribute(&span.attributes, key)
}

fn summary(spans: &[Received]) -> String {
    spans
        .iter()
        .map(|r| format!("{} [{}] {}", r.span.name, r.roles, hex(&r.span.trace_id)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A trace context of the test's own: 32-hex trace id, 16-hex parent span id.
fn chosen_context() -> (String, String) {
    let trace_id = Uuid::now_v7().simple().to_string();
    // The random tail of a UUIDv7.
    let parent_id = Uuid::now_v7().simple().to_string()[16..].to_owned();
    (trace_id, parent_id)
}

/// Opens an account (untraced) and records one movement with `traceparent`; its id and position.
async fn record_one_movement(server: &Server, user: Uuid, traceparent: &str) -> (String, u64) {
    let mut ledger = server.ledger(user).await;
    let account = ledger
        .open_account(OpenAccountRequest {
            command_id: command_id(),
            name: "Main".into(),
            currency: "EUR".into(),
            opening_balance: Some("10.00".into()),
        })
        .await
        .expect("open account")
        .into_inner();
    let mut request = tonic::Request::new(RecordMovementRequest {
        command_id: command_id(),
        account_id: account.account_id,
        direction: Direction::Expense as i32,
        amount: AMOUNT.into(),
        occurred_on: "2026-01-15".into(),
        description: "Groceries".into(),
        counterparty: Some("Shop".into()),
        category_id: None,
    });
    request.metadata_mut().insert("traceparent", traceparent.parse().expect("ascii"));
    let recorded = ledger.record_movement(request).await.expect("record movement").into_inner();
    (recorded.movement_id, recorded.position)
}

/// The spans the flow must produce, found in what was received.
struct Flow {
    server: Received,
    command: Received,
    append: Received,
    publish: Received,
    apply: Received,
    batch: Received,
}

fn find_flow(spans: &[Received], trace_id: &str) -> Option<Flow> {
    let in_trace =
        |name: &str| spans.iter().find(|r| hex(&r.span.trace_id) == trace_id && r.span.name == name).cloned();
    let server = in_trace("cashflow.v1.LedgerService/RecordMovement")?;
    let command = in_trace("command.record_movement")?;
    let append = in_trace("eventstore.append")?;
    let publish =
        spans.iter().find(|r| hex(&r.span.trace_id) == trace_id && r.span.name.starts_with("publish ")).cloned()?;
    let apply = spans
        .iter()
        .find(|r| {
            hex(&r.span.trace_id) == trace_id
                && r.span.name.starts_with("process ")
                && attr(&r.span, "projection").as_deref() == Some("ledger")
        })
        .cloned()?;
    // The batch lives in a trace of its own and links the message's context.
    let batch = spans
        .iter()
        .find(|r| {
            attr(&r.span, "messaging.batch.message_count").is_some()
                && r.span.links.iter().any(|l| l.trace_id == publish.span.trace_id && l.span_id == publish.span.span_id)
        })
        .cloned()?;
    Some(Flow { server, command, append, publish, apply, batch })
}

/// Whether `span` descends from `ancestor` through received parents.
fn descends(spans: &[Received], span: &Span, ancestor: &Span) -> bool {
    let by_id: HashMap<Vec<u8>, &Span> = spans.iter().map(|r| (r.span.span_id.clone(), &r.span)).collect();
    let mut current = span;
    for _ in 0..32 {
        if current.parent_span_id == ancestor.span_id {
            return true;
        }
        match by_id.get(&current.parent_span_id) {
            Some(parent) => current = parent,
            None => return false,
        }
    }
    false
}

fn check_flow(spans: &[Received], flow: &Flow, trace_id: &str, parent_id: &str, prefix: &str) {
    let Flow { server, command, append, publish, apply, batch } = flow;

    // The API continued the caller's context.
    assert_eq!(hex(&server.span.parent_span_id), parent_id, "the server span's parent is the caller's span");
    assert_eq!(server.span.kind, SpanKind::Server as i32);
    assert_eq!(attr(&server.span, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(attr(&server.span, "rpc.service").as_deref(), Some("cashflow.v1.LedgerService"));
    assert_eq!(attr(&server.span, "rpc.method").as_deref(), Some("RecordMovement"));
    assert_eq!(attr(&server.span, "rpc.grpc.status_code").as_deref(), Some("0"));

    // The command shows what it appended.
    assert!(descends(spans, &command.span, &server.span), "the command runs inside the call");
    assert!(attr(&command.span, "stream_id").is_some_and(|s| s.starts_with("movement-")), "{:?}", command.span);
    assert_eq!(attr(&command.span, "expected_version").as_deref(), Some("NoStream"));
    assert_eq!(attr(&command.span, "events_appended").as_deref(), Some("1"));

    // The event store append.
    assert!(descends(spans, &append.span, &command.span), "the append runs inside the command");
    assert_eq!(append.span.kind, SpanKind::Client as i32);
    assert_eq!(attr(&append.span, "db.system").as_deref(), Some("postgresql"));
    assert_eq!(attr(&append.span, "db.operation").as_deref(), Some("append"));

    // The relay's publish continues the context stored with the event: the command's span.
    assert_eq!(publish.span.parent_span_id, command.span.span_id, "the publish is a child of the command");
    assert_eq!(publish.span.kind, SpanKind::Producer as i32);
    assert_eq!(attr(&publish.span, "messaging.system").as_deref(), Some("nats"));
    assert_eq!(attr(&publish.span, "messaging.operation").as_deref(), Some("publish"));
    let subject = format!("{prefix}.events.movement.MovementRecorded");
    assert_eq!(attr(&publish.span, "messaging.destination.name"), Some(subject.clone()));
    assert!(publish.roles.split(',').any(|r| r == "relay"), "published by the relay: {}", publish.roles);

    // The projector applied it as a child of the publish, carried in the NATS header.
    assert_eq!(apply.span.parent_span_id, publish.span.span_id, "the apply is a child of the publish");
    assert_eq!(apply.span.kind, SpanKind::Consumer as i32);
    assert_eq!(attr(&apply.span, "messaging.system").as_deref(), Some("nats"));
    assert_eq!(attr(&apply.span, "messaging.operation").as_deref(), Some("process"));
    assert_eq!(attr(&apply.span, "messaging.destination.name"), Some(subject));
    assert!(apply.roles.split(',').any(|r| r == "projectors"), "applied by the projectors: {}", apply.roles);

    // The batch links the trace rather than joining it.
    assert_ne!(hex(&batch.span.trace_id), trace_id);
    assert_eq!(batch.span.kind, SpanKind::Consumer as i32);
    assert_eq!(attr(&batch.span, "messaging.system").as_deref(), Some("nats"));

    // No amount in any attribute of the trace.
    for received in spans.iter().filter(|r| hex(&r.span.trace_id) == trace_id) {
        for kv in &received.span.attributes {
            let value = text(&kv.value).unwrap_or_default();
            assert!(!value.contains(AMOUNT), "{} carries the amount in {}", received.span.name, kv.key);
        }
    }
}

fn otlp_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CASHFLOW_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "200".to_owned()),
        // The log lines of the flow's crates; the spans have their own filter
        // (`CASHFLOW_TRACE_FILTER`). The harness keeps the lines (`start_capturing_logs`).
        ("RUST_LOG", "warn,cashflow_api=info,cashflow_app=info,cashflow_eventstore=info,cashflow_bus=info".to_owned()),
    ]
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_command_is_one_trace_from_the_call_to_the_projector() {
    let collector = Collector::default();
    let env = otlp_env(&collector.start().await);
    let namespace = Namespace::new();
    let server = Server::start_capturing_logs(CASHFLOW, &namespace, "api,relay,projectors", &borrowed(&env));

    let (trace_id, parent_id) = chosen_context();
    let user = Uuid::now_v7();
    let (movement_id, _) = record_one_movement(&server, user, &format!("00-{trace_id}-{parent_id}-01")).await;

    let spans = collector.wait_for("the whole flow", |spans| find_flow(spans, &trace_id).is_some()).await;
    let flow = find_flow(&spans, &trace_id).expect("the flow");
    check_flow(&spans, &flow, &trace_id, &parent_id, namespace.prefix());
    assert!(flow.server.roles.contains("api") && flow.apply.roles.contains("projectors"));

    // The audit trail names the same trace.
    let mut audit = server.audit(user).await;
    let mut events = audit
        .read_stream(ReadStreamRequest { stream_id: format!("movement-{movement_id}") })
        .await
        .expect("read the movement's stream")
        .into_inner();
    let event = events.message().await.expect("an audit event").expect("one event");
    assert_eq!(event.trace_id, trace_id);
    // A server stream's status comes in its trailers, and its span still gets it.
    while events.message().await.expect("the stream's end").is_some() {}
    let spans = collector
        .wait_for("the audit call's span", |spans| {
            spans.iter().any(|r| r.span.name == "cashflow.v1.AuditService/ReadStream")
        })
        .await;
    let read = spans.iter().find(|r| r.span.name == "cashflow.v1.AuditService/ReadStream").expect("the span");
    assert_eq!(attr(&read.span, "rpc.grpc.status_code").as_deref(), Some("0"));
}

/// Operators lower log levels in production: with `RUST_LOG=warn` and nothing else, the spans
/// of the whole flow still reach the collector (the span layer has its own filter,
/// `CASHFLOW_TRACE_FILTER`, whose default keeps cashflow's info-level spans).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quiet_logs_do_not_silence_the_traces() {
    let collector = Collector::default();
    let mut env = otlp_env(&collector.start().await);
    env.retain(|(name, _)| *name != "RUST_LOG");
    env.push(("RUST_LOG", "warn".to_owned()));
    let namespace = Namespace::new();
    let server = Server::start_capturing_logs(CASHFLOW, &namespace, "api,relay,projectors", &borrowed(&env));

    let (trace_id, parent_id) = chosen_context();
    record_one_movement(&server, Uuid::now_v7(), &format!("00-{trace_id}-{parent_id}-01")).await;

    let spans = collector.wait_for("the whole flow", |spans| find_flow(spans, &trace_id).is_some()).await;
    let flow = find_flow(&spans, &trace_id).expect("the flow");
    check_flow(&spans, &flow, &trace_id, &parent_id, namespace.prefix());
    // And the logs stayed quiet: no info line of the call made it to stderr.
    assert!(!server.logs().iter().any(|line| line.contains("INFO")), "{:?}", server.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_trace_crosses_processes_through_the_store_and_nats() {
    let collector = Collector::default();
    let env = otlp_env(&collector.start().await);
    let namespace = Namespace::new();
    let api = Server::start_capturing_logs(CASHFLOW, &namespace, "api", &borrowed(&env));
    let _workers = Server::start_capturing_logs(CASHFLOW, &namespace, "relay,projectors", &borrowed(&env));

    let (trace_id, parent_id) = chosen_context();
    record_one_movement(&api, Uuid::now_v7(), &format!("00-{trace_id}-{parent_id}-01")).await;

    let spans = collector.wait_for("the whole flow", |spans| find_flow(spans, &trace_id).is_some()).await;
    let flow = find_flow(&spans, &trace_id).expect("the flow");
    check_flow(&spans, &flow, &trace_id, &parent_id, namespace.prefix());
    // Two processes, one trace.
    for part in [&flow.server, &flow.command, &flow.append] {
        assert_eq!(part.roles, "api", "{}", part.span.name);
    }
    for part in [&flow.publish, &flow.apply, &flow.batch] {
        assert_eq!(part.roles, "relay,projectors", "{}", part.span.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_without_a_trace_context_starts_a_trace_that_still_reaches_the_projector() {
    let collector = Collector::default();
    let env = otlp_env(&collector.start().await);
    let namespace = Namespace::new();
    let server = Server::start_capturing_logs(CASHFLOW, &namespace, "api,relay,projectors", &borrowed(&env));
    let mut ledger = server.ledger(Uuid::now_v7()).await;
    open_account(&mut ledger, "Main").await;

    let spans = collector
        .wait_for("the account's apply", |spans| {
            spans.iter().any(|r| r.span.name == "cashflow.v1.LedgerService/OpenAccount")
                && spans.iter().any(|r| r.span.name.starts_with("process ") && attr(&r.span, "projection").is_some())
        })
        .await;
    let server_span = spans.iter().find(|r| r.span.name == "cashflow.v1.LedgerService/OpenAccount").expect("server");
    assert!(server_span.span.parent_span_id.is_empty(), "a new trace starts at the API");
    let apply = spans
        .iter()
        .find(|r| r.span.trace_id == server_span.span.trace_id && r.span.name.starts_with("process "))
        .unwrap_or_else(|| panic!("the apply joins the API's trace: {}", summary(&spans)));
    assert!(descends(&spans, &apply.span, &server_span.span));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_logs_carry_the_trace_id_of_the_request_that_caused_them() {
    let namespace = Namespace::new();
    let env = [
        ("CASHFLOW_LOG_FORMAT", "json"),
        // "rpc finished" (the API) and "event applied" (the projector) are debug lines.
        ("RUST_LOG", "warn,cashflow_api=debug,cashflow_bus::projector=debug"),
    ];
    let server = Server::start_capturing_logs(CASHFLOW, &namespace, "api,relay,projectors", &env);
    let (trace_id, parent_id) = chosen_context();
    record_one_movement(&server, Uuid::now_v7(), &format!("00-{trace_id}-{parent_id}-01")).await;

    let deadline = Instant::now() + ARRIVAL;
    let lines = loop {
        let lines: Vec<serde_json::Value> = server
            .logs()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}")))
            .collect();
        let with_trace = |message: &str| {
            lines.iter().any(|l| l["fields"]["message"] == message && l["trace_id"] == trace_id.as_str())
        };
        if with_trace("rpc finished") && with_trace("event applied") {
            break lines;
        }
        assert!(Instant::now() < deadline, "no API and projector lines with trace id {trace_id}: {lines:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Each line of the trace names its own span, not the caller's.
    for line in lines.iter().filter(|l| l["trace_id"] == trace_id.as_str()) {
        let span_id = line["span_id"].as_str().expect("a span id with the trace id");
        assert_eq!(span_id.len(), 16);
        assert_ne!(span_id, parent_id);
    }
    // An untraced line (start-up) has no ids rather than made-up ones.
    assert!(lines.iter().all(|l| l.get("trace_id").is_none() || l["trace_id"].as_str().is_some_and(|t| t.len() == 32)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spans_still_queued_at_shutdown_are_flushed_before_the_process_exits() {
    let collector = Collector::default();
    let mut env = otlp_env(&collector.start().await);
    // A minute between exports: only the shutdown's flush can send them in time.
    env.retain(|(name, _)| *name != "OTEL_BSP_SCHEDULE_DELAY");
    env.push(("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()));
    let namespace = Namespace::new();
    let server = Server::start_capturing_logs(CASHFLOW, &namespace, "api,relay,projectors", &borrowed(&env));

    let (trace_id, parent_id) = chosen_context();
    let (_, position) = record_one_movement(&server, Uuid::now_v7(), &format!("00-{trace_id}-{parent_id}-01")).await;
    // Wait until the projector committed the movement.
    let pool = namespace.pool().await;
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = 'ledger'")
                .fetch_optional(&pool)
                .await
                .expect("read the checkpoint");
        if applied.unwrap_or(0) >= position as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "the projector did not apply the movement");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.close().await;
    assert!(
        collector.all().iter().all(|r| hex(&r.span.trace_id) != trace_id),
        "nothing is exported before the schedule delay or the shutdown"
    );

    assert!(server.terminate().success(), "a graceful exit");
    let spans = collector.all();
    let flow = find_flow(&spans, &trace_id).unwrap_or_else(|| panic!("flushed at exit: {}", summary(&spans)));
    check_flow(&spans, &flow, &trace_id, &parent_id, namespace.prefix());
}

/// A notification's delivery is a span in the trace of the command that caused it: the worker
/// raises it under the event's trace context, the outbox keeps it, the dispatcher continues it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notification_is_delivered_in_the_trace_of_the_command_that_caused_it() {
    let collector = Collector::default();
    let mut env = otlp_env(&collector.start().await);
    env.push(("CASHFLOW_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()));
    let hook = cashflow_testkit::receivers::receiver(http::StatusCode::NO_CONTENT).await;
    let namespace = Namespace::new();
    let server =
        Server::start_capturing_logs(CASHFLOW, &namespace, "api,relay,projectors,notifications", &borrowed(&env));
    let user = Uuid::now_v7();
    let mut notifications = server.notifications(user).await;
    notifications
        .add_channel(AddChannelRequest {
            command_id: command_id(),
            kind: ChannelKind::Webhook.into(),
            target: hook.url("/traced"),
            topics: vec![],
        })
        .await
        .expect("add a webhook");
    notifications
        .set_preferences(SetPreferencesRequest {
            command_id: command_id(),
            large_expense_threshold: Some(AMOUNT.into()),
            monthly_report: None,
        })
        .await
        .expect("preferences");

    let (trace_id, parent_id) = chosen_context();
    record_one_movement(&server, user, &format!("00-{trace_id}-{parent_id}-01")).await;
    let in_trace = |spans: &[Received], name: &str| {
        spans.iter().find(|r| r.span.name == name && hex(&r.span.trace_id) == trace_id).cloned()
    };
    let spans =
        collector.wait_for("the delivery's span", |spans| in_trace(spans, "notification.deliver").is_some()).await;
    let deliver = in_trace(&spans, "notification.deliver").expect("the delivery span");
    assert_eq!(attr(&deliver.span, "channel").as_deref(), Some("webhook"));
    assert!(deliver.roles.split(',').any(|r| r == "notifications"), "{}", deliver.roles);
    let raise = in_trace(&spans, "command.raise_notification").expect("the raise, in the same trace");
    assert!(raise.roles.contains("notifications"));
    assert_eq!(hook.received().len(), 1, "delivered once");
}
