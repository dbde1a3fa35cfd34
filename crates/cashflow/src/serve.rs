//! `cashflow serve`: runs the chosen roles in this process until a shutdown signal, then
//! drains: the API stops accepting and finishes calls in flight, the relay acks and saves its
//! window, projectors commit their batch.

use crate::cli::Role;
use crate::config::Config;
use crate::database;
use anyhow::Context;
use cashflow_api::{ApiConfig, ApiState, JwksConfig};
use cashflow_app::{CommandHandler, InvoiceCommands, LedgerLookups};
use cashflow_blob::{BlobStore, ObjectStoreBlobs};
use cashflow_bus::{BusNames, ProjectorRunner, Relay, WorkerRunner};
use cashflow_categoriser::Categoriser;
use cashflow_eventstore::{EventStore, PgEventStore};
use cashflow_projection::CheckpointWatch;
use cashflow_projection_invoices::{InvoiceQueries, InvoicesProjection};
use cashflow_projection_ledger::{LedgerProjection, LedgerQueries};
use cashflow_projection_notifications::{NotificationQueries, NotificationsProjection};
use cashflow_projection_reports::{ReportQueries, ReportsProjection};
use cashflow_projection_search::{SearchProjection, SearchQueries};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Resolves on SIGTERM (Kubernetes, docker stop) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested: draining");
}

/// Whether `serve` prepares the database itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Create the database if missing and run every migration (one process, a laptop).
    Migrate,
    /// Run no DDL: `cashflow migrate` has prepared it (`serve --no-migrate`, Kubernetes).
    Existing,
}

/// Runs `roles` until `shutdown` resolves. Prints `cashflow: grpc listening on ADDR` when the
/// API listens, and `cashflow: ready` once every role has started. From then on the API's
/// health and `/readyz` follow the database ([`crate::health`]).
pub async fn serve(
    config: Config,
    roles: &[Role],
    schema: Schema,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let pool = match schema {
        Schema::Migrate => database::prepare(&config).await?,
        Schema::Existing => database::connect_existing(&config).await?,
    };
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(pool.clone()));
    let names = BusNames::new(config.nats_prefix.clone()).context("CASHFLOW_NATS_PREFIX")?;
    if config.metrics_addr.is_some() {
        // Before any role runs, so no count is lost.
        crate::metrics::install()?;
    }
    let (ready, readiness) = watch::channel(false);
    let mut bus = None;

    let (stop, stopped) = watch::channel(false);
    let stop_requested = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let mut tasks: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();
    let (database_up, database_check) = crate::health::watch_database(
        database::connect_options(&config.database_url)?,
        crate::health::CHECK_EVERY,
        crate::health::CHECK_TIMEOUT,
        stop_requested(),
    );

    let needs_blobs = roles.contains(&Role::Api) || roles.contains(&Role::Ocr) || roles.contains(&Role::Reports);
    let blobs: Option<Arc<dyn BlobStore>> = if needs_blobs {
        Some(Arc::new(ObjectStoreBlobs::from_url(&config.blob_url).context("CASHFLOW_BLOB_URL")?))
    } else {
        None
    };
    let handler = CommandHandler::new(store.clone());
    let mut watches = Watches { pool: pool.clone(), started: Vec::new() };
    let lookups: Arc<dyn LedgerLookups> = Arc::new(LedgerQueries::new(pool.clone()));

    if roles.iter().any(|role| role.uses_bus()) {
        let jetstream = cashflow_bus::connect(&config.nats_url).await.context("connecting to NATS")?;
        cashflow_bus::ensure_events_stream(&jetstream, &names).await.context("creating the JetStream stream")?;
        bus = Some(jetstream.clone());
        if roles.contains(&Role::Relay) {
            let relay = Relay::new(store.clone(), pool.clone(), jetstream.clone(), names.clone());
            let until = stop_requested();
            tasks.spawn(async move { ("relay", relay.run(until).await.map_err(Into::into)) });
        }
        if roles.contains(&Role::Projectors) {
            let runner = ProjectorRunner::new(
                Arc::new(LedgerProjection),
                pool.clone(),
                store.clone(),
                jetstream.clone(),
                names.clone(),
            );
            let until = stop_requested();
            tasks.spawn(async move { ("ledger projector", runner.run(until).await.map_err(Into::into)) });
            let runner = ProjectorRunner::new(
                Arc::new(InvoicesProjection),
                pool.clone(),
                store.clone(),
                jetstream.clone(),
                names.clone(),
            );
            let until = stop_requested();
            tasks.spawn(async move { ("invoices projector", runner.run(until).await.map_err(Into::into)) });
            let runner = ProjectorRunner::new(
                Arc::new(SearchProjection),
                pool.clone(),
                store.clone(),
                jetstream.clone(),
                names.clone(),
            );
            let until = stop_requested();
            tasks.spawn(async move { ("search projector", runner.run(until).await.map_err(Into::into)) });
            let runner = ProjectorRunner::new(
                Arc::new(NotificationsProjection),
                pool.clone(),
                store.clone(),
                jetstream.clone(),
                names.clone(),
            );
            let until = stop_requested();
            tasks.spawn(async move { ("notifications projector", runner.run(until).await.map_err(Into::into)) });
            let runner = ProjectorRunner::new(
                Arc::new(ReportsProjection),
                pool.clone(),
                store.clone(),
                jetstream.clone(),
                names.clone(),
            );
            let until = stop_requested();
            tasks.spawn(async move { ("reports projector", runner.run(until).await.map_err(Into::into)) });
        }
        if roles.contains(&Role::Notifications) {
            let checkpoints = vec![
                watches.get(cashflow_projection_ledger::NAME).await?,
                watches.get(cashflow_projection_invoices::NAME).await?,
                watches.get(cashflow_projection_notifications::NAME).await?,
            ];
            let dispatch_watch = checkpoints[2].clone();
            let read_models = cashflow_notify::ReadModels {
                ledger: LedgerQueries::new(pool.clone()),
                invoices: InvoiceQueries::new(pool.clone()),
                notifications: NotificationQueries::new(pool.clone()),
                checkpoints,
            };
            let worker = cashflow_notify::NotifyWorker::new(
                cashflow_app::NotificationCommands::new(handler.clone()),
                Arc::new(read_models),
                cashflow_app::ReportCommands::new(handler.clone()),
            );
            let runner = WorkerRunner::new(Arc::new(worker), jetstream.clone(), names.clone())
                .with_config(notify_worker_config(&config.worker));
            let until = stop_requested();
            tasks.spawn(async move { ("notification worker", runner.run(until).await.map_err(Into::into)) });
            let deliverer =
                cashflow_delivery::Deliverer::new(config.delivery.clone()).context("building the delivery adapters")?;
            let dispatcher = cashflow_notify::Dispatcher::new(
                cashflow_projection_notifications::Deliveries::new(pool.clone()),
                deliverer,
                dispatch_watch,
                cashflow_notify::DispatchConfig {
                    lease: config.delivery_lease,
                    retention: config.delivery_retention,
                    ..Default::default()
                },
            );
            let until = stop_requested();
            tasks.spawn(async move { ("notification dispatcher", dispatcher.run(until).await.map_err(Into::into)) });
        }
        if roles.contains(&Role::Reports) {
            let blobs = blobs.clone().context("the report worker needs blob storage")?;
            let fonts = cashflow_reports::Fonts::load_system().context("loading the fonts reports embed")?;
            let worker = cashflow_reports::ReportWorker::new(
                cashflow_app::ReportCommands::new(handler.clone()),
                store.clone(),
                blobs,
                Arc::new(fonts),
            );
            let runner = WorkerRunner::new(Arc::new(worker), jetstream.clone(), names.clone())
                .with_config(report_worker_config(&config.worker));
            let until = stop_requested();
            tasks.spawn(async move { ("report worker", runner.run(until).await.map_err(Into::into)) });
            let schedule = cashflow_reports::MonthlySchedule::new(
                cashflow_app::ReportCommands::new(handler.clone()),
                NotificationQueries::new(pool.clone()),
                config.monthly_reports,
            );
            let until = stop_requested();
            tasks.spawn(async move { ("monthly report schedule", schedule.run(until).await.map_err(Into::into)) });
        }
        if roles.contains(&Role::Categoriser) {
            let worker = Categoriser::new(handler.clone(), lookups.clone());
            let runner = WorkerRunner::new(Arc::new(worker), jetstream.clone(), names.clone())
                .with_config(config.worker.clone());
            let until = stop_requested();
            tasks.spawn(async move { ("categoriser", runner.run(until).await.map_err(Into::into)) });
        }
        if roles.contains(&Role::Ocr) {
            let blobs = blobs.clone().context("the OCR worker needs blob storage")?;
            let ocr = cashflow_ocr::Ocr::new(cashflow_ocr::OcrConfig {
                threads: config.ocr_threads,
                ..cashflow_ocr::OcrConfig::default()
            })
            .context("starting the OCR engines")?;
            let invoices = InvoiceCommands::new(handler.clone(), blobs, lookups.clone());
            let worker = cashflow_ocr::worker::OcrWorker::new(invoices, ocr);
            let runner = WorkerRunner::new(Arc::new(worker), jetstream.clone(), names.clone())
                .with_config(config.worker.clone());
            let until = stop_requested();
            tasks.spawn(async move { ("ocr worker", runner.run(until).await.map_err(Into::into)) });
        }
    }

    let mut health = None;
    if roles.contains(&Role::Api) {
        let checkpoints = watches.get(cashflow_projection_ledger::NAME).await?;
        let invoice_checkpoints = watches.get(cashflow_projection_invoices::NAME).await?;
        let search_checkpoints = watches.get(cashflow_projection_search::NAME).await?;
        let notification_checkpoints = watches.get(cashflow_projection_notifications::NAME).await?;
        let report_checkpoints = watches.get(cashflow_projection_reports::NAME).await?;
        let state = ApiState {
            store: store.clone(),
            queries: LedgerQueries::new(pool.clone()),
            checkpoints,
            invoices: InvoiceQueries::new(pool.clone()),
            invoice_checkpoints,
            search: SearchQueries::new(pool.clone()),
            search_checkpoints,
            notifications: NotificationQueries::new(pool.clone()),
            notification_checkpoints,
            reports: ReportQueries::new(pool.clone()),
            report_checkpoints,
            blobs: blobs.clone().context("the API needs blob storage")?,
            config: api_config(&config, &pool).await?,
        };
        let api = cashflow_api::build(state).await?;
        let api_health = api.health;
        let mut server = cashflow_api::server_with(&config.limits).accept_http1(true);
        if let Some(files) = &config.tls {
            server =
                server.tls_config(crate::transport::tls(files)?).context("CASHFLOW_TLS_CERT / CASHFLOW_TLS_KEY")?;
        }
        // grpc-web (HTTP/1.1 or 2, from browsers) is translated to gRPC on the RPC routes; any
        // other request (a browser's GET) gets the web app (ADR 0025). CORS answers browsers'
        // preflights first.
        let routes = crate::web::with_app(api.routes, &config.web_dir);
        let router = server.layer(crate::transport::cors(&config)?).add_routes(routes);
        let listener = tokio::net::TcpListener::bind(config.grpc_addr)
            .await
            .with_context(|| format!("binding CASHFLOW_GRPC_ADDR {}", config.grpc_addr))?;
        let addr = listener.local_addr()?;
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let until = stop_requested();
        tasks.spawn(async move {
            let served = router.serve_with_incoming_shutdown(incoming, until).await;
            ("grpc server", served.map_err(Into::into))
        });
        tracing::info!(%addr, "grpc listening");
        println!("cashflow: grpc listening on {addr}");
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        println!("cashflow: web app at {scheme}://{addr}/ (from {})", config.web_dir.display());
        health = Some(api_health);
    }
    if let Some(addr) = config.metrics_addr {
        let sources = crate::metrics::Sources {
            pool: pool.clone(),
            store: store.clone(),
            names: names.clone(),
            projections: vec![
                cashflow_projection_ledger::NAME,
                cashflow_projection_invoices::NAME,
                cashflow_projection_search::NAME,
                cashflow_projection_notifications::NAME,
                cashflow_projection_reports::NAME,
            ],
            workers: vec![
                cashflow_ocr::worker::NAME,
                cashflow_categoriser::NAME,
                cashflow_notify::worker::NAME,
                cashflow_reports::NAME,
            ],
            jetstream: bus,
        };
        let served = crate::metrics::start(addr, sources, readiness, database_up.clone(), stop_requested()).await?;
        tasks.spawn(async move { ("metrics server", served.await) });
    }
    let role_names: Vec<String> = roles.iter().map(ToString::to_string).collect();
    let _ = ready.send(true);
    tracing::info!(roles = %role_names.join(","), "ready");
    println!("cashflow: ready ({})", role_names.join(","));
    let follow = health.clone().map(|health| tokio::spawn(follow_database(health, database_up)));

    // Run until the signal, or until a role stops on its own (a fatal error).
    let mut failure = None;
    tokio::select! {
        () = shutdown => {}
        Some(joined) = tasks.join_next() => {
            failure = Some(describe(joined));
        }
    }
    if let Some(follow) = follow {
        follow.abort();
        let _ = follow.await;
    }
    if let Some(health) = &health {
        health.drain().await;
    }
    let _ = ready.send(false);
    let _ = stop.send(true);
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = describe(joined) {
            failure.get_or_insert(Err(error));
        }
    }
    database_check.abort();
    match failure {
        Some(Err(error)) => Err(error),
        Some(Ok(role)) => anyhow::bail!("the {role} stopped unexpectedly"),
        None => Ok(()),
    }
}

/// The read models' checkpoint watches of this process, one per projection however many roles
/// read it: each holds a pool connection for its `LISTEN`.
struct Watches {
    pool: sqlx::PgPool,
    started: Vec<CheckpointWatch>,
}

impl Watches {
    async fn get(&mut self, projection: &'static str) -> anyhow::Result<CheckpointWatch> {
        if let Some(watch) = self.started.iter().find(|watch| watch.projection() == projection) {
            return Ok(watch.clone());
        }
        let watch = CheckpointWatch::start(self.pool.clone(), projection)
            .await
            .with_context(|| format!("watching the {projection} checkpoint"))?;
        self.started.push(watch.clone());
        Ok(watch)
    }
}

/// The notification worker consumes as the others do, but waits for the read models it decides
/// from: an event whose read models lag is sent back, and it must not run out of deliveries
/// while a projector catches up (each waits up to [`cashflow_notify::read_models::CATCH_UP_WAIT`]).
fn notify_worker_config(worker: &cashflow_bus::WorkerConfig) -> cashflow_bus::WorkerConfig {
    cashflow_bus::WorkerConfig {
        max_deliver: worker.max_deliver.max(NOTIFY_MAX_DELIVER),
        // Most of a handling is waiting for the read models, not work: many at once.
        concurrency: worker.concurrency.max(NOTIFY_CONCURRENCY),
        ack_wait: worker.ack_wait.max(cashflow_notify::read_models::CATCH_UP_WAIT * 3),
        ..worker.clone()
    }
}

/// Rendering is CPU work of up to seconds for a year of a busy person: two at once per process
/// (the runner tells JetStream a slow render is still in hand, so the ack wait can stay short).
fn report_worker_config(worker: &cashflow_bus::WorkerConfig) -> cashflow_bus::WorkerConfig {
    cashflow_bus::WorkerConfig { concurrency: worker.concurrency.clamp(1, 2), ..worker.clone() }
}

/// With the default retry delay and catch-up wait, about ten minutes of projector lag.
const NOTIFY_MAX_DELIVER: i64 = 50;
/// Events the notification worker handles at once (BENCHMARKS.md, "Notifications").
const NOTIFY_CONCURRENCY: usize = 64;

/// Keeps the gRPC health of `""` and every service SERVING while the database answers and
/// NOT_SERVING while it does not.
async fn follow_database(health: cashflow_api::ApiHealth, mut database_up: watch::Receiver<bool>) {
    loop {
        if *database_up.borrow_and_update() {
            health.set_serving().await;
        } else {
            health.set_not_serving().await;
        }
        if database_up.changed().await.is_err() {
            return;
        }
    }
}

/// The API's settings from `config`; reads the JWKS file if one is configured.
async fn api_config(config: &Config, pool: &sqlx::PgPool) -> anyhow::Result<ApiConfig> {
    let mut api = ApiConfig::new(config.jwt_secret.clone()).with_limits(config.limits);
    api.uploads = config.uploads;
    api.access_token_ttl = config.access_token_ttl;
    api.trusted_proxies = config.trusted_proxies.clone();
    api.webhook_allow_private = config.delivery.allow_private;
    let identity = cashflow_identity::Identity::new(pool.clone()).context("password hasher")?;
    api.identity = Some(identity.with_hash_concurrency(config.password_hash_concurrency));
    if let Some(jwks) = &config.jwks {
        let json = tokio::fs::read_to_string(&jwks.file)
            .await
            .with_context(|| format!("reading CASHFLOW_JWT_JWKS_FILE {}", jwks.file.display()))?;
        api.jwks = Some(JwksConfig { json, issuer: jwks.issuer.clone(), audience: jwks.audience.clone() });
    }
    Ok(api)
}

fn describe(
    joined: Result<(&'static str, anyhow::Result<()>), tokio::task::JoinError>,
) -> anyhow::Result<&'static str> {
    match joined {
        Ok((role, Ok(()))) => Ok(role),
        Ok((role, Err(error))) => Err(error.context(format!("the {role} failed"))),
        Err(error) => Err(anyhow::anyhow!("a role panicked: {error}")),
    }
}
