//! `cashflow serve`: runs the chosen roles in this process until a shutdown signal, then
//! drains: the API stops accepting and finishes calls in flight, the relay acks and saves its
//! window, projectors commit their batch.

use crate::cli::Role;
use crate::config::Config;
use crate::database;
use anyhow::Context;
use cashflow_api::{ApiConfig, ApiState};
use cashflow_bus::{BusNames, CheckpointWatch, ProjectorRunner, Relay};
use cashflow_eventstore::{EventStore, PgEventStore};
use cashflow_projection_ledger::{LedgerProjection, LedgerQueries};
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

/// Runs `roles` until `shutdown` resolves. Prints `cashflow: grpc listening on ADDR` when the
/// API listens, and `cashflow: ready` once every role has started.
pub async fn serve(config: Config, roles: &[Role], shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let pool = database::prepare(&config).await?;
    let store: Arc<dyn EventStore> = Arc::new(PgEventStore::new(pool.clone()));
    let names = BusNames::new(config.nats_prefix.clone()).context("CASHFLOW_NATS_PREFIX")?;

    let (stop, stopped) = watch::channel(false);
    let stop_requested = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let mut tasks: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();

    if roles.contains(&Role::Relay) || roles.contains(&Role::Projectors) {
        let jetstream = cashflow_bus::connect(&config.nats_url).await.context("connecting to NATS")?;
        cashflow_bus::ensure_events_stream(&jetstream, &names).await.context("creating the JetStream stream")?;
        if roles.contains(&Role::Relay) {
            let relay = Relay::new(store.clone(), pool.clone(), jetstream.clone(), names.clone());
            let until = stop_requested();
            tasks.spawn(async move { ("relay", relay.run(until).await.map_err(Into::into)) });
        }
        if roles.contains(&Role::Projectors) {
            let runner =
                ProjectorRunner::new(Arc::new(LedgerProjection), pool.clone(), store.clone(), jetstream, names.clone());
            let until = stop_requested();
            tasks.spawn(async move { ("ledger projector", runner.run(until).await.map_err(Into::into)) });
        }
    }

    let mut health = None;
    if roles.contains(&Role::Api) {
        let checkpoints = CheckpointWatch::start(pool.clone(), cashflow_projection_ledger::NAME).await?;
        let state = ApiState {
            store: store.clone(),
            queries: LedgerQueries::new(pool.clone()),
            checkpoints,
            config: ApiConfig::new(config.jwt_secret.clone()),
        };
        let (router, api_health) = cashflow_api::build(state).await?.into_router();
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
        health = Some(api_health);
    }
    let role_names: Vec<String> = roles.iter().map(ToString::to_string).collect();
    tracing::info!(roles = %role_names.join(","), "ready");
    println!("cashflow: ready ({})", role_names.join(","));

    // Run until the signal, or until a role stops on its own (a fatal error).
    let mut failure = None;
    tokio::select! {
        () = shutdown => {}
        Some(joined) = tasks.join_next() => {
            failure = Some(describe(joined));
        }
    }
    if let Some(health) = &health {
        health.set_not_serving().await;
    }
    let _ = stop.send(true);
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = describe(joined) {
            failure.get_or_insert(Err(error));
        }
    }
    match failure {
        Some(Err(error)) => Err(error),
        Some(Ok(role)) => anyhow::bail!("the {role} stopped unexpectedly"),
        None => Ok(()),
    }
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
