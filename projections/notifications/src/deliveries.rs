//! [`Deliveries`]: the delivery outbox, one row per notification and channel.
//!
//! The projection queues a row with the notification; the dispatcher [claims](Deliveries::claim)
//! due rows (`FOR UPDATE SKIP LOCKED`, so replicas share the work), which counts an attempt and
//! leases the row for a while: a dispatcher that dies mid-delivery leaves it to come due again
//! when the lease ends. It then [settles](Deliveries::settle) the attempt: delivered, due again
//! later, or failed for good. A settle names the attempt it settles, so a dispatcher whose lease
//! ran out cannot overwrite what a later attempt recorded.

use crate::queries::{NotificationView, notification_view};
use cashflow_domain::notification::ChannelKind;
use cashflow_projection::QueryError;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use std::time::Duration;
use uuid::Uuid;

/// A delivery claimed for one attempt, with what it needs to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub channel_id: Uuid,
    pub owner: Uuid,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// When the notification was raised: the retry window starts there.
    pub queued_at: DateTime<Utc>,
    /// The trace of the command that caused the notification.
    pub traceparent: Option<String>,
    pub kind: ChannelKind,
    pub target: String,
    pub signing_secret: Option<String>,
    /// The channel was removed after the delivery was queued.
    pub channel_removed: bool,
    pub notification: NotificationView,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    Delivered,
    /// Failed; due again at `at`.
    Retry {
        error: String,
        at: DateTime<Utc>,
    },
    /// Failed for good.
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone)]
pub struct Deliveries {
    pool: PgPool,
}

impl Deliveries {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Claims up to `limit` due deliveries, oldest due first, each leased for `lease`.
    #[tracing::instrument(name = "deliveries.claim", skip(self), err)]
    pub async fn claim(&self, limit: u32, lease: Duration) -> Result<Vec<Claimed>, QueryError> {
        let rows = sqlx::query(
            "WITH due AS (
                 SELECT notification_id, channel_id FROM notification_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= now()
                 ORDER BY next_attempt_at LIMIT $1
                 FOR UPDATE SKIP LOCKED)
             UPDATE notification_deliveries d
             SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
             FROM due, notification_channels c, notifications n
             WHERE d.notification_id = due.notification_id AND d.channel_id = due.channel_id
               AND c.id = d.channel_id AND n.id = d.notification_id
             RETURNING d.channel_id, d.owner, d.attempts, d.created_at AS queued_at, d.traceparent,
                       c.kind, c.target, c.signing_secret, c.removed,
                       n.id, n.topic, n.title, n.body, n.subject_id, n.created_at, n.read, n.data, n.position",
        )
        .bind(i64::from(limit))
        .bind(lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: &str = row.try_get("kind")?;
                let attempt: i32 = row.try_get("attempts")?;
                Ok(Claimed {
                    channel_id: row.try_get("channel_id")?,
                    owner: row.try_get("owner")?,
                    attempt: u32::try_from(attempt).map_err(|_| QueryError::Corrupt(format!("attempts {attempt}")))?,
                    queued_at: row.try_get("queued_at")?,
                    traceparent: row.try_get("traceparent")?,
                    kind: ChannelKind::from_name(kind)
                        .ok_or_else(|| QueryError::Corrupt(format!("unknown channel kind {kind:?}")))?,
                    target: row.try_get("target")?,
                    signing_secret: row.try_get("signing_secret")?,
                    channel_removed: row.try_get("removed")?,
                    notification: notification_view(row)?,
                })
            })
            .collect()
    }

    /// Records how `claimed`'s attempt ended; false when a later attempt has taken the delivery
    /// over (this attempt's lease ran out), which then records nothing.
    #[tracing::instrument(name = "deliveries.settle", skip(self, claimed), err)]
    pub async fn settle(&self, claimed: &Claimed, outcome: Settle) -> Result<bool, QueryError> {
        let (status, error, next): (&str, Option<String>, Option<DateTime<Utc>>) = match outcome {
            Settle::Delivered => ("delivered", None, None),
            Settle::Retry { error, at } => ("pending", Some(error), Some(at)),
            Settle::Failed { error } => ("failed", Some(error), None),
        };
        let updated = sqlx::query(
            "UPDATE notification_deliveries
             SET status = $4,
                 last_error = coalesce($5, last_error),
                 next_attempt_at = coalesce($6, next_attempt_at),
                 delivered_at = CASE WHEN $4 = 'delivered' THEN now() END
             WHERE notification_id = $1 AND channel_id = $2 AND attempts = $3 AND status = 'pending'",
        )
        .bind(claimed.notification.notification_id)
        .bind(claimed.channel_id)
        .bind(claimed.attempt as i32)
        .bind(status)
        .bind(error)
        .bind(next)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    /// Deletes up to `limit` settled deliveries (delivered or failed) queued longer than
    /// `older_than` ago by the database's clock, oldest first; answers how many. Pending ones are
    /// never deleted. Safe for any age past the projection's delivery window, which the same clock
    /// judges: a rebuild queues no notification that old, so a deleted row is never queued, and
    /// delivered, again (ADR 0036).
    #[tracing::instrument(name = "deliveries.prune", skip(self), err)]
    pub async fn prune(&self, older_than: Duration, limit: u32) -> Result<u64, QueryError> {
        let deleted = sqlx::query(
            "DELETE FROM notification_deliveries d
             USING (SELECT notification_id, channel_id FROM notification_deliveries
                    WHERE status <> 'pending' AND created_at < now() - make_interval(secs => $1)
                    ORDER BY created_at LIMIT $2
                    FOR UPDATE SKIP LOCKED) old
             WHERE d.notification_id = old.notification_id AND d.channel_id = old.channel_id",
        )
        .bind(older_than.as_secs_f64())
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(deleted)
    }

    /// When the next pending delivery comes due, if any is pending.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, QueryError> {
        let row =
            sqlx::query("SELECT min(next_attempt_at) AS due FROM notification_deliveries WHERE status = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get("due")?)
    }

    /// Seconds the oldest due delivery has waited past its due time (0 when none is late).
    pub async fn queue_age(&self) -> Result<f64, QueryError> {
        let row = sqlx::query(
            "SELECT coalesce(extract(epoch FROM now() - min(next_attempt_at)), 0)::float8 AS age
             FROM notification_deliveries WHERE status = 'pending' AND next_attempt_at <= now()",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<f64, _>("age")?.max(0.0))
    }
}
