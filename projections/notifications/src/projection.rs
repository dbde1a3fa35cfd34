//! [`NotificationsProjection`]: folds `notifier` streams (channels, preferences, read marks) and
//! `notification` streams (NotificationRaised) into the read model.
//!
//! A raised notification is inserted once (`ON CONFLICT DO NOTHING`); when the insert is new, one
//! delivery per channel of the person's that takes its topic is queued in the same transaction.
//! Channels are those the person had at the notification's position, since events apply in the
//! store's order. A rebuild empties the inbox, channels and preferences but not the outbox:
//! deliveries already queued keep their state, and a notification older than
//! [`DELIVERY_WINDOW_HOURS`] queues nothing, so replaying history never delivers it again.

use async_trait::async_trait;
use cashflow_domain::notification::{NotificationEvent, NotifierEvent, Topic};
use cashflow_domain::{NotificationId, StreamId};
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::decode::{aggregate_id, decode, decode_error, to_bigint};
use cashflow_projection::{Projection, ProjectionError};
use sqlx::PgConnection;

/// How long a notification is worth delivering: the dispatcher gives up on a delivery this old,
/// and a rebuild queues none for an older notification.
pub const DELIVERY_WINDOW_HOURS: i64 = 24;

/// The notifications read model's projection. Stateless: everything it knows is in the tables.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotificationsProjection;

#[async_trait]
impl Projection for NotificationsProjection {
    fn name(&self) -> &'static str {
        crate::NAME
    }

    /// Notifications arrive at the pace of budgets and large expenses: each event in turn.
    #[tracing::instrument(name = "notifications.apply_batch", skip_all, fields(events = events.len()), err)]
    async fn apply_batch(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(tx, event).await?;
        }
        Ok(())
    }

    /// Empties what the events rebuild; the delivery outbox stays (see the module docs).
    #[tracing::instrument(name = "notifications.reset", skip_all, err)]
    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE notifications, notification_channels, notification_preferences")
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

impl NotificationsProjection {
    /// Applies one event; other streams and unknown event types are skipped.
    pub async fn apply(&self, tx: &mut PgConnection, event: &RecordedEvent) -> Result<(), ProjectionError> {
        match event.stream_category() {
            "notifier" => {
                if let Some(decoded) = decode::<NotifierEvent>(event)? {
                    apply_notifier(tx, event, decoded).await?;
                }
            }
            NotificationId::STREAM_CATEGORY => {
                if let Some(decoded) = decode::<NotificationEvent>(event)? {
                    apply_notification(tx, event, decoded).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

async fn apply_notifier(
    tx: &mut PgConnection,
    event: &RecordedEvent,
    decoded: NotifierEvent,
) -> Result<(), ProjectionError> {
    // The stream is the person's: `notifier-<user id>`.
    let owner = aggregate_id(event)?;
    if owner != event.owner {
        return Err(decode_error(event, format!("{} written under owner {}", event.stream_id, event.owner)));
    }
    match decoded {
        NotifierEvent::ChannelAdded { channel_id, kind, target, topics, signing_secret, .. } => {
            let topics: Vec<&str> = topics.chosen().map(Topic::as_str).collect();
            sqlx::query(
                "INSERT INTO notification_channels (id, owner, kind, target, topics, signing_secret, added_position)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            )
            .bind(channel_id.as_uuid())
            .bind(owner)
            .bind(kind.as_str())
            .bind(target.as_str())
            .bind(&topics)
            .bind(signing_secret)
            .bind(to_bigint(event, "position", event.position)?)
            .execute(&mut *tx)
            .await?;
        }
        NotifierEvent::ChannelRemoved { channel_id } => {
            sqlx::query("UPDATE notification_channels SET removed = true WHERE id = $1 AND owner = $2")
                .bind(channel_id.as_uuid())
                .bind(owner)
                .execute(&mut *tx)
                .await?;
        }
        NotifierEvent::PreferencesSet { large_expense_threshold, monthly_report } => {
            sqlx::query(
                "INSERT INTO notification_preferences (owner, large_expense_threshold, monthly_report)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (owner) DO UPDATE
                 SET large_expense_threshold = EXCLUDED.large_expense_threshold,
                     monthly_report = EXCLUDED.monthly_report",
            )
            .bind(owner)
            .bind(large_expense_threshold.map(|a| a.value()))
            .bind(monthly_report)
            .execute(&mut *tx)
            .await?;
        }
        NotifierEvent::NotificationsRead { notification_ids } => {
            let ids: Vec<_> = notification_ids.iter().map(|id| id.as_uuid()).collect();
            sqlx::query("UPDATE notifications SET read = true WHERE owner = $1 AND id = ANY($2) AND NOT read")
                .bind(owner)
                .bind(&ids)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

async fn apply_notification(
    tx: &mut PgConnection,
    event: &RecordedEvent,
    decoded: NotificationEvent,
) -> Result<(), ProjectionError> {
    let NotificationEvent::NotificationRaised { notification_id, owner, topic, title, body, subject_id, data } =
        decoded;
    if StreamId::parse(&event.stream_id).map(|s| s.id()) != Ok(notification_id.as_uuid())
        || owner.as_uuid() != event.owner
    {
        return Err(decode_error(event, format!("{} does not match its stream or owner", notification_id)));
    }
    let data = serde_json::to_value(&data).map_err(|error| decode_error(event, error.to_string()))?;
    let inserted = sqlx::query(
        "INSERT INTO notifications (id, owner, topic, title, body, subject_id, data, created_at, position)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
    )
    .bind(notification_id.as_uuid())
    .bind(event.owner)
    .bind(topic.as_str())
    .bind(&title)
    .bind(&body)
    .bind(&subject_id)
    .bind(&data)
    .bind(event.recorded_at)
    .bind(to_bigint(event, "position", event.position)?)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO notification_deliveries (notification_id, channel_id, owner, created_at, next_attempt_at, traceparent)
         SELECT $1, c.id, c.owner, $3, now(), $5
         FROM notification_channels c
         WHERE c.owner = $2 AND NOT c.removed AND (cardinality(c.topics) = 0 OR $4 = ANY(c.topics))
           AND $3 > now() - make_interval(hours => $6)
         ON CONFLICT DO NOTHING",
    )
    .bind(notification_id.as_uuid())
    .bind(event.owner)
    .bind(event.recorded_at)
    .bind(topic.as_str())
    .bind(event.traceparent.as_deref())
    .bind(DELIVERY_WINDOW_HOURS as i32)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
