//! Whether the store answers, checked every [`CHECK_EVERY`] on a connection of its own: the
//! API's gRPC health and `/readyz` follow it, so a load balancer or Kubernetes stops sending
//! calls to a process that could only answer them `UNAVAILABLE`.
//!
//! The check has its own connection, not one of the pool's: a pool busy under load is not a
//! store that is down, and must not flip the health.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Executor};
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

/// How often the store is checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);
/// How long one connect or `SELECT 1` may take before the store counts as unreachable.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks the database every `every` until `until` resolves; the receiver holds whether the
/// last check (connect if needed, then `SELECT 1`, each within `timeout`) succeeded. It starts
/// `true`: the caller has just connected.
pub fn watch_database(
    options: PgConnectOptions,
    every: Duration,
    timeout: Duration,
    until: impl Future<Output = ()> + Send + 'static,
) -> (watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
    let (sender, receiver) = watch::channel(true);
    let task = tokio::spawn(async move {
        tokio::pin!(until);
        let mut connection: Option<PgConnection> = None;
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut until => break,
                _ = ticks.tick() => {}
            }
            let up = check(&mut connection, &options, timeout).await;
            sender.send_if_modified(|last| {
                if *last == up {
                    return false;
                }
                if up {
                    tracing::info!("database reachable again: serving");
                } else {
                    tracing::warn!("database unreachable: health NOT_SERVING, /readyz 503");
                }
                *last = up;
                true
            });
        }
    });
    (receiver, task)
}

/// One check; drops the connection when it fails, so the next check reconnects.
#[tracing::instrument(name = "health.check_database", skip_all, level = "debug")]
async fn check(connection: &mut Option<PgConnection>, options: &PgConnectOptions, timeout: Duration) -> bool {
    if connection.is_none() {
        match tokio::time::timeout(timeout, PgConnection::connect_with(options)).await {
            Ok(Ok(connected)) => *connection = Some(connected),
            Ok(Err(error)) => {
                tracing::debug!(%error, "health: cannot connect to the database");
                return false;
            }
            Err(_) => return false,
        }
    }
    let Some(open) = connection.as_mut() else { return false };
    let answered = matches!(tokio::time::timeout(timeout, open.execute("SELECT 1")).await, Ok(Ok(_)));
    if !answered {
        // A connection that timed out may be mid-protocol: never reuse it.
        *connection = None;
    }
    answered
}
