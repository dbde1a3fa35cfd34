//! The API served over a real socket, on real PostgreSQL: auth, health, reflection,
//! read-your-writes through `min_position`, and audit. Each test has its own database.

use cashflow_api::{Api, ApiConfig, ApiHealth, ApiState, build};
use cashflow_domain::UserId;
use cashflow_eventstore::PgEventStore;
use cashflow_identity::issue_token;
use cashflow_projection::CheckpointWatch;
use cashflow_projection_ledger::{LedgerProjection, LedgerQueries};
use cashflow_proto::v1 as pb;
use cashflow_proto::v1::audit_service_client::AuditServiceClient;
use cashflow_proto::v1::ledger_service_client::LedgerServiceClient;
use cashflow_proto::v1::query_service_client::QueryServiceClient;
use cashflow_testkit::{Bearer, Clients, SECRET, TestDatabase, bearer};
use futures::TryStreamExt;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;
use uuid::Uuid;

struct TestApp {
    addr: SocketAddr,
    pool: PgPool,
    store: Arc<PgEventStore>,
    health: ApiHealth,
    shutdown: Option<oneshot::Sender<()>>,
    // Dropped last, after the pool.
    _database: TestDatabase,
}

async fn spawn_app() -> TestApp {
    let database = TestDatabase::create().await;
    // Each checkpoint watch holds a connection for its LISTEN: five, and room for the calls.
    let pool = database.pool(10).await;
    PgEventStore::migrate(&pool).await.unwrap();
    cashflow_projection::migrate(&pool).await.unwrap();
    cashflow_projection_ledger::migrate(&pool).await.unwrap();
    cashflow_projection_invoices::migrate(&pool).await.unwrap();
    cashflow_projection_search::migrate(&pool).await.unwrap();
    cashflow_projection_notifications::migrate(&pool).await.unwrap();
    cashflow_projection_reports::migrate(&pool).await.unwrap();
    let store = Arc::new(PgEventStore::new(pool.clone()));
    let checkpoints = CheckpointWatch::start(pool.clone(), cashflow_projection_ledger::NAME).await.unwrap();
    let invoice_checkpoints = CheckpointWatch::start(pool.clone(), cashflow_projection_invoices::NAME).await.unwrap();
    let search_checkpoints = CheckpointWatch::start(pool.clone(), cashflow_projection_search::NAME).await.unwrap();
    let notification_checkpoints =
        CheckpointWatch::start(pool.clone(), cashflow_projection_notifications::NAME).await.unwrap();
    let report_checkpoints = CheckpointWatch::start(pool.clone(), cashflow_projection_reports::NAME).await.unwrap();
    let state = ApiState {
        store: store.clone(),
        queries: LedgerQueries::new(pool.clone()),
        checkpoints,
        invoices: cashflow_projection_invoices::InvoiceQueries::new(pool.clone()),
        invoice_checkpoints,
        search: cashflow_projection_search::SearchQueries::new(pool.clone()),
        search_checkpoints,
        notifications: cashflow_projection_notifications::NotificationQueries::new(pool.clone()),
        notification_checkpoints,
        reports: cashflow_projection_reports::ReportQueries::new(pool.clone()),
        report_checkpoints,
        // Fast and honest here: the filesystem adapter has its own tests, and the end-to-end
        // invoice tests use it.
        blobs: cashflow_blob::in_memory(),
        config: ApiConfig::new(SECRET),
    };
    let Api { routes, health } = build(state).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, signal) = oneshot::channel::<()>();
    tokio::spawn(async move {
        cashflow_api::server()
            .add_routes(routes)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                signal.await.ok();
            })
            .await
            .unwrap();
    });
    TestApp { addr, pool, store, health, shutdown: Some(shutdown), _database: database }
}

impl TestApp {
    async fn channel(&self) -> Channel {
        cashflow_testkit::channel(&self.addr.to_string()).await
    }

    async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.pool.close().await;
    }

    /// Projects everything stored so far into the ledger read model, as the projector would.
    async fn project(&self) -> u64 {
        cashflow_projection::rebuild(&self.pool, self.store.as_ref(), &LedgerProjection, |_, _| {}).await.unwrap()
    }
}

async fn connect_as(app: &TestApp, user: UserId) -> Clients {
    Clients::new(app.channel().await, bearer(user.as_uuid()))
}

/// A server, a new user's clients, and what [`seed`] recorded for that user.
async fn spawn_seeded() -> (TestApp, UserId, Clients, (String, String, u64)) {
    let app = spawn_app().await;
    let user = UserId::new();
    let mut clients = connect_as(&app, user).await;
    let seeded = seed(&mut clients).await;
    (app, user, clients, seeded)
}

/// Every event of `stream_id`, read through the audit service.
async fn read_stream(clients: &mut Clients, stream_id: String) -> Vec<pb::AuditEvent> {
    let events = clients.audit.read_stream(pb::ReadStreamRequest { stream_id }).await.unwrap().into_inner();
    events.try_collect().await.unwrap()
}

fn field(status: &Status) -> String {
    status.get_details_bad_request().expect("a BadRequest detail").field_violations[0].field.clone()
}

fn today() -> String {
    chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string()
}

/// Opens a EUR account with 100 and records a 12.50 expense; returns (account, movement, position).
async fn seed(clients: &mut Clients) -> (String, String, u64) {
    let account = clients
        .ledger
        .open_account(pb::OpenAccountRequest {
            command_id: Uuid::now_v7().to_string(),
            name: "Main".into(),
            currency: "EUR".into(),
            opening_balance: Some("100.00".into()),
        })
        .await
        .unwrap()
        .into_inner();
    let movement = clients
        .ledger
        .record_movement(pb::RecordMovementRequest {
            command_id: Uuid::now_v7().to_string(),
            account_id: account.account_id.clone(),
            direction: pb::Direction::Expense.into(),
            amount: "12.50".into(),
            occurred_on: today(),
            description: "Groceries".into(),
            counterparty: Some("Market".into()),
            category_id: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(movement.position > account.position);
    (account.account_id, movement.movement_id, movement.position)
}

#[tokio::test]
async fn health_and_reflection_answer_without_a_token() {
    let app = spawn_app().await;
    let mut health = HealthClient::new(app.channel().await);
    let services = [
        "",
        "cashflow.v1.LedgerService",
        "cashflow.v1.QueryService",
        "cashflow.v1.AuditService",
        "cashflow.v1.NotificationService",
        "cashflow.v1.ReportService",
    ];
    for service in services {
        let response = health.check(HealthCheckRequest { service: service.into() }).await.unwrap();
        assert_eq!(response.into_inner().status(), ServingStatus::Serving, "{service:?}");
    }

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(app.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.try_next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a list of services");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for service in &services[1..] {
        assert!(names.iter().any(|n| n == service), "{service} in {names:?}");
    }

    use tonic_reflection::pb::v1alpha::ServerReflectionRequest as AlphaReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    let mut alpha = AlphaClient::new(app.channel().await);
    let request = AlphaReflectionRequest {
        host: String::new(),
        message_request: Some(AlphaRequest::FileContainingSymbol("cashflow.v1.LedgerService".into())),
    };
    let mut responses = alpha.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    assert!(responses.try_next().await.unwrap().unwrap().message_response.is_some());

    app.health.set_not_serving().await;
    let response = health.check(HealthCheckRequest { service: "cashflow.v1.LedgerService".into() }).await.unwrap();
    assert_eq!(response.into_inner().status(), ServingStatus::NotServing);
    app.stop().await;
}

#[tokio::test]
async fn every_service_refuses_a_call_without_a_valid_token() {
    let app = spawn_app().await;
    let channel = app.channel().await;
    let status =
        LedgerServiceClient::new(channel.clone()).open_account(pb::OpenAccountRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "no token, even with a bad message");
    let forged = issue_token("not-the-server-secret", Uuid::now_v7(), Duration::from_secs(600));
    let status = QueryServiceClient::with_interceptor(channel.clone(), Bearer::new(&forged))
        .get_balances(pb::GetBalancesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = AuditServiceClient::with_interceptor(channel, Bearer::new("garbage"))
        .verify_stream(pb::VerifyStreamRequest { stream_id: format!("movement-{}", Uuid::now_v7()) })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_request_is_resource_exhausted_and_a_retry_gets_the_first_answer() {
    let (app, _, mut clients, (account_id, _, _)) = spawn_seeded().await;
    let request = pb::RecordMovementRequest {
        command_id: Uuid::now_v7().to_string(),
        account_id,
        direction: pb::Direction::Income.into(),
        amount: "1".into(),
        occurred_on: today(),
        description: "x".repeat(cashflow_api::MAX_DECODING_MESSAGE_SIZE + 1),
        counterparty: None,
        category_id: None,
    };
    let status = clients.ledger.record_movement(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);

    let request = pb::RecordMovementRequest { description: "Salary".into(), ..request };
    let first = clients.ledger.record_movement(request.clone()).await.unwrap().into_inner();
    let again = clients.ledger.record_movement(request).await.unwrap().into_inner();
    assert_eq!(again, first, "the retry is answered from the stored outcome");
    app.stop().await;
}

/// `OpenAccountRequest` with `name` as raw bytes, to send a string that is not UTF-8.
#[derive(Clone, PartialEq, prost::Message)]
struct RawOpenAccount {
    #[prost(string, tag = "1")]
    command_id: String,
    #[prost(bytes = "vec", tag = "2")]
    name: Vec<u8>,
    #[prost(string, tag = "3")]
    currency: String,
}

#[tokio::test]
async fn an_undecodable_request_is_invalid_argument_naming_the_field() {
    let app = spawn_app().await;
    let mut grpc = tonic::client::Grpc::new(InterceptedService::new(app.channel().await, bearer(Uuid::now_v7())));
    grpc.ready().await.unwrap();
    let request =
        RawOpenAccount { command_id: Uuid::now_v7().to_string(), name: vec![0xff, 0xfe], currency: "EUR".into() };
    let path = http::uri::PathAndQuery::from_static("/cashflow.v1.LedgerService/OpenAccount");
    let codec = tonic_prost::ProstCodec::<RawOpenAccount, pb::OpenAccountResponse>::default();
    let status = grpc.unary(Request::new(request), path, codec).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "name"));
    app.stop().await;
}

#[tokio::test]
async fn a_client_reads_its_own_writes_through_min_position() {
    let (app, _, mut clients, (account_id, movement_id, position)) = spawn_seeded().await;

    let beyond = pb::GetBalancesRequest { min_position: Some(position + 1_000), as_of: None };
    let status = clients.query.get_balances(beyond).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "min_position"));

    // Nothing projects in this test until `project`: the wait must end at the deadline.
    let mut request = Request::new(pb::GetBalancesRequest { min_position: Some(position), as_of: None });
    request.set_timeout(Duration::from_secs(1));
    assert_eq!(clients.query.get_balances(request).await.unwrap_err().code(), Code::DeadlineExceeded);

    let mut waiting = clients.query.clone();
    let query = tokio::spawn(async move {
        waiting.get_balances(pb::GetBalancesRequest { min_position: Some(position), as_of: None }).await
    });
    assert!(app.project().await >= position);
    let balances = query.await.unwrap().unwrap().into_inner().balances;
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0].account_id, account_id);
    assert_eq!(balances[0].currency, "EUR");
    assert_eq!(balances[0].balance.parse::<rust_decimal::Decimal>().unwrap(), rust_decimal::Decimal::new(875, 1));

    let page = clients
        .query
        .list_movements(pb::ListMovementsRequest { min_position: Some(position), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.movements.len(), 1);
    let movement = &page.movements[0];
    assert_eq!(movement.movement_id, movement_id);
    assert_eq!(movement.direction(), pb::Direction::Expense);
    assert_eq!(movement.amount, "12.50");
    assert_eq!(movement.occurred_on, today());
    assert_eq!(movement.counterparty, "Market");
    assert_eq!(movement.version, 1);
    assert!(page.next_page_token.is_empty());

    let status = clients
        .query
        .list_movements(pb::ListMovementsRequest { page_token: "nonsense".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "page_token"));

    let got =
        clients.query.get_movement(pb::GetMovementRequest { movement_id: movement_id.clone(), min_position: None });
    assert_eq!(got.await.unwrap().into_inner().movement.unwrap().movement_id, movement_id);
    let mut mallory = connect_as(&app, UserId::new()).await;
    let status = mallory
        .query
        .get_movement(pb::GetMovementRequest { movement_id: movement_id.clone(), min_position: None })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "another user's movement");
    assert!(
        mallory.query.get_balances(pb::GetBalancesRequest::default()).await.unwrap().into_inner().balances.is_empty()
    );
    app.stop().await;
}

#[tokio::test]
async fn the_owner_audits_a_stream_and_its_hash_chain_holds() {
    let (app, user, mut clients, (_, movement_id, position)) = spawn_seeded().await;
    let stream_id = format!("movement-{movement_id}");

    let events = read_stream(&mut clients, stream_id.clone()).await;
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].version, events[0].position), (1, position));
    assert_eq!(events[0].event_type, "MovementRecorded");
    assert_eq!(events[0].user_id, user.to_string());
    assert_eq!(events[0].hash.len(), 64);

    let verified = clients.audit.verify_stream(pb::VerifyStreamRequest { stream_id: stream_id.clone() }).await.unwrap();
    assert_eq!(verified.into_inner(), pb::VerifyStreamResponse { ok: true, events_checked: 1, first_bad_version: 0 });

    let mut mallory = connect_as(&app, UserId::new()).await;
    let status = mallory.audit.read_stream(pb::ReadStreamRequest { stream_id }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    app.stop().await;
}

/// Records an expense of `amount` described as `description`; returns its id.
async fn expense(
    clients: &mut Clients,
    account_id: &str,
    amount: &str,
    description: &str,
    category: Option<String>,
) -> String {
    let recorded = clients
        .ledger
        .record_movement(pb::RecordMovementRequest {
            command_id: Uuid::now_v7().to_string(),
            account_id: account_id.into(),
            direction: pb::Direction::Expense.into(),
            amount: amount.into(),
            occurred_on: today(),
            description: description.into(),
            counterparty: None,
            category_id: category,
        })
        .await
        .unwrap()
        .into_inner();
    recorded.movement_id
}

async fn category(clients: &mut Clients, name: &str) -> String {
    let request =
        pb::CreateCategoryRequest { command_id: Uuid::now_v7().to_string(), name: name.into(), parent_id: None };
    clients.ledger.create_category(request).await.unwrap().into_inner().category_id
}

#[tokio::test]
async fn apply_rules_categorises_past_movements_by_the_best_rule_but_never_over_a_persons_choice() {
    let (app, _, mut clients, (account, seeded, _)) = spawn_seeded().await;
    let groceries = category(&mut clients, "Groceries").await;
    let treats = category(&mut clients, "Treats").await;
    let mine = category(&mut clients, "Mine").await;
    let big_shop = expense(&mut clients, &account, "84.20", "MERCADONA compra semanal", None).await;
    let small_shop = expense(&mut clients, &account, "3.10", "Mercadona snacks", None).await;
    let chosen = expense(&mut clients, &account, "20.00", "MERCADONA", Some(mine.clone())).await;
    let unrelated = expense(&mut clients, &account, "9.99", "Cinema", None).await;

    let rule = |category_id: &str, pattern: &str, max: Option<&str>, priority| pb::AddCategorizationRuleRequest {
        command_id: Uuid::now_v7().to_string(),
        category_id: category_id.into(),
        description_pattern: Some(pattern.into()),
        max_amount: max.map(Into::into),
        priority: Some(priority),
        ..Default::default()
    };
    clients.ledger.add_categorization_rule(rule(&groceries, "mercadona", None, 0)).await.unwrap();
    // Higher priority wins for small amounts only.
    clients.ledger.add_categorization_rule(rule(&treats, "/^mercadona\\s+snack/", Some("5"), 10)).await.unwrap();
    let bad = clients.ledger.add_categorization_rule(rule(&groceries, "/(unclosed/", None, 0)).await.unwrap_err();
    assert_eq!((bad.code(), field(&bad).as_str()), (Code::InvalidArgument, "description_pattern"));
    app.project().await;

    let run = pb::ApplyRulesRequest { command_id: Uuid::now_v7().to_string(), from: None, to: None };
    let applied = clients.ledger.apply_rules(run.clone()).await.unwrap().into_inner();
    assert_eq!(applied.movements_categorised, 2, "{applied:?}");
    // The same command again answers the same and changes nothing more.
    let again = clients.ledger.apply_rules(run).await.unwrap().into_inner();
    assert_eq!(again.movements_categorised, 2);
    app.project().await;

    let category_of = |id: String| {
        let mut query = clients.query.clone();
        async move {
            let request = pb::GetMovementRequest { movement_id: id, min_position: None };
            query.get_movement(request).await.unwrap().into_inner().movement.unwrap().category_id
        }
    };
    assert_eq!(category_of(big_shop.clone()).await, groceries);
    assert_eq!(category_of(small_shop).await, treats);
    assert_eq!(category_of(chosen).await, mine, "a person's choice is never overwritten by a rule");
    assert_eq!(category_of(unrelated).await, "");
    assert_eq!(category_of(seeded).await, "");

    // Each change is an event that names its rule, caused by the run: reviewable.
    let stream = format!("movement-{big_shop}");
    let events = read_stream(&mut clients, stream).await;
    let assigned = events.iter().find(|e| e.event_type == "CategoryAssigned").expect("a CategoryAssigned");
    assert!(assigned.payload_json.contains("\"assigned_by\":\"rule\""), "{}", assigned.payload_json);
    assert!(assigned.payload_json.contains("rule_id"), "{}", assigned.payload_json);
    assert!(!assigned.causation_id.is_empty(), "the run caused it");
    app.stop().await;
}
