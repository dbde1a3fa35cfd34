//! Notifications end to end, against the real binary, PostgreSQL and NATS, delivering to a real
//! SMTP sink and HTTP receivers this test starts: budget thresholds and large expenses notify
//! once per cause on every channel that asked for them, webhooks are signed, a failing receiver
//! gets the same delivery again until it answers, a SIGKILL mid-delivery repeats nothing that
//! was recorded, an invoice that settles notifies, and bad input is refused naming its field.

mod support;

use cashflow_proto::v1::*;
use cashflow_testkit::receivers::{
    Captured, Receiver, SmtpMode, receiver, scripted_receiver, slow_receiver, smtp_sink,
};
use hmac::{Hmac, KeyInit, Mac};
use http::StatusCode;
use sha2::Sha256;
use sqlx::Row;
use std::time::Duration;
use support::{Authed, CASHFLOW, Namespace, Server, command_id, open_account};
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

type Ledger = ledger_service_client::LedgerServiceClient<Authed>;
type Notifications = notification_service_client::NotificationServiceClient<Authed>;

/// How long a notification may take from its cause to a watcher or a receiver; generous, as
/// CI machines are slow. Speed is measured in BENCHMARKS.md, not here.
const WITHIN: Duration = Duration::from_secs(30);

/// Settings of a server that delivers to receivers on 127.0.0.1.
fn delivering_to(smtp_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CASHFLOW_SMTP_URL", smtp_url.to_owned()),
        ("CASHFLOW_SMTP_FROM", "Cashflow <cashflow@example.com>".to_owned()),
        ("CASHFLOW_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("CASHFLOW_DELIVERY_LEASE_SECS", "3".to_owned()),
    ]
}

fn start(namespace: &Namespace, roles: &str, env: &[(&'static str, String)]) -> Server {
    let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    Server::start_with(CASHFLOW, namespace, roles, &env)
}

async fn expense(ledger: &mut Ledger, account_id: &str, category_id: Option<&str>, amount: &str) -> (String, u64) {
    let recorded = ledger
        .record_movement(RecordMovementRequest {
            command_id: command_id(),
            account_id: account_id.to_owned(),
            direction: Direction::Expense.into(),
            amount: amount.to_owned(),
            occurred_on: "2026-11-10".into(),
            description: format!("spent {amount}"),
            counterparty: Some("Mercadona".into()),
            category_id: category_id.map(str::to_owned),
        })
        .await
        .expect("record an expense")
        .into_inner();
    (recorded.movement_id, recorded.position)
}

async fn add_channel(
    notifications: &mut Notifications,
    kind: ChannelKind,
    target: &str,
    topics: &[NotificationTopic],
) -> AddChannelResponse {
    notifications
        .add_channel(AddChannelRequest {
            command_id: command_id(),
            kind: kind.into(),
            target: target.to_owned(),
            topics: topics.iter().map(|&topic| topic.into()).collect(),
        })
        .await
        .expect("add a channel")
        .into_inner()
}

async fn next(watch: &mut tonic::Streaming<Notification>) -> Notification {
    tokio::time::timeout(WITHIN, watch.message())
        .await
        .expect("a notification within the time allowed")
        .expect("the watch")
        .expect("the watch ended")
}

/// Waits until the notification worker has handled every event stored so far (its consumer has
/// nothing pending or unacknowledged) and the read model has applied what it raised; returns
/// the store's head then.
async fn settled(namespace: &Namespace, notifications: &mut Notifications) -> u64 {
    let pool = namespace.pool().await;
    let head = |pool: sqlx::PgPool| async move {
        let head: i64 = sqlx::query("SELECT coalesce(max(position), 0) AS head FROM events")
            .fetch_one(&pool)
            .await
            .expect("head")
            .get("head");
        u64::try_from(head).expect("a position")
    };
    // Everything stored so far reached JetStream once the notifications projector applied it.
    let before = head(pool.clone()).await;
    list(notifications, Some(before)).await;
    let client = async_nats::connect(cashflow_testkit::NATS_URL).await.expect("NATS");
    let jetstream = async_nats::jetstream::new(client);
    let stream = jetstream.get_stream_no_info(namespace.nats.events_stream()).await.expect("the events stream");
    let consumer = format!("{}_{}", namespace.prefix(), cashflow_notify::worker::NAME);
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let info = stream.consumer_info(&consumer).await.expect("the worker's consumer");
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the notification worker did not drain: {info:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = head(pool.clone()).await;
    list(notifications, Some(after)).await;
    pool.close().await;
    after
}

async fn list(notifications: &mut Notifications, min_position: Option<u64>) -> Vec<Notification> {
    notifications
        .list_notifications(ListNotificationsRequest { min_position, page_size: 500, ..Default::default() })
        .await
        .expect("list notifications")
        .into_inner()
        .notifications
}

async fn channel(notifications: &mut Notifications, channel_id: &str) -> Channel {
    let channels =
        notifications.list_channels(ListChannelsRequest { min_position: None }).await.expect("channels").into_inner();
    channels.channels.into_iter().find(|c| c.channel_id == channel_id).expect("the channel is listed")
}

/// The channel as `ListChannels` shows it once `done` holds of it; `what` says what did not
/// happen within [`WITHIN`].
async fn channel_once(
    notifications: &mut Notifications,
    channel_id: &str,
    what: &str,
    done: impl Fn(&Channel) -> bool,
) -> Channel {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let listed = channel(notifications, channel_id).await;
        if done(&listed) {
            return listed;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {listed:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The person is notified of every expense of `threshold` or more.
async fn notify_expenses_from(notifications: &mut Notifications, threshold: &str) {
    notifications
        .set_preferences(SetPreferencesRequest {
            command_id: command_id(),
            large_expense_threshold: Some(threshold.into()),
            monthly_report: None,
        })
        .await
        .expect("preferences");
}

/// Waits until `receiver` has had `count` requests.
async fn received(receiver: &Receiver, count: usize) -> Vec<Captured> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let requests = receiver.received();
        if requests.len() >= count {
            return requests;
        }
        assert!(tokio::time::Instant::now() < deadline, "{} of {count} requests arrived", requests.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks a webhook's signature as a receiver would, from the contract alone.
fn assert_signed(request: &Captured, secret: &str) {
    let signature = request.header("cashflow-signature");
    let (t, v1) = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("malformed signature {signature}"));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("a key");
    mac.update(format!("{t}.{}", request.body).as_bytes());
    assert_eq!(v1, hex::encode(mac.finalize().into_bytes()), "signature of {}", request.body);
}

fn json(request: &Captured) -> serde_json::Value {
    serde_json::from_str(&request.body).expect("a JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thresholds_and_large_expenses_notify_once_on_the_channels_that_asked() {
    let sink = smtp_sink(SmtpMode::Accept).await;
    let hook = receiver(StatusCode::NO_CONTENT).await;
    let push = receiver(StatusCode::OK).await;
    let namespace = Namespace::new();
    let server = start(&namespace, "api,relay,projectors,notifications", &delivering_to(&sink.url()));
    let user = Uuid::now_v7();
    let mut ledger = server.ledger(user).await;
    let mut notifications = server.notifications(user).await;

    let account = open_account(&mut ledger, "Main").await.account_id;
    let groceries = ledger
        .create_category(CreateCategoryRequest { command_id: command_id(), name: "Groceries".into(), parent_id: None })
        .await
        .expect("category")
        .into_inner()
        .category_id;
    let budget = ledger
        .set_budget(SetBudgetRequest {
            command_id: command_id(),
            category_id: groceries.clone(),
            month: Some("2026-11".into()),
            amount: "100.00".into(),
            currency: Some("EUR".into()),
            alert_thresholds: vec![],
        })
        .await
        .expect("budget")
        .into_inner();
    add_channel(&mut notifications, ChannelKind::Email, "ana@example.com", &[]).await;
    let webhook = add_channel(&mut notifications, ChannelKind::Webhook, &hook.url("/cashflow"), &[]).await;
    assert!(webhook.signing_secret.len() >= 32, "a webhook gets a signing secret");
    add_channel(&mut notifications, ChannelKind::Push, &push.url("/ana"), &[NotificationTopic::LargeExpense]).await;
    notify_expenses_from(&mut notifications, "250.00").await;
    let mut watch = notifications.watch_notifications(WatchNotificationsRequest {}).await.expect("watch").into_inner();

    // 79.99 of 100: under 80%, nothing. One cent more: exactly 80%.
    expense(&mut ledger, &account, Some(&groceries), "79.99").await;
    let (cent, _) = expense(&mut ledger, &account, Some(&groceries), "0.01").await;
    let eighty = next(&mut watch).await;
    assert_eq!(eighty.topic(), NotificationTopic::BudgetThreshold);
    assert_eq!(eighty.subject_id, budget.budget_id);
    assert_eq!(eighty.data["threshold"], "80");
    assert_eq!(eighty.data["spent"], "80.00");
    assert_eq!(eighty.data["amount"], "100.00");
    assert_eq!(eighty.data["month"], "2026-11");

    // Back under 80% and across it again: the threshold has notified for this month already.
    ledger
        .void_movement(VoidMovementRequest { command_id: command_id(), movement_id: cent, reason: "typo".into() })
        .await
        .expect("void");
    expense(&mut ledger, &account, Some(&groceries), "0.01").await;
    // 249.99 is under the large expense threshold; it is not groceries, so the budget stays.
    expense(&mut ledger, &account, None, "249.99").await;
    expense(&mut ledger, &account, Some(&groceries), "20.00").await;
    let hundred = next(&mut watch).await;
    assert_eq!(hundred.data["threshold"], "100");
    assert_eq!(hundred.data["spent"], "100.00");
    let (large, _) = expense(&mut ledger, &account, None, "250.00").await;
    let large_expense = next(&mut watch).await;
    assert_eq!(large_expense.topic(), NotificationTopic::LargeExpense);
    assert_eq!(large_expense.subject_id, large);

    settled(&namespace, &mut notifications).await;
    let inbox = list(&mut notifications, None).await;
    let ids: Vec<_> = inbox.iter().map(|n| n.notification_id.as_str()).collect();
    assert_eq!(
        ids,
        [&large_expense.notification_id, &hundred.notification_id, &eighty.notification_id],
        "newest first, and nothing else"
    );
    assert!(inbox.iter().all(|n| !n.read));

    // Email and webhook take every topic; push only large expenses.
    let hooks = received(&hook, 3).await;
    let mut delivered: Vec<String> = hooks.iter().map(|r| r.header("cashflow-delivery").to_owned()).collect();
    delivered.sort();
    let mut expected: Vec<String> = inbox.iter().map(|n| n.notification_id.clone()).collect();
    expected.sort();
    assert_eq!(delivered, expected, "each notification once to the webhook");
    for request in &hooks {
        assert_signed(request, &webhook.signing_secret);
        let body = json(request);
        assert_eq!(body["notificationId"], request.header("cashflow-delivery"));
        let notification = inbox.iter().find(|n| n.notification_id == body["notificationId"]).expect("listed");
        assert_eq!(body["title"], notification.title.as_str());
        assert_eq!(body["subjectId"], notification.subject_id.as_str());
        assert_eq!(body["topic"], notification.topic().as_str_name());
    }
    let pushed = received(&push, 1).await;
    assert_eq!(pushed.len(), 1);
    assert!(pushed[0].body.contains(&large_expense.body), "{}", pushed[0].body);
    let deadline = tokio::time::Instant::now() + WITHIN;
    while sink.mails.lock().expect("mails").len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "three mails did not arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails = sink.mails.lock().expect("mails").clone();
    let mut mailed: Vec<String> =
        mails.iter().map(|m| m.header("Cashflow-Notification-Id").expect("the id header")).collect();
    mailed.sort();
    assert_eq!(mailed, expected, "each notification once by email");
    let mail = mails.iter().find(|m| m.header("Cashflow-Notification-Id").as_deref() == Some(&eighty.notification_id));
    let mail = mail.expect("the 80% mail");
    assert_eq!(mail.header("Subject").as_deref(), Some(eighty.title.as_str()));
    assert!(mail.rcpt_to.iter().any(|to| to.contains("ana@example.com")), "{:?}", mail.rcpt_to);

    // Read marks: the unread list empties.
    let read = notifications
        .mark_read(MarkReadRequest { command_id: command_id(), notification_ids: expected.clone() })
        .await
        .expect("mark read")
        .into_inner();
    let unread = notifications
        .list_notifications(ListNotificationsRequest {
            unread_only: true,
            min_position: Some(read.position),
            ..Default::default()
        })
        .await
        .expect("unread")
        .into_inner();
    assert!(unread.notifications.is_empty(), "{:?}", unread.notifications);
    let hook_channel = channel(&mut notifications, &webhook.channel_id).await;
    assert_eq!((hook_channel.delivered, hook_channel.failed, hook_channel.pending), (3, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_that_fails_twice_gets_the_same_delivery_three_times_and_it_counts_once() {
    let sink = smtp_sink(SmtpMode::Accept).await;
    let hook =
        scripted_receiver(&[StatusCode::SERVICE_UNAVAILABLE, StatusCode::INTERNAL_SERVER_ERROR], StatusCode::OK).await;
    let namespace = Namespace::new();
    let mut env = delivering_to(&sink.url());
    env.push(("CASHFLOW_METRICS_ADDR", "127.0.0.1:0".to_owned()));
    let server = start(&namespace, "api,relay,projectors,notifications", &env);
    let user = Uuid::now_v7();
    let mut ledger = server.ledger(user).await;
    let mut notifications = server.notifications(user).await;
    let account = open_account(&mut ledger, "Main").await.account_id;
    let webhook = add_channel(&mut notifications, ChannelKind::Webhook, &hook.url("/flaky"), &[]).await;
    notify_expenses_from(&mut notifications, "10").await;
    expense(&mut ledger, &account, None, "10").await;

    let requests = received(&hook, 3).await;
    let ids: Vec<&str> = requests.iter().map(|r| r.header("cashflow-delivery")).collect();
    assert_eq!(ids, [ids[0]; 3], "the same delivery each time");
    for request in &requests {
        assert_signed(request, &webhook.signing_secret);
    }
    let listed =
        channel_once(&mut notifications, &webhook.channel_id, "the delivery never settled", |c| c.pending == 0).await;
    assert_eq!((listed.delivered, listed.failed), (1, 0), "{listed:?}");
    settled(&namespace, &mut notifications).await;
    assert_eq!(list(&mut notifications, None).await.len(), 1);
    assert_eq!(hook.received().len(), 3, "nothing after the delivery succeeded");

    // The attempts as operators see them.
    let metrics = scrape(server.metrics_addr.as_deref().expect("the metrics port")).await;
    let series = |outcome: &str| {
        let name = format!("cashflow_notification_deliveries_total{{channel=\"webhook\",outcome=\"{outcome}\"}} ");
        metrics.lines().find_map(|line| line.strip_prefix(name.as_str())).map(str::to_owned)
    };
    assert_eq!(series("retry").as_deref(), Some("2"), "{metrics}");
    assert_eq!(series("delivered").as_deref(), Some("1"), "{metrics}");
    assert!(
        metrics.contains("cashflow_notification_delivery_latency_seconds_count{channel=\"webhook\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("cashflow_notifications_raised_total{topic=\"large_expense\"} 1"), "{metrics}");
}

/// `GET /metrics` over a plain HTTP/1.0 connection: the body.
async fn scrape(addr: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("the metrics port");
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: cashflow\r\n\r\n").await.expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("response");
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).expect("a body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigkill_mid_delivery_repeats_only_the_unrecorded_delivery_with_the_same_id() {
    // Each answer takes a while, so the process can be killed while one is in flight.
    let hook = slow_receiver(Duration::from_secs(2)).await;
    let namespace = Namespace::new();
    let env = delivering_to("smtp://127.0.0.1:9");
    let api = start(&namespace, "api,relay,projectors", &env);
    let user = Uuid::now_v7();
    let mut ledger = api.ledger(user).await;
    let mut notifications = api.notifications(user).await;
    let account = open_account(&mut ledger, "Main").await.account_id;
    let webhook = add_channel(&mut notifications, ChannelKind::Webhook, &hook.url("/slow"), &[]).await;
    notify_expenses_from(&mut notifications, "10").await;

    let worker = start(&namespace, "notifications", &env);
    expense(&mut ledger, &account, None, "11").await;
    channel_once(&mut notifications, &webhook.channel_id, "the first delivery was not recorded", |c| c.delivered >= 1)
        .await;
    let first = hook.received()[0].header("cashflow-delivery").to_owned();

    // The second is in flight (the receiver has it, the answer is 2 s away): SIGKILL.
    expense(&mut ledger, &account, None, "12").await;
    received(&hook, 2).await;
    worker.kill();
    let _worker = start(&namespace, "notifications", &env);

    let listed = channel_once(&mut notifications, &webhook.channel_id, "the second delivery was not recorded", |c| {
        c.delivered == 2
    })
    .await;
    assert_eq!((listed.failed, listed.pending), (0, 0));
    let requests = hook.received();
    let ids: Vec<&str> = requests.iter().map(|r| r.header("cashflow-delivery")).collect();
    assert_eq!(ids.iter().filter(|id| **id == first).count(), 1, "the recorded delivery was repeated: {ids:?}");
    let second = ids[1];
    assert_ne!(second, first);
    assert_eq!(ids.len(), 3, "the unrecorded one comes once more, and nothing else: {ids:?}");
    assert_eq!(ids[2], second, "a repeat carries the same notification id");
    assert_eq!(list(&mut notifications, None).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_notifications_role_prunes_settled_deliveries_past_their_retention() {
    let hook = scripted_receiver(&[], StatusCode::OK).await;
    let namespace = Namespace::new();
    let mut env = delivering_to("smtp://127.0.0.1:9");
    env.push(("CASHFLOW_DELIVERY_RETENTION_DAYS", "2".to_owned()));
    let server = start(&namespace, "api,relay,projectors,notifications", &env);
    let user = Uuid::now_v7();
    let mut ledger = server.ledger(user).await;
    let mut notifications = server.notifications(user).await;
    let account = open_account(&mut ledger, "Main").await.account_id;
    let webhook = add_channel(&mut notifications, ChannelKind::Webhook, &hook.url("/hook"), &[]).await;
    notify_expenses_from(&mut notifications, "10").await;
    expense(&mut ledger, &account, None, "10").await;
    expense(&mut ledger, &account, None, "11").await;
    channel_once(&mut notifications, &webhook.channel_id, "the deliveries were not recorded", |c| c.delivered >= 2)
        .await;

    // One of the two was queued three days ago: a dispatcher starting now deletes it, not the other.
    let pool = namespace.pool().await;
    let aged = sqlx::query(
        "UPDATE notification_deliveries SET created_at = now() - interval '3 days'
         WHERE notification_id = (SELECT notification_id FROM notification_deliveries ORDER BY created_at LIMIT 1)",
    )
    .execute(&pool)
    .await
    .expect("age a delivery");
    assert_eq!(aged.rows_affected(), 1);
    let mut env = env.clone();
    env.push(("CASHFLOW_METRICS_ADDR", "127.0.0.1:0".to_owned()));
    let worker = start(&namespace, "notifications", &env);
    let listed =
        channel_once(&mut notifications, &webhook.channel_id, "the aged delivery was not pruned", |c| c.delivered < 2)
            .await;
    assert_eq!((listed.delivered, listed.pending, listed.failed), (1, 0, 0));
    // The counter moves just after the delete commits.
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let metrics = scrape(worker.metrics_addr.as_deref().expect("the metrics port")).await;
        if metrics.contains("cashflow_notification_deliveries_pruned_total 1") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the pruned delivery was not counted: {metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(list(&mut notifications, None).await.len(), 2, "the inbox keeps both");
    assert_eq!(hook.received().len(), 2, "nothing delivered again");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invoice_whose_processing_settles_notifies() {
    let namespace = Namespace::new();
    let server = start(&namespace, "api,relay,projectors,ocr,notifications", &delivering_to("smtp://127.0.0.1:9"));
    let user = Uuid::now_v7();
    let mut ledger = server.ledger(user).await;
    open_account(&mut ledger, "Main").await;
    let mut notifications = server.notifications(user).await;
    let mut watch = notifications.watch_notifications(WatchNotificationsRequest {}).await.expect("watch").into_inner();
    // A PNG whose header promises pixels its body does not have: the scan fails.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend(10u32.to_be_bytes());
    png.extend(10u32.to_be_bytes());
    png.extend([8, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut invoices = server.invoices(user).await;
    let uploaded =
        support::invoices::upload(&mut invoices, support::invoices::upload_parts("r.png", "image/png", None, &png))
            .await
            .expect("upload");
    let notified = next(&mut watch).await;
    assert_eq!(notified.topic(), NotificationTopic::InvoiceProcessed);
    assert_eq!(notified.subject_id, uploaded.invoice_id);
    assert_eq!(notified.data["status"], "failed");
    settled(&namespace, &mut notifications).await;
    assert_eq!(list(&mut notifications, None).await.len(), 1, "once, however many events the invoice had");
}

/// The field a BadRequest detail names.
fn field(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status.get_details_bad_request().expect("BadRequest").field_violations[0].field.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_refused_naming_the_field_and_stores_nothing_and_watches_are_bounded() {
    let namespace = Namespace::new();
    // Without CASHFLOW_WEBHOOK_ALLOW_PRIVATE: internal targets are refused.
    let server = Server::start(CASHFLOW, &namespace, "api");
    let user = Uuid::now_v7();
    let mut notifications = server.notifications(user).await;
    let add = |kind: ChannelKind, target: &str, topics: Vec<i32>| AddChannelRequest {
        command_id: command_id(),
        kind: kind.into(),
        target: target.to_owned(),
        topics,
    };
    let cases = [
        (add(ChannelKind::Unspecified, "a@example.com", vec![]), "kind"),
        (AddChannelRequest { kind: 99, ..add(ChannelKind::Email, "a@example.com", vec![]) }, "kind"),
        (add(ChannelKind::Email, "not an address", vec![]), "target"),
        (add(ChannelKind::Webhook, "http://127.0.0.1:8080/hook", vec![]), "target"),
        (add(ChannelKind::Webhook, "http://169.254.169.254/latest", vec![]), "target"),
        (add(ChannelKind::Push, "ftp://example.com/x", vec![]), "target"),
        (add(ChannelKind::Sms, "555-1234", vec![]), "target"),
        (add(ChannelKind::Email, &format!("{}@example.com", "a".repeat(2100)), vec![]), "target"),
        (add(ChannelKind::Email, "a@example.com", vec![0]), "topics"),
        (
            AddChannelRequest { command_id: "nope".into(), ..add(ChannelKind::Email, "a@example.com", vec![]) },
            "command_id",
        ),
    ];
    for (request, expected) in cases {
        let status = notifications.add_channel(request.clone()).await.expect_err("refused");
        assert_eq!(field(&status), expected, "{request:?}");
    }
    let status = notifications
        .remove_channel(RemoveChannelRequest { command_id: command_id(), channel_id: "x".into() })
        .await
        .expect_err("refused");
    assert_eq!(field(&status), "channel_id");
    for threshold in ["-5", "abc", "1,5"] {
        let status = notifications
            .set_preferences(SetPreferencesRequest {
                command_id: command_id(),
                large_expense_threshold: Some(threshold.into()),
                monthly_report: None,
            })
            .await
            .expect_err("refused");
        assert_eq!(field(&status), "large_expense_threshold", "{threshold}");
    }
    let status = notifications
        .list_notifications(ListNotificationsRequest { page_size: 501, ..Default::default() })
        .await
        .expect_err("refused");
    assert_eq!(field(&status), "page_size");
    let status = notifications
        .list_notifications(ListNotificationsRequest { page_token: "garbage".into(), ..Default::default() })
        .await
        .expect_err("refused");
    assert_eq!(field(&status), "page_token");
    let status = notifications
        .mark_read(MarkReadRequest { command_id: command_id(), notification_ids: vec!["nope".into()] })
        .await
        .expect_err("refused");
    assert_eq!(field(&status), "notification_ids");
    let status = notifications
        .mark_read(MarkReadRequest {
            command_id: command_id(),
            notification_ids: (0..501).map(|_| Uuid::now_v7().to_string()).collect(),
        })
        .await
        .expect_err("refused");
    assert_eq!(field(&status), "notification_ids");

    // Watches are few per person: the ninth is refused until one closes.
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(notifications.watch_notifications(WatchNotificationsRequest {}).await.expect("a watch").into_inner());
    }
    let refused = notifications.watch_notifications(WatchNotificationsRequest {}).await.expect_err("a ninth watch");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let mut other = server.notifications(Uuid::now_v7()).await;
    other.watch_notifications(WatchNotificationsRequest {}).await.expect("another person's watch");
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + WITHIN;
    while notifications.watch_notifications(WatchNotificationsRequest {}).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "a closed watch did not give its place back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let pool = namespace.pool().await;
    let stored: i64 = sqlx::query("SELECT count(*) AS n FROM events WHERE owner = $1")
        .bind(user)
        .fetch_one(&pool)
        .await
        .expect("count")
        .get("n");
    assert_eq!(stored, 0, "a refused command stored nothing");
    pool.close().await;
}

/// Browsers watch over grpc-web (HTTP/1.1, no client streaming): the server stream's frames
/// arrive as the notifications are raised, on a connection that stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_browser_watches_notifications_over_grpc_web() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let namespace = Namespace::new();
    let server = start(&namespace, "api,relay,projectors,notifications", &delivering_to("smtp://127.0.0.1:9"));
    let user = Uuid::now_v7();
    let mut ledger = server.ledger(user).await;
    let mut notifications = server.notifications(user).await;
    let account = open_account(&mut ledger, "Main").await.account_id;
    notify_expenses_from(&mut notifications, "10").await;

    let mut stream = tokio::net::TcpStream::connect(&server.addr).await.expect("connect");
    let body = support::web::frame(0, &[]);
    let head = format!(
        "POST /cashflow.v1.NotificationService/WatchNotifications HTTP/1.1\r\nhost: {}\r\n\
         content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\naccept: application/grpc-web+proto\r\n\
         authorization: Bearer {}\r\ncontent-length: {}\r\n\r\n",
        server.addr,
        support::token(user),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(&body).await.expect("write body");
    // The response's head comes first: the watch is open before the expense.
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !received.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = tokio::time::timeout(WITHIN, stream.read(&mut buffer)).await.expect("the head").expect("read");
        assert!(read > 0, "the server closed the watch: {}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&buffer[..read]);
    }
    let head = String::from_utf8_lossy(&received).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: application/grpc-web+proto"), "{head}");

    let (first, _) = expense(&mut ledger, &account, None, "10").await;
    let (second, _) = expense(&mut ledger, &account, None, "11").await;
    for movement in [first, second] {
        while !received.windows(movement.len()).any(|w| w == movement.as_bytes()) {
            let read = tokio::time::timeout(WITHIN, stream.read(&mut buffer))
                .await
                .expect("a notification frame in time")
                .expect("read");
            assert!(read > 0, "the server closed the watch");
            received.extend_from_slice(&buffer[..read]);
        }
    }
}

/// A rollout must not wait for watches that would never end: on SIGTERM an open watch ends
/// with UNAVAILABLE (its client reconnects elsewhere and lists what it missed) and the process
/// exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutting_down_ends_open_watches_with_unavailable() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors");
    let user = Uuid::now_v7();
    let mut watch = server
        .notifications(user)
        .await
        .watch_notifications(WatchNotificationsRequest {})
        .await
        .expect("watch")
        .into_inner();
    let exited = tokio::task::spawn_blocking(move || server.terminate());
    let ended = tokio::time::timeout(WITHIN, watch.message()).await.expect("the watch ended on shutdown");
    let status = ended.expect_err("the watch ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let exit = tokio::time::timeout(WITHIN, exited).await.expect("the process exited in time").expect("join");
    assert!(exit.success(), "a clean exit: {exit:?}");
}
