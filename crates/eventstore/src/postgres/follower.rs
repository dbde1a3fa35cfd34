//! The wake-up behind `wait_for_events`: one `LISTEN` connection per store, in a task started
//! on first use, that falls back to reading the head every second while `LISTEN` is down.

use super::PgEventStore;
use super::rows::{map_sqlx, to_u64};
use super::sql::{CHANNEL, READ_HEAD};
use crate::StoreError;
use sqlx::Row;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How often the head is read while `LISTEN` is down.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The shared wake-up for `wait_for_events`: a watch of the head, fed by a task that is
/// started on first use and stops when the last clone of the store is dropped.
#[derive(Debug)]
pub(super) struct HeadFollower {
    head: watch::Receiver<u64>,
    /// The sender, until the task that owns it is started.
    unstarted: Mutex<Option<watch::Sender<u64>>>,
}

impl HeadFollower {
    /// Does no IO: the task starts on the first `wait_for_events`.
    pub(super) fn new() -> Self {
        let (sender, head) = watch::channel(0);
        Self { head, unstarted: Mutex::new(Some(sender)) }
    }
}

impl PgEventStore {
    /// Waits until the head passes `after` or `timeout` elapses; see
    /// [`EventStore::wait_for_events`](crate::EventStore::wait_for_events).
    pub(super) async fn wait_past(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        let deadline = Instant::now() + timeout;
        let mut head = self.head_watch();
        let woken = tokio::time::timeout_at(deadline, head.wait_for(|&h| h > after)).await.map(|seen| seen.map(|h| *h));
        match woken {
            Ok(Ok(seen)) => Ok(seen),
            // The follower task is gone (its runtime shut down): poll instead.
            Ok(Err(_)) => loop {
                let seen = read_head(&self.pool).await?;
                if seen > after || Instant::now() >= deadline {
                    return Ok(seen);
                }
                tokio::time::sleep_until(deadline.min(Instant::now() + POLL_INTERVAL)).await;
            },
            // The watch may lag the database if LISTEN is down: answer with the real head.
            Err(_) => {
                let watched = *head.borrow();
                Ok(read_head(&self.pool).await?.max(watched))
            }
        }
    }

    /// Starts the head-following task on first use; later calls only clone the receiver.
    fn head_watch(&self) -> watch::Receiver<u64> {
        let sender = self.follower.unstarted.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(sender) = sender {
            tokio::spawn(follow_head(self.pool.clone(), sender));
        }
        self.follower.head.clone()
    }
}

pub(super) async fn read_head(pool: &PgPool) -> Result<u64, StoreError> {
    let position: i64 =
        sqlx::query(READ_HEAD).fetch_one(pool).await.and_then(|row| row.try_get("position")).map_err(map_sqlx)?;
    to_u64(position)
}

/// Keeps `head` at or above the committed head until every receiver is dropped: from
/// notifications while `LISTEN` works, from a read of the head after each (re)connect (so a
/// commit while it was down is not missed), and from polling while it does not work.
async fn follow_head(pool: PgPool, head: watch::Sender<u64>) {
    // A pool of its own, so the listening connection never takes one from the store's pool.
    let listen_options = (*pool.connect_options()).clone().application_name("cashflow-eventstore-listener");
    let listen_pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(listen_options);
    let raise = |position: u64| {
        head.send_if_modified(|current| {
            let higher = position > *current;
            if higher {
                *current = position;
            }
            higher
        });
    };
    let refresh = async || match read_head(&pool).await {
        Ok(position) => raise(position),
        Err(error) => tracing::debug!(%error, "could not read the event store head"),
    };

    loop {
        let listening = tokio::select! {
            () = head.closed() => return,
            listening = listen(&listen_pool) => listening,
        };
        match listening {
            Ok(mut listener) => {
                refresh().await;
                loop {
                    let received = tokio::select! {
                        () = head.closed() => return,
                        received = listener.try_recv() => received,
                    };
                    match received {
                        Ok(Some(notification)) => {
                            // Drain what is already buffered so a burst wakes readers once.
                            let mut highest = notification.payload().parse::<u64>().ok();
                            while let Some(next) = listener.next_buffered() {
                                highest = highest.max(next.payload().parse::<u64>().ok());
                            }
                            match highest {
                                Some(position) => raise(position),
                                None => refresh().await,
                            }
                        }
                        // The connection was lost and re-established: notifications in between are gone.
                        Ok(None) => refresh().await,
                        Err(error) => {
                            tracing::warn!(%error, "event store LISTEN failed; polling the head");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "event store LISTEN unavailable; polling the head"),
        }
        refresh().await;
        tokio::select! {
            () = head.closed() => return,
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

#[tracing::instrument(name = "eventstore.listen", skip_all, err)]
async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // The pool is this listener's own: closing it is not a reason to stop.
    listener.ignore_pool_close_event(true);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
