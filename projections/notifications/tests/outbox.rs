//! The notifications read model against a real PostgreSQL: the inbox, channels, read marks, and
//! the delivery outbox (queued with the notification for the channels taking its topic, claimed
//! with a lease, settled once per attempt, and never queued again by a rebuild).

use cashflow_domain::notification::{ChannelKind, ChannelTarget, NotificationEvent, NotifierEvent, Topic, Topics};
use cashflow_domain::{Amount, ChannelId, DomainEvent, NotificationId, UserId};
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::ProjectionError;
use cashflow_projection_notifications::{Deliveries, NotificationQueries, NotificationsProjection, Settle, migrate};
use cashflow_testkit::projection::{ProjectionDb, ProjectionUnderTest};
use cashflow_testkit::recorded_event;
use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;
use std::time::Duration;

struct Notifications;

impl ProjectionUnderTest for Notifications {
    type Projection = NotificationsProjection;
    type Dump = ();

    fn projection() -> NotificationsProjection {
        NotificationsProjection
    }

    async fn apply_one(
        projection: &NotificationsProjection,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        projection.apply(tx, event).await
    }

    async fn migrate(pool: &PgPool) {
        migrate(pool).await.expect("migrate");
    }

    async fn dump(_: &PgPool) {}
}

/// Events of one person's streams, numbered as the store would.
struct History {
    owner: UserId,
    events: Vec<RecordedEvent>,
    notifier_version: u64,
}

impl History {
    fn new() -> Self {
        Self { owner: UserId::new(), events: Vec::new(), notifier_version: 0 }
    }

    fn push(&mut self, stream_id: String, version: u64, event_type: &str, payload: serde_json::Value) {
        let position = self.events.len() as u64 + 1;
        let mut event = recorded_event(stream_id, version, position, self.owner.as_uuid(), event_type, payload);
        event.recorded_at = Utc::now();
        event.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into());
        self.events.push(event);
    }

    fn notifier(&mut self, event: NotifierEvent) {
        self.notifier_version += 1;
        let stream = format!("notifier-{}", self.owner);
        self.push(stream, self.notifier_version, event.event_type(), event.payload().unwrap());
    }

    fn channel(&mut self, kind: ChannelKind, target: &str, topics: &[Topic]) -> ChannelId {
        let channel_id = ChannelId::new();
        self.notifier(NotifierEvent::ChannelAdded {
            channel_id,
            owner: self.owner,
            kind,
            target: ChannelTarget::new("target", target.into()).unwrap(),
            topics: Topics::new(topics.iter().copied()),
            signing_secret: (kind == ChannelKind::Webhook).then(|| "whsec_test".to_owned()),
        });
        channel_id
    }

    fn raise(&mut self, topic: Topic, title: &str) -> NotificationId {
        let notification_id = NotificationId::new();
        let event = NotificationEvent::NotificationRaised {
            notification_id,
            owner: self.owner,
            topic,
            title: title.into(),
            body: format!("{title}, in words"),
            subject_id: "subject".into(),
            data: BTreeMap::from([("threshold".to_owned(), "80".to_owned())]),
        };
        self.push(notification_id.stream_id(), 1, event.event_type(), event.payload().unwrap());
        notification_id
    }
}

async fn pending(pool: &PgPool) -> Vec<(uuid::Uuid, uuid::Uuid)> {
    sqlx::query_as(
        "SELECT notification_id, channel_id FROM notification_deliveries WHERE status = 'pending' ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_notification_queues_one_delivery_per_channel_taking_its_topic() {
    let db = ProjectionDb::<Notifications>::new().await;
    let mut history = History::new();
    let email = history.channel(ChannelKind::Email, "ana@example.com", &[]);
    let webhook = history.channel(ChannelKind::Webhook, "https://example.com/hook", &[Topic::LargeExpense]);
    let budget = history.raise(Topic::BudgetThreshold, "Food: 80% of the budget spent");
    let large = history.raise(Topic::LargeExpense, "Large expense");
    db.apply(&history.events).await;

    let mut expected = vec![
        (budget.as_uuid(), email.as_uuid()),
        (large.as_uuid(), email.as_uuid()),
        (large.as_uuid(), webhook.as_uuid()),
    ];
    expected.sort();
    assert_eq!(pending(&db.pool).await, expected);

    // Applied again (a redelivered batch), nothing doubles.
    db.apply(&history.events).await;
    assert_eq!(pending(&db.pool).await, expected);
    let inbox = NotificationQueries::new(db.pool.clone()).list(history.owner.as_uuid(), false, 10, None).await.unwrap();
    assert_eq!(
        inbox.notifications.iter().map(|n| n.notification_id).collect::<Vec<_>>(),
        [large.as_uuid(), budget.as_uuid()]
    );
    assert_eq!(inbox.notifications[1].data["threshold"], "80");
    db.drop().await;
}

#[tokio::test]
async fn a_channel_added_later_or_removed_gets_no_earlier_notification() {
    let db = ProjectionDb::<Notifications>::new().await;
    let mut history = History::new();
    let removed = history.channel(ChannelKind::Sms, "+34600111222", &[]);
    history.notifier(NotifierEvent::ChannelRemoved { channel_id: removed });
    history.raise(Topic::InvoiceProcessed, "Receipt recorded");
    history.channel(ChannelKind::Email, "late@example.com", &[]);
    db.apply(&history.events).await;
    assert!(pending(&db.pool).await.is_empty());
    let channels = NotificationQueries::new(db.pool.clone()).channels(history.owner.as_uuid()).await.unwrap();
    assert_eq!(channels.iter().map(|c| c.target.as_str()).collect::<Vec<_>>(), ["late@example.com"]);
    db.drop().await;
}

#[tokio::test]
async fn read_marks_preferences_and_another_persons_view() {
    let db = ProjectionDb::<Notifications>::new().await;
    let mut history = History::new();
    let first = history.raise(Topic::LargeExpense, "one");
    let second = history.raise(Topic::LargeExpense, "two");
    history.notifier(NotifierEvent::NotificationsRead { notification_ids: vec![first] });
    history.notifier(NotifierEvent::PreferencesSet {
        large_expense_threshold: Some(Amount::parse("a", "500").unwrap()),
        monthly_report: true,
    });
    db.apply(&history.events).await;
    let queries = NotificationQueries::new(db.pool.clone());
    let unread = queries.list(history.owner.as_uuid(), true, 10, None).await.unwrap();
    assert_eq!(unread.notifications.iter().map(|n| n.notification_id).collect::<Vec<_>>(), [second.as_uuid()]);
    let preferences = queries.preferences(history.owner.as_uuid()).await.unwrap();
    assert_eq!(preferences.large_expense_threshold, Some("500".parse().unwrap()));
    let someone = UserId::new().as_uuid();
    assert!(queries.list(someone, false, 10, None).await.unwrap().notifications.is_empty());
    assert!(queries.after(someone, 0, 10).await.unwrap().is_empty());
    assert_eq!(queries.after(history.owner.as_uuid(), 1, 10).await.unwrap().len(), 1, "after a position");
    db.drop().await;
}

#[tokio::test]
async fn a_claim_counts_an_attempt_and_a_stale_attempt_settles_nothing() {
    let db = ProjectionDb::<Notifications>::new().await;
    let mut history = History::new();
    history.channel(ChannelKind::Webhook, "https://example.com/hook", &[]);
    history.raise(Topic::LargeExpense, "Large expense");
    db.apply(&history.events).await;
    let deliveries = Deliveries::new(db.pool.clone());

    let first = deliveries.claim(10, Duration::ZERO).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].attempt, first[0].signing_secret.as_deref()), (1, Some("whsec_test")));
    assert!(first[0].traceparent.is_some());
    // The lease ran out at once: another dispatcher claims attempt 2.
    let second = deliveries.claim(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(second[0].attempt, 2);
    assert!(deliveries.claim(10, Duration::from_secs(60)).await.unwrap().is_empty(), "leased");
    assert!(!deliveries.settle(&first[0], Settle::Delivered).await.unwrap(), "attempt 1 was taken over");
    let retry_at = Utc::now() - chrono::TimeDelta::seconds(1);
    let retry = Settle::Retry { error: "503 from the receiver".into(), at: retry_at };
    assert!(deliveries.settle(&second[0], retry).await.unwrap());
    let third = deliveries.claim(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(third[0].attempt, 3);
    assert!(deliveries.settle(&third[0], Settle::Delivered).await.unwrap());
    assert!(deliveries.claim(10, Duration::ZERO).await.unwrap().is_empty(), "delivered is done");
    let channels = NotificationQueries::new(db.pool.clone()).channels(history.owner.as_uuid()).await.unwrap();
    assert_eq!((channels[0].delivered, channels[0].pending, channels[0].failed), (1, 0, 0));
    db.drop().await;
}

#[tokio::test]
async fn a_rebuild_rewrites_the_inbox_and_queues_nothing_again() {
    let db = ProjectionDb::<Notifications>::new().await;
    let mut history = History::new();
    history.channel(ChannelKind::Email, "ana@example.com", &[]);
    history.raise(Topic::LargeExpense, "Large expense");
    db.apply(&history.events).await;
    let deliveries = Deliveries::new(db.pool.clone());
    let claimed = deliveries.claim(10, Duration::from_secs(60)).await.unwrap();
    assert!(deliveries.settle(&claimed[0], Settle::Delivered).await.unwrap());

    db.reset().await;
    db.apply(&history.events).await;
    assert!(pending(&db.pool).await.is_empty(), "the delivered one stays delivered");
    let inbox = NotificationQueries::new(db.pool.clone()).list(history.owner.as_uuid(), false, 10, None).await.unwrap();
    assert_eq!(inbox.notifications.len(), 1);

    // A notification older than the delivery window is listed but never delivered.
    let mut old = History::new();
    old.channel(ChannelKind::Email, "old@example.com", &[]);
    old.raise(Topic::LargeExpense, "Long ago");
    old.events[1].recorded_at = Utc::now() - chrono::TimeDelta::hours(25);
    for event in &mut old.events {
        event.position += 100;
    }
    db.apply(&old.events).await;
    assert!(pending(&db.pool).await.is_empty());
    db.drop().await;
}

#[tokio::test]
async fn settled_deliveries_past_retention_are_pruned_oldest_first_and_never_queued_again() {
    let db = ProjectionDb::<Notifications>::new().await;
    let mut history = History::new();
    history.channel(ChannelKind::Webhook, "https://example.com/hook", &[]);
    let delivered_long_ago = history.raise(Topic::LargeExpense, "Delivered long ago");
    let failed_long_ago = history.raise(Topic::LargeExpense, "Failed long ago");
    let pending_long_ago = history.raise(Topic::LargeExpense, "Still pending");
    let delivered_today = history.raise(Topic::LargeExpense, "Delivered today");
    db.apply(&history.events).await;
    let deliveries = Deliveries::new(db.pool.clone());
    for claimed in deliveries.claim(10, Duration::from_secs(60)).await.unwrap() {
        let id = NotificationId::from_uuid(claimed.notification.notification_id);
        let outcome = if id == failed_long_ago {
            Settle::Failed { error: "410 Gone".into() }
        } else if id == pending_long_ago {
            continue;
        } else {
            Settle::Delivered
        };
        assert!(deliveries.settle(&claimed, outcome).await.unwrap());
    }
    // The three "long ago" ones were queued 100 and 99 days ago, as their events were recorded.
    let long_ago = [(delivered_long_ago, 100), (failed_long_ago, 99), (pending_long_ago, 100)];
    for (id, days) in long_ago {
        sqlx::query("UPDATE notification_deliveries SET created_at = now() - make_interval(days => $2) WHERE notification_id = $1")
            .bind(id.as_uuid())
            .bind(days)
            .execute(&db.pool)
            .await
            .unwrap();
        let event = history.events.iter_mut().find(|e| e.stream_id == id.stream_id()).unwrap();
        event.recorded_at = Utc::now() - chrono::TimeDelta::days(days.into());
    }
    let remaining = || async {
        let rows: Vec<(uuid::Uuid,)> =
            sqlx::query_as("SELECT notification_id FROM notification_deliveries ORDER BY created_at")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        rows.into_iter().map(|(id,)| NotificationId::from_uuid(id)).collect::<Vec<_>>()
    };

    let ninety_days = Duration::from_secs(90 * 24 * 3600);
    assert_eq!(deliveries.prune(ninety_days, 1).await.unwrap(), 1, "one at most");
    assert_eq!(remaining().await, [pending_long_ago, failed_long_ago, delivered_today], "the oldest went first");
    assert_eq!(deliveries.prune(ninety_days, 10).await.unwrap(), 1);
    assert_eq!(deliveries.prune(ninety_days, 10).await.unwrap(), 0);
    assert_eq!(remaining().await, [pending_long_ago, delivered_today], "pending and young ones stay");
    let channels = NotificationQueries::new(db.pool.clone()).channels(history.owner.as_uuid()).await.unwrap();
    assert_eq!((channels[0].delivered, channels[0].pending, channels[0].failed), (1, 1, 0));

    // A rebuild replays the pruned notifications, which are past the delivery window: nothing is
    // queued again, and the inbox still lists all four.
    db.reset().await;
    db.apply(&history.events).await;
    assert_eq!(remaining().await, [pending_long_ago, delivered_today]);
    let inbox = NotificationQueries::new(db.pool.clone()).list(history.owner.as_uuid(), false, 10, None).await.unwrap();
    assert_eq!(inbox.notifications.len(), 4);
    db.drop().await;
}
