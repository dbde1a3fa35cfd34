//! [`CheckpointWatch`]: follows a projection's checkpoint through PostgreSQL's LISTEN, so a
//! reader can wait until a read model has applied a position (read-your-writes).

use crate::checkpoint::{CHECKPOINT_CHANNEL, read_checkpoint};
use crate::error::CheckpointError;
use sqlx::postgres::{PgListener, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often a [`CheckpointWatch`] re-reads the row, in case a notification was lost (they
/// are while its listener reconnects).
const REREAD_EVERY: Duration = Duration::from_secs(2);

/// Parses a notification payload `<name>:<position>`, keeping only `projection`'s.
fn parse_notification(payload: &str, projection: &str) -> Option<u64> {
    let (name, position) = payload.rsplit_once(':')?;
    if name != projection {
        return None;
    }
    position.parse().ok()
}

/// Follows one projection's checkpoint, so a query can wait until the read model has applied
/// the position a command returned (read-your-writes).
///
/// Start one per projection per process and clone it: each start holds a PostgreSQL
/// connection for its listener. The background tasks stop when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct CheckpointWatch {
    projection: &'static str,
    receiver: watch::Receiver<u64>,
    _tasks: Arc<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl CheckpointWatch {
    /// Listens on [`CHECKPOINT_CHANNEL`] and re-reads the row every few seconds.
    #[tracing::instrument(name = "projection.checkpoint_watch.start", skip(pool), err)]
    pub async fn start(pool: PgPool, projection: &'static str) -> Result<Self, CheckpointError> {
        // Listen before the first read, so nothing committed in between is missed.
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHECKPOINT_CHANNEL).await?;
        let (sender, receiver) = watch::channel(read_checkpoint(&pool, projection).await?);
        let sender = Arc::new(sender);
        let listen = tokio::spawn(listen(listener, pool.clone(), projection, Arc::clone(&sender)));
        let reread = tokio::spawn(reread(pool, projection, sender));
        Ok(Self { projection, receiver, _tasks: Arc::new(AbortOnDrop(vec![listen, reread])) })
    }

    pub fn projection(&self) -> &'static str {
        self.projection
    }

    /// The last checkpoint seen.
    pub fn current(&self) -> u64 {
        *self.receiver.borrow()
    }

    /// Waits until the checkpoint reaches `position` or `timeout` elapses; true when reached.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> bool {
        let mut receiver = self.receiver.clone();
        match tokio::time::timeout(timeout, receiver.wait_for(|current| *current >= position)).await {
            Ok(Ok(_)) => true,
            // The sender lives as long as this watch's tasks, so this is the timeout case.
            Ok(Err(_)) | Err(_) => self.current() >= position,
        }
    }
}

/// Checkpoints only move forward; a stale re-read must not move the watch back.
fn advance(sender: &watch::Sender<u64>, position: u64) {
    sender.send_if_modified(|current| {
        let moved = position > *current;
        if moved {
            *current = position;
        }
        moved
    });
}

async fn listen(mut listener: PgListener, pool: PgPool, projection: &'static str, sender: Arc<watch::Sender<u64>>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                if let Some(position) = parse_notification(notification.payload(), projection) {
                    advance(&sender, position);
                }
            }
            // The connection dropped and notifications sent meanwhile are gone: catch up by reading.
            Ok(None) => match read_checkpoint(&pool, projection).await {
                Ok(position) => advance(&sender, position),
                Err(err) => tracing::warn!(projection, error = %err, "cannot re-read checkpoint after reconnect"),
            },
            Err(sqlx::Error::PoolClosed) => return,
            Err(err) => {
                tracing::warn!(projection, error = %err, "checkpoint listener failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn reread(pool: PgPool, projection: &'static str, sender: Arc<watch::Sender<u64>>) {
    let mut every = tokio::time::interval(REREAD_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if pool.is_closed() {
            return;
        }
        match read_checkpoint(&pool, projection).await {
            Ok(position) => advance(&sender, position),
            Err(err) => tracing::debug!(projection, error = %err, "periodic checkpoint re-read failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_name_their_projection() {
        assert_eq!(parse_notification("ledger:42", "ledger"), Some(42));
        assert_eq!(parse_notification("search:42", "ledger"), None);
        assert_eq!(parse_notification("ledger:x", "ledger"), None);
        assert_eq!(parse_notification("ledger", "ledger"), None);
        assert_eq!(parse_notification("a:b:7", "a:b"), Some(7));
    }

    #[test]
    fn the_watch_never_moves_back() {
        let (sender, receiver) = watch::channel(5);
        advance(&sender, 3);
        assert_eq!(*receiver.borrow(), 5);
        advance(&sender, 9);
        assert_eq!(*receiver.borrow(), 9);
    }
}
