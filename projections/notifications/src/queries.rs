//! [`NotificationQueries`]: the owner-scoped reads of the notifications read model.

use cashflow_domain::notification::{ChannelKind, Topic};
use cashflow_projection::QueryError;
use cashflow_projection::page_token::PositionCursor;
use cashflow_projection::query::{effective_page_size, push_page, split_page, unsigned};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use std::collections::BTreeMap;
use uuid::Uuid;

/// One notification in a person's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationView {
    pub notification_id: Uuid,
    pub topic: Topic,
    pub title: String,
    pub body: String,
    pub subject_id: String,
    pub created_at: DateTime<Utc>,
    pub read: bool,
    pub data: BTreeMap<String, String>,
    /// The global position of its NotificationRaised: the inbox's order.
    pub position: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationPage {
    pub notifications: Vec<NotificationView>,
    /// The last notification of this page, newest first by `(position, id)`.
    pub next: Option<PositionCursor>,
}

/// A channel with what became of its deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelView {
    pub channel_id: Uuid,
    pub kind: ChannelKind,
    pub target: String,
    /// Empty: every topic.
    pub topics: Vec<Topic>,
    pub delivered: u64,
    pub failed: u64,
    pub pending: u64,
    pub last_error: Option<String>,
}

/// What the notification worker decides with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub large_expense_threshold: Option<Decimal>,
    pub monthly_report: bool,
}

macro_rules! select_notifications {
    () => {
        "SELECT id, topic, title, body, subject_id, created_at, read, data, position FROM notifications "
    };
}

#[derive(Debug, Clone)]
pub struct NotificationQueries {
    pool: PgPool,
}

impl NotificationQueries {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// A page of `owner`'s notifications, newest first, after `after`.
    #[tracing::instrument(name = "notifications.list", skip(self), err)]
    pub async fn list(
        &self,
        owner: Uuid,
        unread_only: bool,
        page_size: u32,
        after: Option<PositionCursor>,
    ) -> Result<NotificationPage, QueryError> {
        let page_size = effective_page_size(page_size) as usize;
        let mut query = QueryBuilder::<Postgres>::new(concat!(select_notifications!(), "WHERE owner = "));
        query.push_bind(owner);
        if unread_only {
            query.push(" AND NOT read");
        }
        let after = after.map(|a| (a.position as i64, a.id));
        push_page(&mut query, "position", after, page_size);
        let rows = query.build().fetch_all(&self.pool).await?;
        let mut notifications = rows.iter().map(notification_view).collect::<Result<Vec<_>, _>>()?;
        let next = split_page(&mut notifications, page_size, |n| PositionCursor {
            position: n.position,
            id: n.notification_id,
        });
        Ok(NotificationPage { notifications, next })
    }

    /// `owner`'s notifications raised after `position`, oldest first, at most `limit`.
    #[tracing::instrument(name = "notifications.after", skip(self), err)]
    pub async fn after(&self, owner: Uuid, position: u64, limit: u32) -> Result<Vec<NotificationView>, QueryError> {
        let rows = sqlx::query(concat!(
            select_notifications!(),
            "WHERE owner = $1 AND position > $2 ORDER BY position, id LIMIT $3"
        ))
        .bind(owner)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notification_view).collect()
    }

    /// The position of `owner`'s newest notification (0 without any): where a watch starts.
    pub async fn newest_position(&self, owner: Uuid) -> Result<u64, QueryError> {
        let row = sqlx::query("SELECT coalesce(max(position), 0) AS position FROM notifications WHERE owner = $1")
            .bind(owner)
            .fetch_one(&self.pool)
            .await?;
        unsigned(&row, "position")
    }

    /// `owner`'s channels, oldest first, with their deliveries counted by outcome.
    #[tracing::instrument(name = "notifications.channels", skip(self), err)]
    pub async fn channels(&self, owner: Uuid) -> Result<Vec<ChannelView>, QueryError> {
        let rows = sqlx::query(
            "SELECT c.id, c.kind, c.target, c.topics,
                    count(*) FILTER (WHERE d.status = 'delivered') AS delivered,
                    count(*) FILTER (WHERE d.status = 'failed') AS failed,
                    count(*) FILTER (WHERE d.status = 'pending') AS pending,
                    (SELECT e.last_error FROM notification_deliveries e
                     WHERE e.channel_id = c.id AND e.last_error IS NOT NULL AND e.status <> 'delivered'
                     ORDER BY e.created_at DESC LIMIT 1) AS last_error
             FROM notification_channels c
             LEFT JOIN notification_deliveries d ON d.channel_id = c.id
             WHERE c.owner = $1 AND NOT c.removed
             GROUP BY c.id
             ORDER BY c.added_position",
        )
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: &str = row.try_get("kind")?;
                let topics: Vec<String> = row.try_get("topics")?;
                Ok(ChannelView {
                    channel_id: row.try_get("id")?,
                    kind: ChannelKind::from_name(kind)
                        .ok_or_else(|| QueryError::Corrupt(format!("unknown channel kind {kind:?}")))?,
                    target: row.try_get("target")?,
                    topics: topics.iter().map(|t| parse_topic(t)).collect::<Result<_, _>>()?,
                    delivered: unsigned(row, "delivered")?,
                    failed: unsigned(row, "failed")?,
                    pending: unsigned(row, "pending")?,
                    last_error: row.try_get("last_error")?,
                })
            })
            .collect()
    }

    /// `owner`'s preferences; the defaults (nothing large, no monthly report) if never set.
    #[tracing::instrument(name = "notifications.preferences", skip(self), err)]
    pub async fn preferences(&self, owner: Uuid) -> Result<Preferences, QueryError> {
        let row = sqlx::query(
            "SELECT large_expense_threshold, monthly_report FROM notification_preferences WHERE owner = $1",
        )
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(Preferences::default()),
            Some(row) => Ok(Preferences {
                large_expense_threshold: row.try_get("large_expense_threshold")?,
                monthly_report: row.try_get("monthly_report")?,
            }),
        }
    }

    /// Up to `limit` people who asked for the monthly report, by id, after `after`: the report
    /// schedule pages through them.
    #[tracing::instrument(name = "notifications.monthly_report_owners", skip(self), err)]
    pub async fn monthly_report_owners(&self, after: Option<Uuid>, limit: u32) -> Result<Vec<Uuid>, QueryError> {
        let rows = sqlx::query(
            "SELECT owner FROM notification_preferences
             WHERE monthly_report AND ($1::uuid IS NULL OR owner > $1) ORDER BY owner LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok(row.try_get("owner")?)).collect()
    }
}

fn parse_topic(name: &str) -> Result<Topic, QueryError> {
    Topic::from_name(name).ok_or_else(|| QueryError::Corrupt(format!("unknown topic {name:?}")))
}

/// A notification from a row with the `notifications` table's column names (the outbox's
/// claim selects them too).
pub(crate) fn notification_view(row: &PgRow) -> Result<NotificationView, QueryError> {
    let data: serde_json::Value = row.try_get("data")?;
    Ok(NotificationView {
        notification_id: row.try_get("id")?,
        topic: parse_topic(row.try_get("topic")?)?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        subject_id: row.try_get("subject_id")?,
        created_at: row.try_get("created_at")?,
        read: row.try_get("read")?,
        data: serde_json::from_value(data)
            .map_err(|error| QueryError::Corrupt(format!("notification data: {error}")))?,
        position: unsigned(row, "position")?,
    })
}
