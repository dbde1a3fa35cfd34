//! Security end to end, against the real binary: no RPC lets one user reach another's data
//! (the list of RPCs comes from the service descriptors, so a new RPC fails this test until it
//! has a case), and hostile input gets clean errors and stores nothing.

mod support;

use cashflow_proto::v1::*;
use prost::Message;
use sqlx::Row;
use std::collections::BTreeSet;
use support::web::{frame, post};
use support::{CASHFLOW, Namespace, Server, command_id, open_account, token};
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

/// Every `package.Service/Method` of the Cashflow contract.
fn contract_rpcs() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(cashflow_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let mut rpcs = BTreeSet::new();
    for file in set.file {
        let package = file.package().to_owned();
        for service in &file.service {
            for method in &service.method {
                rpcs.insert(format!("{package}.{}/{}", service.name(), method.name()));
            }
        }
    }
    rpcs
}

struct Owned {
    account_id: String,
    category_id: String,
    movement_id: String,
    invoice_id: String,
    command_id: String,
    channel_id: String,
    channel_command_id: String,
    notification_id: String,
    report_id: String,
    report_command_id: String,
    position: u64,
}

/// How long a notification may take from the command that causes it to a watcher.
const NOTIFIED_WITHIN: std::time::Duration = std::time::Duration::from_secs(20);

async fn seed(server: &Server, user: Uuid, name: &str) -> Owned {
    let mut ledger = server.ledger(user).await;
    let account_command = command_id();
    let account = ledger
        .open_account(OpenAccountRequest {
            command_id: account_command.clone(),
            name: format!("{name}'s account"),
            currency: "EUR".into(),
            opening_balance: Some("100".into()),
        })
        .await
        .expect("open account")
        .into_inner();
    let category = ledger
        .create_category(CreateCategoryRequest {
            command_id: command_id(),
            name: format!("{name}'s food"),
            parent_id: None,
        })
        .await
        .expect("create category")
        .into_inner();
    let movement = ledger
        .record_movement(RecordMovementRequest {
            command_id: command_id(),
            account_id: account.account_id.clone(),
            direction: Direction::Expense.into(),
            amount: "12.5".into(),
            occurred_on: "2026-01-15".into(),
            description: format!("{name}'s lunch"),
            counterparty: None,
            category_id: Some(category.category_id.clone()),
        })
        .await
        .expect("record movement")
        .into_inner();
    let budget = ledger
        .set_budget(SetBudgetRequest {
            command_id: command_id(),
            category_id: category.category_id.clone(),
            month: Some("2026-01".into()),
            amount: "100".into(),
            currency: Some("EUR".into()),
            alert_thresholds: vec![],
        })
        .await
        .expect("set budget")
        .into_inner();
    let mut notifications = server.notifications(user).await;
    let channel_command_id = command_id();
    let channel = notifications
        .add_channel(AddChannelRequest {
            command_id: channel_command_id.clone(),
            kind: ChannelKind::Email.into(),
            target: format!("{name}@example.com"),
            topics: vec![],
        })
        .await
        .expect("add channel")
        .into_inner();
    notifications
        .set_preferences(SetPreferencesRequest {
            command_id: command_id(),
            large_expense_threshold: Some("40".into()),
            monthly_report: None,
        })
        .await
        .expect("set preferences");
    // Watched before the expense that causes it, so the watch sees it arrive.
    let mut watch = notifications.watch_notifications(WatchNotificationsRequest {}).await.expect("watch").into_inner();
    let large = ledger
        .record_movement(RecordMovementRequest {
            command_id: command_id(),
            account_id: account.account_id.clone(),
            direction: Direction::Expense.into(),
            amount: "50".into(),
            occurred_on: "2026-01-20".into(),
            description: format!("{name}'s large expense"),
            counterparty: None,
            category_id: None,
        })
        .await
        .expect("record large expense")
        .into_inner();
    let notification = tokio::time::timeout(NOTIFIED_WITHIN, watch.message())
        .await
        .expect("the large expense was notified in time")
        .expect("watch")
        .expect("a notification");
    assert_eq!(notification.subject_id, large.movement_id);
    let invoice = server
        .invoices(user)
        .await
        .upload_invoice(tokio_stream::iter(upload_parts(&receipt_header())))
        .await
        .expect("upload invoice")
        .into_inner();
    // No reports role runs here, so the report stays pending and Alice's history stays still.
    let report_command_id = command_id();
    let report = server
        .reports(user)
        .await
        .request_report(RequestReportRequest {
            command_id: report_command_id.clone(),
            from: "2026-01-01".into(),
            to: "2026-01-31".into(),
            format: ReportFormat::Pdf.into(),
            account_ids: vec![account.account_id.clone()],
        })
        .await
        .expect("request a report")
        .into_inner();
    Owned {
        report_id: report.report_id,
        report_command_id,
        invoice_id: invoice.invoice_id,
        account_id: account.account_id,
        category_id: category.category_id,
        movement_id: movement.movement_id,
        command_id: account_command,
        channel_id: channel.channel_id,
        channel_command_id,
        notification_id: notification.notification_id,
        position: movement.position.max(invoice.position).max(budget.position).max(large.position).max(report.position),
    }
}

/// A PNG header of 10×10 pixels: enough for an upload to be accepted (no OCR runs here).
fn receipt_header() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend(10u32.to_be_bytes());
    png.extend(10u32.to_be_bytes());
    png.extend([8, 0, 0, 0, 0, 0, 0, 0, 0]);
    png
}

fn upload_parts(bytes: &[u8]) -> Vec<UploadInvoiceRequest> {
    use upload_invoice_request::Part;
    let header = UploadInvoiceHeader {
        command_id: command_id(),
        filename: "r.png".into(),
        content_type: String::new(),
        account_id: None,
    };
    vec![
        UploadInvoiceRequest { part: Some(Part::Header(header)) },
        UploadInvoiceRequest { part: Some(Part::Chunk(bytes.to_vec())) },
    ]
}

/// Everything of `user` in the event store and the read model, as text.
async fn snapshot(pool: &sqlx::PgPool, user: Uuid) -> Vec<String> {
    let mut rows: Vec<String> = sqlx::query(
        "SELECT stream_id || ' v' || version::text || ' ' || event_type AS row FROM events WHERE owner = $1
         ORDER BY position",
    )
    .bind(user)
    .fetch_all(pool)
    .await
    .expect("events")
    .iter()
    .map(|row| row.get("row"))
    .collect();
    rows.extend(support::dump_ledger(pool).await.into_iter().filter(|row| row.contains(&user.to_string())));
    // The notifications read model (the outbox's attempts move on their own, so not them).
    for table in ["notifications", "notification_channels", "notification_preferences", "reports"] {
        let sql = format!("SELECT '{table}: ' || t::text AS row FROM {table} t WHERE owner = $1 ORDER BY t::text");
        let found = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user).fetch_all(pool).await.expect("notifications");
        rows.extend(found.iter().map(|row| row.get::<String, _>("row")));
    }
    rows
}

fn assert_not_found<T: std::fmt::Debug>(rpc: &str, answer: Result<T, tonic::Status>) {
    match answer {
        Err(status) => assert_eq!(status.code(), Code::NotFound, "{rpc}: {status:?}"),
        Ok(answer) => panic!("{rpc} answered another user's id: {answer:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_rpc_reaches_another_users_data() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors,notifications");
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    // Bob watches while Alice's notification is raised, then his own: he must see only his.
    let mut bob_watch = server
        .notifications(bob)
        .await
        .watch_notifications(WatchNotificationsRequest {})
        .await
        .expect("watch")
        .into_inner();
    let a = seed(&server, alice, "alice").await;
    let b = seed(&server, bob, "bob").await;
    let wait = Some(a.position.max(b.position));
    let pool = namespace.pool().await;
    // Both are projected before the snapshot, so the read model does not move under it.
    server
        .query(alice)
        .await
        .get_balances(GetBalancesRequest { min_position: wait, as_of: None })
        .await
        .expect("caught up");
    let before = snapshot(&pool, alice).await;
    assert!(before.len() > 3, "{before:?}");

    let mut ledger = server.ledger(bob).await;
    let mut query = server.query(bob).await;
    let mut audit = server.audit(bob).await;
    let mut invoices = server.invoices(bob).await;
    let mut notifications = server.notifications(bob).await;
    let mut reports = server.reports(bob).await;
    let mut auth = cashflow_proto::v1::auth_service_client::AuthServiceClient::new(server.channel().await);
    let mut covered = BTreeSet::new();
    for rpc in contract_rpcs() {
        let method = rpc.rsplit('/').next().expect("method").to_owned();
        let service = rpc.split('/').next().expect("service").to_owned();
        match (service.as_str(), method.as_str()) {
            ("cashflow.v1.LedgerService", "OpenAccount") => {
                // Alice's command id from Bob is Bob's own new command, not a replay of hers.
                let opened = ledger
                    .open_account(OpenAccountRequest {
                        command_id: a.command_id.clone(),
                        name: "bob's second".into(),
                        currency: "EUR".into(),
                        opening_balance: None,
                    })
                    .await
                    .expect("bob may open an account")
                    .into_inner();
                assert_ne!(opened.account_id, a.account_id, "{rpc} replayed alice's answer to bob");
            }
            ("cashflow.v1.LedgerService", "RecordMovement") => {
                let answer = ledger
                    .record_movement(RecordMovementRequest {
                        command_id: command_id(),
                        account_id: a.account_id.clone(),
                        direction: Direction::Income.into(),
                        amount: "1".into(),
                        occurred_on: "2026-01-16".into(),
                        description: "into alice's account".into(),
                        ..Default::default()
                    })
                    .await;
                assert_not_found(&rpc, answer);
                let answer = ledger
                    .record_movement(RecordMovementRequest {
                        command_id: command_id(),
                        account_id: b.account_id.clone(),
                        direction: Direction::Income.into(),
                        amount: "1".into(),
                        occurred_on: "2026-01-16".into(),
                        description: "with alice's category".into(),
                        category_id: Some(a.category_id.clone()),
                        ..Default::default()
                    })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.LedgerService", "AssignCategory") => {
                let answer = ledger
                    .assign_category(AssignCategoryRequest {
                        command_id: command_id(),
                        movement_id: a.movement_id.clone(),
                        category_id: b.category_id.clone(),
                        expected_version: None,
                    })
                    .await;
                assert_not_found(&rpc, answer);
                let answer = ledger
                    .assign_category(AssignCategoryRequest {
                        command_id: command_id(),
                        movement_id: b.movement_id.clone(),
                        category_id: a.category_id.clone(),
                        expected_version: None,
                    })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.LedgerService", "VoidMovement") => {
                let answer = ledger
                    .void_movement(VoidMovementRequest {
                        command_id: command_id(),
                        movement_id: a.movement_id.clone(),
                        reason: "not mine".into(),
                    })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.LedgerService", "CreateCategory") => {
                let answer = ledger
                    .create_category(CreateCategoryRequest {
                        command_id: command_id(),
                        name: "under alice's".into(),
                        parent_id: Some(a.category_id.clone()),
                    })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.LedgerService", "RenameCategory") => {
                let answer = ledger
                    .rename_category(RenameCategoryRequest {
                        command_id: command_id(),
                        category_id: a.category_id.clone(),
                        name: "renamed by bob".into(),
                    })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.LedgerService", "SetBudget") => {
                let answer = ledger
                    .set_budget(SetBudgetRequest {
                        command_id: command_id(),
                        category_id: a.category_id.clone(),
                        month: Some("2026-01".into()),
                        amount: "1".into(),
                        ..Default::default()
                    })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.LedgerService", "AddCategorizationRule") => {
                let answer = ledger
                    .add_categorization_rule(AddCategorizationRuleRequest {
                        command_id: command_id(),
                        category_id: a.category_id.clone(),
                        description_pattern: Some("lunch".into()),
                        ..Default::default()
                    })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.LedgerService", "ApplyRules") => {
                // Bob's rules (none) over Bob's movements: Alice's are out of reach.
                let applied = ledger
                    .apply_rules(ApplyRulesRequest { command_id: a.command_id.clone(), from: None, to: None })
                    .await
                    .expect("apply rules")
                    .into_inner();
                assert_eq!(applied.movements_categorised, 0, "{rpc}");
            }
            ("cashflow.v1.InvoiceService", "UploadInvoice") => {
                // The same file from Bob is Bob's own invoice, not a view of Alice's.
                let uploaded = invoices
                    .upload_invoice(tokio_stream::iter(upload_parts(&receipt_header())))
                    .await
                    .expect("upload")
                    .into_inner();
                assert_ne!(uploaded.invoice_id, a.invoice_id, "{rpc}");
            }
            ("cashflow.v1.InvoiceService", "UploadInvoiceFile") => {
                // Bob's file into Alice's account: that account does not exist for him.
                let answer = invoices
                    .upload_invoice_file(UploadInvoiceFileRequest {
                        command_id: command_id(),
                        filename: "r.png".into(),
                        content_type: String::new(),
                        account_id: Some(a.account_id.clone()),
                        content: receipt_header(),
                    })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.InvoiceService", "GetInvoice") => {
                let answer = invoices
                    .get_invoice(GetInvoiceRequest { invoice_id: a.invoice_id.clone(), min_position: wait })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.InvoiceService", "ListInvoices") => {
                let listed = invoices
                    .list_invoices(ListInvoicesRequest { min_position: wait, ..Default::default() })
                    .await
                    .expect("list")
                    .into_inner();
                assert!(listed.invoices.iter().all(|i| i.invoice_id != a.invoice_id), "{rpc} listed alice's invoice");
            }
            ("cashflow.v1.InvoiceService", "DownloadInvoice") => {
                let answer =
                    invoices.download_invoice(DownloadInvoiceRequest { invoice_id: a.invoice_id.clone() }).await;
                assert_not_found(&rpc, answer.map(|_| "a stream"));
            }
            ("cashflow.v1.InvoiceService", "CorrectInvoice") => {
                let answer = invoices
                    .correct_invoice(CorrectInvoiceRequest {
                        command_id: command_id(),
                        invoice_id: a.invoice_id.clone(),
                        total: Some("1.00".into()),
                        ..Default::default()
                    })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.QueryService", "ListMovements") => {
                let filtered = query
                    .list_movements(ListMovementsRequest {
                        account_id: Some(a.account_id.clone()),
                        min_position: wait,
                        ..Default::default()
                    })
                    .await;
                match filtered {
                    Ok(list) => assert!(list.into_inner().movements.is_empty(), "{rpc} listed alice's movements"),
                    Err(status) => assert_eq!(status.code(), Code::NotFound, "{rpc}: {status:?}"),
                }
                let all = query
                    .list_movements(ListMovementsRequest { min_position: wait, ..Default::default() })
                    .await
                    .expect("bob lists his own")
                    .into_inner();
                assert!(all.movements.iter().all(|m| m.account_id != a.account_id && m.movement_id != a.movement_id));
                assert!(all.movements.iter().any(|m| m.movement_id == b.movement_id), "bob sees his own");
            }
            ("cashflow.v1.QueryService", "SearchMovements") => {
                // Alice's words, her account as a filter, and no words at all: none of hers.
                for request in [
                    SearchMovementsRequest { query: "alice lunch".into(), min_position: wait, ..Default::default() },
                    SearchMovementsRequest {
                        account_id: Some(a.account_id.clone()),
                        min_position: wait,
                        ..Default::default()
                    },
                    SearchMovementsRequest { query: "lunch".into(), min_position: wait, ..Default::default() },
                ] {
                    let found = query.search_movements(request).await.expect("bob searches").into_inner();
                    assert!(
                        found
                            .hits
                            .iter()
                            .all(|hit| hit.movement.as_ref().map(|m| &m.movement_id) != Some(&a.movement_id)),
                        "{rpc} found alice's movement"
                    );
                    assert!(found.facets.iter().flat_map(|f| &f.categories).all(|c| c.category_id != a.category_id));
                }
                let own = query
                    .search_movements(SearchMovementsRequest {
                        query: "bob".into(),
                        min_position: wait,
                        ..Default::default()
                    })
                    .await
                    .expect("bob searches his own")
                    .into_inner();
                assert!(
                    own.hits.iter().any(|hit| hit.movement.as_ref().map(|m| &m.movement_id) == Some(&b.movement_id))
                );
            }
            ("cashflow.v1.QueryService", "GetBudgets") => {
                let budgets = query
                    .get_budgets(GetBudgetsRequest { month: Some("2026-01".into()), min_position: wait })
                    .await
                    .expect("bob reads his budgets")
                    .into_inner()
                    .budgets;
                assert_eq!(budgets.len(), 1, "{rpc}: bob's own only: {budgets:?}");
                assert_eq!(
                    (budgets[0].category_id.as_str(), budgets[0].spent.as_str()),
                    (b.category_id.as_str(), "12.50")
                );
            }
            ("cashflow.v1.QueryService", "GetMovement") => {
                let answer = query
                    .get_movement(GetMovementRequest { movement_id: a.movement_id.clone(), min_position: wait })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.QueryService", "GetBalances") => {
                let balances = query
                    .get_balances(GetBalancesRequest { min_position: wait, as_of: None })
                    .await
                    .expect("balances")
                    .into_inner();
                assert!(balances.balances.iter().all(|balance| balance.account_id != a.account_id), "{rpc}");
                assert!(balances.balances.iter().any(|balance| balance.account_id == b.account_id));
                // As of a day, folded from the store: still only Bob's history.
                let as_of = query
                    .get_balances(GetBalancesRequest { min_position: None, as_of: Some("2026-01-31".into()) })
                    .await
                    .expect("balances as of a day")
                    .into_inner();
                let ids: Vec<_> = as_of.balances.iter().map(|balance| balance.account_id.as_str()).collect();
                assert!(!ids.contains(&a.account_id.as_str()), "{rpc} as_of showed alice's account to bob");
                assert!(ids.contains(&b.account_id.as_str()), "{rpc} as_of: bob's own account missing");
            }
            ("cashflow.v1.QueryService", "GetCategorySummary") => {
                let rows = query
                    .get_category_summary(GetCategorySummaryRequest { from: None, to: None, min_position: wait })
                    .await
                    .expect("summary")
                    .into_inner()
                    .rows;
                assert!(rows.iter().all(|row| row.category_id != a.category_id), "{rpc}");
            }
            ("cashflow.v1.QueryService", "ListCategories") => {
                let categories = query
                    .list_categories(ListCategoriesRequest { min_position: wait })
                    .await
                    .expect("categories")
                    .into_inner()
                    .categories;
                assert!(categories.iter().all(|category| category.category_id != a.category_id), "{rpc}");
                assert!(categories.iter().any(|category| category.category_id == b.category_id));
            }
            ("cashflow.v1.AuditService", "ReadStream") => {
                for stream_id in [format!("movement-{}", a.movement_id), format!("account-{}", a.account_id)] {
                    let answer = match audit.read_stream(ReadStreamRequest { stream_id: stream_id.clone() }).await {
                        Ok(stream) => {
                            let mut stream = stream.into_inner();
                            stream.message().await
                        }
                        Err(status) => Err(status),
                    };
                    assert_not_found(&format!("{rpc} {stream_id}"), answer);
                }
            }
            ("cashflow.v1.AuditService", "VerifyStream") => {
                let answer =
                    audit.verify_stream(VerifyStreamRequest { stream_id: format!("movement-{}", a.movement_id) }).await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.NotificationService", "AddChannel") => {
                // Alice's command id from Bob is Bob's own new channel, not a replay of hers.
                let added = notifications
                    .add_channel(AddChannelRequest {
                        command_id: a.channel_command_id.clone(),
                        kind: ChannelKind::Email.into(),
                        target: "bob.second@example.com".into(),
                        topics: vec![],
                    })
                    .await
                    .expect("bob may add a channel")
                    .into_inner();
                assert_ne!(added.channel_id, a.channel_id, "{rpc} replayed alice's answer to bob");
            }
            ("cashflow.v1.NotificationService", "RemoveChannel") => {
                let answer = notifications
                    .remove_channel(RemoveChannelRequest { command_id: command_id(), channel_id: a.channel_id.clone() })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.NotificationService", "ListChannels") => {
                let listed = notifications
                    .list_channels(ListChannelsRequest { min_position: Some(b.position) })
                    .await
                    .expect("list channels")
                    .into_inner();
                let ids: Vec<_> = listed.channels.iter().map(|c| c.channel_id.as_str()).collect();
                assert!(ids.contains(&b.channel_id.as_str()), "{rpc}: bob's own channel missing from {ids:?}");
                assert!(!ids.contains(&a.channel_id.as_str()), "{rpc} listed alice's channel to bob");
            }
            ("cashflow.v1.NotificationService", "SetPreferences") => {
                // Bob's preferences only: Alice's threshold is in the snapshot compared below.
                notifications
                    .set_preferences(SetPreferencesRequest {
                        command_id: a.command_id.clone(),
                        large_expense_threshold: Some("1".into()),
                        monthly_report: Some(true),
                    })
                    .await
                    .expect("bob may set his preferences");
            }
            ("cashflow.v1.NotificationService", "ListNotifications") => {
                let listed = notifications
                    .list_notifications(ListNotificationsRequest {
                        min_position: Some(b.position),
                        ..Default::default()
                    })
                    .await
                    .expect("list notifications")
                    .into_inner();
                let ids: Vec<_> = listed.notifications.iter().map(|n| n.notification_id.as_str()).collect();
                assert!(ids.contains(&b.notification_id.as_str()), "{rpc}: bob's own missing from {ids:?}");
                assert!(!ids.contains(&a.notification_id.as_str()), "{rpc} listed alice's notification to bob");
            }
            ("cashflow.v1.NotificationService", "WatchNotifications") => {
                let first = tokio::time::timeout(NOTIFIED_WITHIN, bob_watch.message())
                    .await
                    .expect("bob's notification reached his watch")
                    .expect("watch")
                    .expect("a notification");
                assert_eq!(first.notification_id, b.notification_id, "{rpc} sent bob another's notification");
            }
            ("cashflow.v1.NotificationService", "MarkRead") => {
                let answer = notifications
                    .mark_read(MarkReadRequest {
                        command_id: command_id(),
                        notification_ids: vec![a.notification_id.clone()],
                    })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.ReportService", "RequestReport") => {
                // Alice's command id from Bob is Bob's own new report, not a replay of hers; her
                // account is not one he may report on, and is refused like one that does not exist.
                let requested = reports
                    .request_report(RequestReportRequest {
                        command_id: a.report_command_id.clone(),
                        from: "2026-01-01".into(),
                        to: "2026-01-31".into(),
                        format: ReportFormat::Csv.into(),
                        account_ids: vec![],
                    })
                    .await
                    .expect("bob may request a report")
                    .into_inner();
                assert_ne!(requested.report_id, a.report_id, "{rpc} replayed alice's answer to bob");
                let hers = reports
                    .request_report(RequestReportRequest {
                        command_id: command_id(),
                        from: "2026-01-01".into(),
                        to: "2026-01-31".into(),
                        format: ReportFormat::Csv.into(),
                        account_ids: vec![a.account_id.clone()],
                    })
                    .await
                    .expect_err("a report on alice's account");
                let unknown = reports
                    .request_report(RequestReportRequest {
                        command_id: command_id(),
                        from: "2026-01-01".into(),
                        to: "2026-01-31".into(),
                        format: ReportFormat::Csv.into(),
                        account_ids: vec![Uuid::now_v7().to_string()],
                    })
                    .await
                    .expect_err("a report on an account that does not exist");
                assert_eq!(field(&hers), "account_ids", "{rpc}: {hers:?}");
                assert_eq!(
                    (hers.code(), hers.message().replace(&a.account_id, "<id>")),
                    (unknown.code(), unknown.message().replace(&unknown_id(&unknown), "<id>")),
                    "{rpc} tells alice's account from one that does not exist"
                );
            }
            ("cashflow.v1.ReportService", "GetReport") => {
                let answer = reports
                    .get_report(GetReportRequest { report_id: a.report_id.clone(), min_position: Some(b.position) })
                    .await;
                assert_not_found(&rpc, answer);
            }
            ("cashflow.v1.ReportService", "ListReports") => {
                let listed = reports
                    .list_reports(ListReportsRequest { min_position: Some(b.position), ..Default::default() })
                    .await
                    .expect("list reports")
                    .into_inner();
                let ids: Vec<_> = listed.reports.iter().map(|r| r.report_id.as_str()).collect();
                assert!(ids.contains(&b.report_id.as_str()), "{rpc}: bob's own report missing from {ids:?}");
                assert!(!ids.contains(&a.report_id.as_str()), "{rpc} listed alice's report to bob");
            }
            ("cashflow.v1.ReportService", "DownloadReport") => {
                let answer = reports.download_report(DownloadReportRequest { report_id: a.report_id.clone() }).await;
                assert_not_found(&rpc, answer.map(|_| ()));
            }
            // AuthService takes no resource ids: credentials and refresh tokens are the
            // authority. What one user holds must not work as another's.
            ("cashflow.v1.AuthService", "Register") => {
                let registered = auth
                    .register(RegisterRequest {
                        email: "bob@example.com".into(),
                        password: "orange-kettle-sings".into(),
                        display_name: "Bob".into(),
                    })
                    .await
                    .expect("register")
                    .into_inner();
                assert_ne!(registered.user_id, alice.to_string());
            }
            ("cashflow.v1.AuthService", "Login") => {
                let answer = auth
                    .login(LoginRequest { email: "bob@example.com".into(), password: "alice's password".into() })
                    .await;
                assert_eq!(answer.unwrap_err().code(), Code::Unauthenticated, "{rpc}");
            }
            ("cashflow.v1.AuthService", "Refresh") => {
                // An access token is not a refresh token.
                let answer = auth.refresh(RefreshRequest { refresh_token: token(alice) }).await;
                assert_eq!(answer.unwrap_err().code(), Code::Unauthenticated, "{rpc}");
            }
            ("cashflow.v1.AuthService", "Logout") => {
                let answer = auth.logout(LogoutRequest { refresh_token: token(alice) }).await;
                assert_eq!(answer.unwrap_err().code(), Code::Unauthenticated, "{rpc}");
            }
            _ => panic!("{rpc} has no cross-user case in this test: add one"),
        }
        covered.insert(rpc);
    }
    assert!(covered.len() >= 38, "the descriptor set lists too few RPCs: {covered:?}");

    // Let the projector apply whatever Bob's calls appended, then compare Alice's world.
    let caught_up = server.query(bob).await.get_balances(GetBalancesRequest { min_position: None, as_of: None }).await;
    assert!(caught_up.is_ok());
    let head: i64 = sqlx::query("SELECT COALESCE(max(position), 0) AS head FROM events")
        .fetch_one(&pool)
        .await
        .expect("head")
        .get("head");
    server
        .query(bob)
        .await
        .get_balances(GetBalancesRequest { min_position: Some(u64::try_from(head).expect("positive")), as_of: None })
        .await
        .expect("projected");
    assert_eq!(snapshot(&pool, alice).await, before, "another user's calls changed alice's data");
    pool.close().await;
}

/// The account id an "is not one of your accounts" message names.
fn unknown_id(status: &tonic::Status) -> String {
    status.message().split_whitespace().find(|word| Uuid::parse_str(word).is_ok()).unwrap_or_default().to_owned()
}

/// The field a BadRequest detail names.
fn field(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status.get_details_bad_request().expect("BadRequest").field_violations[0].field.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_input_gets_clean_errors_and_stores_nothing() {
    let namespace = Namespace::new();
    let server = Server::start_with(CASHFLOW, &namespace, "api", &[("CASHFLOW_MAX_MESSAGE_BYTES", "65536")]);
    let user = Uuid::now_v7();
    let mut ledger = server.ledger(user).await;
    let account = open_account(&mut ledger, "Main").await;
    let pool = namespace.pool().await;
    let count = || async {
        sqlx::query("SELECT count(*) AS n FROM events").fetch_one(&pool).await.expect("count").get::<i64, _>("n")
    };
    let stored = count().await;
    let movement = |description: String, amount: &str| RecordMovementRequest {
        command_id: command_id(),
        account_id: account.account_id.clone(),
        direction: Direction::Expense.into(),
        amount: amount.into(),
        occurred_on: "2026-01-15".into(),
        description,
        ..Default::default()
    };

    // Over the configured message size: RESOURCE_EXHAUSTED before any handler runs.
    let oversized = ledger.record_movement(movement("x".repeat(70_000), "1")).await.unwrap_err();
    assert_eq!(oversized.code(), Code::ResourceExhausted, "{oversized:?}");
    // A NUL byte, 16 KiB of unicode, 40-digit decimals: INVALID_ARGUMENT naming the field.
    let nul = ledger.record_movement(movement("lunch\0; DROP TABLE events".into(), "1")).await.unwrap_err();
    assert_eq!(field(&nul), "description");
    let unicode = ledger.record_movement(movement("€😀ü".repeat(16 * 1024 / 9 + 1), "1")).await.unwrap_err();
    assert_eq!(field(&unicode), "description");
    for amount in
        ["1234567890123456789012345678901234567890", "0.1234567890123456789012345678901234567890", "1e3", "-0"]
    {
        let status = ledger.record_movement(movement("ok".into(), amount)).await.unwrap_err();
        assert_eq!(field(&status), "amount", "{amount}");
    }
    let name = ledger
        .open_account(OpenAccountRequest {
            command_id: command_id(),
            name: "x\u{0}".into(),
            currency: "EUR".into(),
            opening_balance: Some("9".repeat(40)),
        })
        .await
        .unwrap_err();
    assert_eq!(name.code(), Code::InvalidArgument);
    let bad_id = ledger
        .void_movement(VoidMovementRequest {
            command_id: "' OR 1=1 --".into(),
            movement_id: "x".into(),
            reason: "r".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_id.code(), Code::InvalidArgument);

    // Bytes that are no protobuf message at all, through grpc-web (a socket, not tonic).
    let bearer = format!("Bearer {}", token(user));
    for garbage in [vec![0xff, 0xff, 0xff], vec![0x0a, 0x80], vec![0x12, 0x02, 0xc3, 0x28]] {
        let response = post(
            &server.addr,
            "/cashflow.v1.LedgerService/RecordMovement",
            &[("authorization", &bearer)],
            &frame(0, &garbage),
        )
        .await;
        assert_eq!(response.grpc_status(), Some(3), "{garbage:?}: {response:?}");
    }
    assert_eq!(count().await, stored, "a refused request stored something");

    // SQL-looking text is just text: stored verbatim, and the tables are still there.
    let sql = "Robert'); DROP TABLE events; --";
    let recorded =
        ledger.record_movement(movement(sql.into(), "1.5")).await.expect("sql-looking text is data").into_inner();
    let payload: String = sqlx::query("SELECT payload::text AS p FROM events WHERE stream_id = $1")
        .bind(format!("movement-{}", recorded.movement_id))
        .fetch_one(&pool)
        .await
        .expect("the event")
        .get("p");
    assert!(payload.contains("Robert'); DROP TABLE events; --"), "{payload}");
    assert_eq!(count().await, stored + 1);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_cut_at_the_configured_timeout() {
    let namespace = Namespace::new();
    let server = Server::start_with(CASHFLOW, &namespace, "api", &[("CASHFLOW_CALL_TIMEOUT_SECS", "1")]);
    // Without projectors the read model never reaches a committed position: the query would
    // wait its own 5 s and answer DEADLINE_EXCEEDED; the server's 1 s call timeout cuts it first.
    let user = Uuid::now_v7();
    let opened = open_account(&mut server.ledger(user).await, "Main").await;
    let status = server
        .query(user)
        .await
        .get_balances(GetBalancesRequest { min_position: Some(opened.position), as_of: None })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    assert!(status.message().contains("Timeout"), "{status:?}");
}

/// A hostile stream id is refused before it reaches the logs: the audit span used to carry the
/// raw field (up to the 4 MiB message limit) into every log line of the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_huge_stream_id_is_refused_without_being_logged() {
    let namespace = Namespace::new();
    let server = Server::start_capturing_logs(CASHFLOW, &namespace, "api", &[("RUST_LOG", "info")]);
    let junk = format!("movement-{}", "x".repeat(512 * 1024));
    let mut audit = server.audit(Uuid::now_v7()).await;
    let read = audit.read_stream(ReadStreamRequest { stream_id: junk.clone() }).await.expect_err("junk is refused");
    assert_eq!(field(&read), "stream_id");
    let verify = audit.verify_stream(VerifyStreamRequest { stream_id: junk }).await.expect_err("junk is refused");
    assert_eq!(field(&verify), "stream_id");

    let logs = server.logs();
    assert!(!logs.iter().any(|line| line.contains(&"x".repeat(64))), "the junk was logged");
    let logged: usize = logs.iter().map(String::len).sum();
    assert!(logged < 64 * 1024, "{logged} bytes of logs for two refused calls");
}
