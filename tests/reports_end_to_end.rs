//! Reports and time travel end to end, against the real binary, PostgreSQL, NATS, the filesystem
//! blob store and poppler: a report is the ledger as it stood at its request (a movement
//! recorded later is absent), its CSV has one row per live movement of the period and its sums
//! equal GetCategorySummary's to the cent, its PDF's text holds the totals and every category
//! and its first page is not blank; balances as of a day are a fold of the history up to it; a
//! worker killed mid-render settles the report once; bad input is refused naming its field.

mod support;

use cashflow_proto::v1::*;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;
use support::{Authed, CASHFLOW, Namespace, Server, command_id};
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

type Ledger = ledger_service_client::LedgerServiceClient<Authed>;
type Reports = report_service_client::ReportServiceClient<Authed>;

/// How long a report may take from its request to READY; generous, as CI machines are slow and
/// the tests run side by side. Render times are measured in BENCHMARKS.md, not here.
const WITHIN: Duration = Duration::from_secs(90);

fn decimal(raw: &str) -> Decimal {
    raw.parse().unwrap_or_else(|_| panic!("{raw:?} is a decimal"))
}

async fn account(ledger: &mut Ledger, name: &str, opening: Option<&str>) -> OpenAccountResponse {
    ledger
        .open_account(OpenAccountRequest {
            command_id: command_id(),
            name: name.into(),
            currency: "EUR".into(),
            opening_balance: opening.map(str::to_owned),
        })
        .await
        .expect("open an account")
        .into_inner()
}

async fn category(ledger: &mut Ledger, name: &str, parent_id: Option<&str>) -> String {
    ledger
        .create_category(CreateCategoryRequest {
            command_id: command_id(),
            name: name.into(),
            parent_id: parent_id.map(str::to_owned),
        })
        .await
        .expect("create a category")
        .into_inner()
        .category_id
}

/// A movement as the test expects to find it in a report.
#[derive(Debug, Clone)]
struct Expected {
    movement_id: String,
    account: &'static str,
    direction: &'static str,
    amount: Decimal,
    date: String,
    /// The leaf category's name, "" when none.
    category: &'static str,
    description: String,
    position: u64,
}

struct Recorder<'a> {
    ledger: &'a mut Ledger,
    recorded: Vec<Expected>,
}

impl Recorder<'_> {
    #[allow(clippy::too_many_arguments)]
    async fn record(
        &mut self,
        (account_id, account): (&str, &'static str),
        income: bool,
        amount: &str,
        date: &str,
        description: &str,
        counterparty: Option<&str>,
        (category_id, category): (Option<&str>, &'static str),
    ) -> Expected {
        let direction = if income { Direction::Income } else { Direction::Expense };
        let recorded = self
            .ledger
            .record_movement(RecordMovementRequest {
                command_id: command_id(),
                account_id: account_id.to_owned(),
                direction: direction.into(),
                amount: amount.to_owned(),
                occurred_on: date.to_owned(),
                description: description.to_owned(),
                counterparty: counterparty.map(str::to_owned),
                category_id: category_id.map(str::to_owned),
            })
            .await
            .expect("record a movement")
            .into_inner();
        let expected = Expected {
            movement_id: recorded.movement_id,
            account,
            direction: if income { "income" } else { "expense" },
            amount: decimal(amount),
            date: date.to_owned(),
            category,
            description: description.to_owned(),
            position: recorded.position,
        };
        self.recorded.push(expected.clone());
        expected
    }
}

async fn request(reports: &mut Reports, format: ReportFormat, account_ids: Vec<String>) -> RequestReportResponse {
    reports
        .request_report(RequestReportRequest {
            command_id: command_id(),
            from: "2026-01-01".into(),
            to: "2026-03-31".into(),
            format: format.into(),
            account_ids,
        })
        .await
        .expect("request a report")
        .into_inner()
}

/// The report once the worker has settled it; panics unless it is READY.
async fn ready(reports: &mut Reports, requested: &RequestReportResponse) -> Report {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let report = reports
            .get_report(GetReportRequest {
                report_id: requested.report_id.clone(),
                min_position: Some(requested.position),
            })
            .await
            .expect("get the report")
            .into_inner()
            .report
            .expect("a report");
        match report.status() {
            ReportStatus::Ready => return report,
            ReportStatus::Pending => {}
            other => panic!("the report ended {other:?}: {report:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "the report was not ready in time: {report:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn download(reports: &mut Reports, report_id: &str) -> Vec<u8> {
    let mut stream = reports
        .download_report(DownloadReportRequest { report_id: report_id.to_owned() })
        .await
        .expect("download")
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(part) = stream.message().await.expect("a chunk") {
        bytes.extend(part.chunk);
    }
    bytes
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A file's bytes checked against what GetReport says of them.
fn assert_matches(report: &Report, bytes: &[u8]) {
    assert_eq!(report.size_bytes, bytes.len() as u64, "size_bytes");
    assert_eq!(report.sha256, hex_sha256(bytes), "sha256");
}

/// `pdftotext -layout` of a PDF.
fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, pdf).expect("write the PDF");
    let out = Command::new("pdftotext").arg("-layout").arg(&path).arg("-").output().expect("run pdftotext");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 text")
}

/// The share of page 1's pixels that are not white, rendered by pdftoppm in grey.
fn inked_share_of_page_one(pdf: &[u8]) -> f64 {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, pdf).expect("write the PDF");
    let prefix = dir.path().join("page");
    let status = Command::new("pdftoppm")
        .args(["-r", "40", "-f", "1", "-l", "1", "-gray"])
        .arg(&path)
        .arg(&prefix)
        .status()
        .expect("run pdftoppm");
    assert!(status.success(), "pdftoppm failed");
    let page = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "pgm"))
        .expect("a PGM page");
    let pgm = std::fs::read(page).expect("read the page");
    // Binary PGM: "P5", width, height, maxval, each followed by whitespace, then the pixels.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&pgm[start..at]).into_owned());
    }
    assert_eq!(fields[0], "P5", "a binary greymap");
    let (width, height): (usize, usize) = (fields[1].parse().expect("width"), fields[2].parse().expect("height"));
    let pixels = &pgm[at + 1..];
    assert_eq!(pixels.len(), width * height, "one byte a pixel");
    pixels.iter().filter(|&&grey| grey < 200).count() as f64 / pixels.len() as f64
}

/// Sums by (month, leaf category name, direction, currency).
type Sums = BTreeMap<(String, String, String, String), Decimal>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_is_the_ledger_as_it_stood_when_it_was_requested() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors,categoriser,reports");
    let user = Uuid::now_v7();
    let mut ledger = server.ledger(user).await;
    let checking = account(&mut ledger, "Checking", Some("1000")).await;
    let savings = account(&mut ledger, "Savings", None).await;
    let food = category(&mut ledger, "Food", None).await;
    let groceries = category(&mut ledger, "Groceries", Some(&food)).await;
    let transport = category(&mut ledger, "Transport", None).await;
    let salary = category(&mut ledger, "Salary", None).await;
    let (c, s) = ((checking.account_id.as_str(), "Checking"), (savings.account_id.as_str(), "Savings"));

    let mut recorder = Recorder { ledger: &mut ledger, recorded: Vec::new() };
    recorder.record(c, true, "2450.00", "2026-01-31", "January salary", Some("ACME"), (Some(&salary), "Salary")).await;
    recorder
        .record(
            c,
            false,
            "54.37",
            "2026-01-05",
            "Mercadona weekly shop",
            Some("Mercadona"),
            (Some(&groceries), "Groceries"),
        )
        .await;
    recorder
        .record(
            c,
            false,
            "12.50",
            "2026-01-07",
            "Café con leche, \"grande\"",
            Some("Café Central"),
            (Some(&food), "Food"),
        )
        .await;
    recorder.record(c, false, "40.00", "2026-02-02", "Metro card", None, (Some(&transport), "Transport")).await;
    recorder.record(c, false, "0.01", "2026-02-14", "Bank fee", Some("Bank"), (None, "")).await;
    let voided = recorder.record(c, false, "999.99", "2026-02-20", "Typo", None, (None, "")).await;
    let recategorised = recorder.record(c, false, "23.10", "2026-03-03", "Lidl", Some("Lidl"), (None, "")).await;
    recorder.record(s, true, "300", "2026-03-01", "Transfer to savings", None, (None, "")).await;
    recorder
        .record(c, false, "75.00", "2026-04-02", "April groceries", Some("Mercadona"), (Some(&groceries), "Groceries"))
        .await;
    recorder.record(c, false, "5.00", "2025-12-31", "New Year's Eve", None, (Some(&food), "Food")).await;
    let mut recorded = recorder.recorded;
    let voiding = ledger
        .void_movement(VoidMovementRequest {
            command_id: command_id(),
            movement_id: voided.movement_id.clone(),
            reason: "typo".into(),
        })
        .await
        .expect("void")
        .into_inner();
    let assigned = ledger
        .assign_category(AssignCategoryRequest {
            command_id: command_id(),
            movement_id: recategorised.movement_id.clone(),
            category_id: groceries.clone(),
            expected_version: None,
        })
        .await
        .expect("assign")
        .into_inner();
    for movement in recorded.iter_mut().filter(|m| m.movement_id == recategorised.movement_id) {
        movement.category = "Groceries";
    }
    let last = voiding.position.max(assigned.position).max(recorded.iter().map(|m| m.position).max().unwrap_or(0));

    // What the read model says of the same months before anything else is recorded.
    let mut query = server.query(user).await;
    let summary = query
        .get_category_summary(GetCategorySummaryRequest {
            from: Some("2026-01".into()),
            to: Some("2026-03".into()),
            min_position: Some(last),
        })
        .await
        .expect("category summary")
        .into_inner()
        .rows;

    let mut reports = server.reports(user).await;
    let csv_request = request(&mut reports, ReportFormat::Csv, vec![]).await;
    let pdf_request = request(&mut reports, ReportFormat::Pdf, vec![]).await;
    let savings_request = request(&mut reports, ReportFormat::Csv, vec![savings.account_id.clone()]).await;
    // Recorded after the requests, inside their period: no report may show it.
    let late = ledger
        .record_movement(RecordMovementRequest {
            command_id: command_id(),
            account_id: checking.account_id.clone(),
            direction: Direction::Expense.into(),
            amount: "777.77".into(),
            occurred_on: "2026-02-10".into(),
            description: "Recorded after the request".into(),
            counterparty: None,
            category_id: Some(food.clone()),
        })
        .await
        .expect("record late")
        .into_inner();

    let in_period: Vec<&Expected> = recorded
        .iter()
        .filter(|m| m.movement_id != voided.movement_id && ("2026-01-01".."2026-04-01").contains(&m.date.as_str()))
        .collect();

    // CSV: a header, then one row per live movement of the period, and nothing else.
    let report = ready(&mut reports, &csv_request).await;
    assert_eq!(report.format(), ReportFormat::Csv);
    assert_eq!((report.from.as_str(), report.to.as_str()), ("2026-01-01", "2026-03-31"));
    assert!(report.as_of_position < late.position, "the report stands before the late movement");
    assert!(report.ready_at.is_some() && report.created_at.is_some());
    let csv = download(&mut reports, &report.report_id).await;
    assert_matches(&report, &csv);
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let header: Vec<String> = reader.headers().expect("a header").iter().map(str::to_owned).collect();
    assert_eq!(
        header,
        [
            "date",
            "account",
            "direction",
            "amount",
            "currency",
            "category",
            "description",
            "counterparty",
            "movement_id"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|row| row.expect("an RFC 4180 row")).collect();
    let ids: BTreeSet<&str> = rows.iter().map(|row| &row[8]).collect();
    let expected_ids: BTreeSet<&str> = in_period.iter().map(|m| m.movement_id.as_str()).collect();
    assert_eq!(ids, expected_ids, "one row per live movement of the period");
    assert_eq!(rows.len(), in_period.len(), "no movement twice");
    assert!(!ids.contains(late.movement_id.as_str()), "the movement recorded after the request is absent");
    let mut csv_sums = Sums::new();
    for row in &rows {
        let expected = in_period.iter().find(|m| m.movement_id == row[8]).expect("an expected movement");
        assert_eq!(&row[0], expected.date, "date");
        assert_eq!(&row[1], expected.account, "account");
        assert_eq!(&row[2], expected.direction, "direction");
        assert_eq!(decimal(&row[3]), expected.amount, "amount {}", &row[3]);
        assert!(!row[3].contains(['e', 'E', ',']), "a plain decimal: {}", &row[3]);
        assert_eq!(&row[4], "EUR");
        assert_eq!(row[5].rsplit(" / ").next().unwrap_or_default(), expected.category, "category {}", &row[5]);
        assert_eq!(&row[6], expected.description, "description, quotes and commas included");
        let key = (row[0][..7].to_owned(), expected.category.to_owned(), row[2].to_owned(), row[4].to_owned());
        *csv_sums.entry(key).or_default() += decimal(&row[3]);
    }
    // Every total equals what GetCategorySummary answers for the same months, to the cent.
    let mut summary_sums = Sums::new();
    for row in &summary {
        let direction = if row.direction() == Direction::Income { "income" } else { "expense" };
        let key = (row.month.clone(), row.category_name.clone(), direction.to_owned(), row.currency.clone());
        *summary_sums.entry(key).or_default() += decimal(&row.total);
    }
    assert_eq!(csv_sums, summary_sums, "the report's sums are the read model's");

    // A report on one account holds that account's movements only.
    let report = ready(&mut reports, &savings_request).await;
    let savings_csv = download(&mut reports, &report.report_id).await;
    let rows: Vec<csv::StringRecord> =
        csv::Reader::from_reader(savings_csv.as_slice()).records().map(|row| row.expect("a row")).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][1], "Savings");

    // PDF: the totals and every category in its text; page 1 has something on it.
    let report = ready(&mut reports, &pdf_request).await;
    assert_eq!(report.format(), ReportFormat::Pdf);
    let pdf = download(&mut reports, &report.report_id).await;
    assert_matches(&report, &pdf);
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    let text = pdf_text(&pdf);
    let total =
        |direction: &str| in_period.iter().filter(|m| m.direction == direction).map(|m| m.amount).sum::<Decimal>();
    let (income, expense) = (total("income"), total("expense"));
    for figure in [income, expense, income - expense] {
        let shown = cashflow_reports::render::format::amount(figure, "EUR");
        assert!(text.contains(&shown), "the PDF shows {shown}:\n{text}");
    }
    for name in ["Food", "Groceries", "Transport", "Salary", "Uncategorised"] {
        assert!(text.contains(name), "the PDF names the category {name}");
    }
    assert!(text.contains("Mercadona weekly shop"), "the appendix lists the movements");
    assert!(!text.contains("Recorded after the request"), "the late movement is absent from the PDF");
    assert!(!text.contains("Typo"), "a voided movement is absent from the PDF");
    let inked = inked_share_of_page_one(&pdf);
    assert!(inked > 0.01, "page 1 is blank ({inked})");

    // Listed newest first.
    let listed = reports
        .list_reports(ListReportsRequest { min_position: Some(late.position), ..Default::default() })
        .await
        .expect("list reports")
        .into_inner();
    let ids: Vec<&str> = listed.reports.iter().map(|r| r.report_id.as_str()).collect();
    assert_eq!(ids, [&savings_request.report_id, &pdf_request.report_id, &csv_request.report_id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn balances_as_of_a_day_are_a_fold_of_the_history_up_to_it() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors");
    let user = Uuid::now_v7();
    let mut ledger = server.ledger(user).await;
    let checking = account(&mut ledger, "Checking", Some("500")).await;
    let opened_on = chrono::Utc::now().date_naive();
    let c = (checking.account_id.as_str(), "Checking");
    let mut recorder = Recorder { ledger: &mut ledger, recorded: Vec::new() };
    for (income, amount, date) in [
        (false, "20.25", "2026-01-10"),
        (true, "1000", "2026-01-31"),
        (false, "300.10", "2026-02-01"),
        (false, "0.01", "2026-02-01"),
        (false, "45", "2026-03-15"),
    ] {
        recorder.record(c, income, amount, date, "a movement", None, (None, "")).await;
    }
    let voided = recorder.record(c, false, "5000", "2026-02-01", "voided", None, (None, "")).await;
    let recorded = recorder.recorded;
    ledger
        .void_movement(VoidMovementRequest {
            command_id: command_id(),
            movement_id: voided.movement_id.clone(),
            reason: "never happened".into(),
        })
        .await
        .expect("void");

    let mut query = server.query(user).await;
    for day in ["2025-12-31", "2026-01-10", "2026-01-31", "2026-02-01", "2026-03-14", "2026-03-15", "2030-01-01"] {
        let date = cashflow_domain::date::parse_date("day", day).expect("a date");
        let opening = if opened_on <= date { decimal("500") } else { Decimal::ZERO };
        let expected = recorded
            .iter()
            .filter(|m| m.movement_id != voided.movement_id && m.date.as_str() <= day)
            .fold(opening, |sum, m| if m.direction == "income" { sum + m.amount } else { sum - m.amount });
        let balances = query
            .get_balances(GetBalancesRequest { min_position: None, as_of: Some(day.into()) })
            .await
            .expect("balances as of a day")
            .into_inner()
            .balances;
        assert_eq!(balances.len(), 1, "{day}");
        assert_eq!(balances[0].account_id, checking.account_id);
        assert_eq!(decimal(&balances[0].balance), expected, "{day}: {}", balances[0].balance);
    }
    // Far enough ahead, the fold agrees with the read model's current balance.
    let head: i64 = sqlx::query("SELECT max(position) AS head FROM events")
        .fetch_one(&namespace.pool().await)
        .await
        .expect("head")
        .get("head");
    let now = query
        .get_balances(GetBalancesRequest { min_position: Some(head as u64), as_of: None })
        .await
        .expect("balances")
        .into_inner()
        .balances;
    let ahead = query
        .get_balances(GetBalancesRequest { min_position: None, as_of: Some("2099-12-31".into()) })
        .await
        .expect("balances ahead")
        .into_inner()
        .balances;
    assert_eq!(now, ahead, "the fold and the read model agree");
}

/// The field a BadRequest detail names.
fn field(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status.get_details_bad_request().expect("BadRequest").field_violations[0].field.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_refused_naming_the_field_and_stores_nothing() {
    let namespace = Namespace::new();
    // No reports role: a report stays pending.
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors");
    let user = Uuid::now_v7();
    let mut ledger = server.ledger(user).await;
    let checking = account(&mut ledger, "Checking", None).await;
    let mut reports = server.reports(user).await;
    let pending = request(&mut reports, ReportFormat::Pdf, vec![checking.account_id.clone()]).await;
    let pool = namespace.pool().await;
    let count = |pool: sqlx::PgPool| async move {
        let row = sqlx::query("SELECT count(*) AS n FROM events").fetch_one(&pool).await.expect("count");
        row.get::<i64, _>("n")
    };
    let before = count(pool.clone()).await;

    let valid = || RequestReportRequest {
        command_id: command_id(),
        from: "2026-01-01".into(),
        to: "2026-03-31".into(),
        format: ReportFormat::Csv.into(),
        account_ids: vec![],
    };
    let cases: Vec<(RequestReportRequest, &str)> = vec![
        (RequestReportRequest { from: "2026-04-01".into(), ..valid() }, "to"),
        (RequestReportRequest { to: "2000-01-01".into(), from: "2026-01-01".into(), ..valid() }, "to"),
        (RequestReportRequest { from: "1990-01-01".into(), ..valid() }, "to"),
        (RequestReportRequest { from: "2026-02-30".into(), ..valid() }, "from"),
        (RequestReportRequest { to: "march".into(), ..valid() }, "to"),
        (RequestReportRequest { format: ReportFormat::Unspecified.into(), ..valid() }, "format"),
        (RequestReportRequest { format: 42, ..valid() }, "format"),
        (RequestReportRequest { account_ids: vec![Uuid::now_v7().to_string()], ..valid() }, "account_ids"),
        (RequestReportRequest { account_ids: vec!["not-a-uuid".into()], ..valid() }, "account_ids"),
        (RequestReportRequest { command_id: "x".into(), ..valid() }, "command_id"),
    ];
    for (request, expected) in cases {
        let refused = reports.request_report(request.clone()).await.expect_err("refused");
        assert_eq!(field(&refused), expected, "{request:?}");
    }
    let refused = reports
        .get_report(GetReportRequest { report_id: "nope".into(), min_position: None })
        .await
        .expect_err("a malformed id");
    assert_eq!(field(&refused), "report_id");
    let refused = reports
        .list_reports(ListReportsRequest { page_token: "garbage".into(), ..Default::default() })
        .await
        .expect_err("a forged page token");
    assert_eq!(field(&refused), "page_token");
    let refused = server
        .query(user)
        .await
        .get_balances(GetBalancesRequest { min_position: None, as_of: Some("2026-13-01".into()) })
        .await
        .expect_err("a month that does not exist");
    assert_eq!(field(&refused), "as_of");
    let unknown = reports
        .get_report(GetReportRequest { report_id: Uuid::now_v7().to_string(), min_position: None })
        .await
        .expect_err("an unknown report");
    assert_eq!(unknown.code(), Code::NotFound);
    let not_ready = reports
        .download_report(DownloadReportRequest { report_id: pending.report_id.clone() })
        .await
        .expect_err("a pending report has no file");
    assert_eq!(not_ready.code(), Code::FailedPrecondition, "{not_ready:?}");
    assert_eq!(count(pool.clone()).await, before, "a refused request stored nothing");
    pool.close().await;
}

/// Writes `count` expenses for `owner` straight into the store, so a render takes a while.
async fn seed_history(pool: &sqlx::PgPool, owner: Uuid, account_id: &str, count: usize) -> u64 {
    use cashflow_domain::DomainEvent;
    use cashflow_domain::movement::{Direction as D, MovementEvent, MovementSource};
    use cashflow_eventstore::{AppendRequest, CommandMetadata, EventStore, ExpectedVersion, NewEvent, PgEventStore};
    let store = PgEventStore::new(pool.clone());
    let account_id = cashflow_domain::AccountId::parse("account_id", account_id).expect("an account id");
    let mut last = 0;
    for index in 0..count {
        let movement_id = cashflow_domain::MovementId::new();
        let event = MovementEvent::MovementRecorded {
            movement_id,
            owner: cashflow_domain::UserId::from_uuid(owner),
            account_id,
            direction: D::Expense,
            amount: cashflow_domain::Amount::parse("amount", &format!("{}.{:02}", 1 + index % 90, index % 100))
                .expect("an amount"),
            currency: cashflow_domain::Currency::parse("currency", "EUR").expect("EUR"),
            occurred_on: cashflow_domain::OccurredOn::parse(
                "occurred_on",
                &format!("2026-0{}-1{}", 1 + index % 3, index % 10),
            )
            .expect("a date"),
            description: cashflow_domain::Description::parse("description", &format!("seeded expense {index}"))
                .expect("a description"),
            counterparty: None,
            source: MovementSource::Manual,
            source_ref: None,
        };
        let request = AppendRequest {
            stream_id: movement_id.stream_id(),
            expected_version: ExpectedVersion::NoStream,
            metadata: CommandMetadata {
                owner,
                command_id: Uuid::now_v7(),
                correlation_id: Uuid::now_v7(),
                causation_id: None,
                traceparent: None,
            },
            guards: Vec::new(),
            events: vec![NewEvent {
                event_id: Uuid::now_v7(),
                event_type: event.event_type().to_owned(),
                schema_version: MovementEvent::SCHEMA_VERSION,
                payload: event.payload().expect("a payload"),
            }],
        };
        last = store.append(request).await.expect("append").position;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_render_settles_the_report_once() {
    let namespace = Namespace::new();
    let api = Server::start(CASHFLOW, &namespace, "api,relay,projectors");
    let user = Uuid::now_v7();
    let mut ledger = api.ledger(user).await;
    let checking = account(&mut ledger, "Checking", Some("100")).await;
    let pool = namespace.pool().await;
    // Enough movements that a debug build renders for a good while.
    seed_history(&pool, user, &checking.account_id, 2_000).await;
    let mut reports = api.reports(user).await;
    let requested = request(&mut reports, ReportFormat::Pdf, vec![]).await;

    // A job in the hands of a killed worker comes back after the ack wait: a short one here.
    let env = [("RUST_LOG", "warn,cashflow_reports=info"), ("CASHFLOW_WORKER_ACK_WAIT_SECS", "3")];
    let worker = Server::start_capturing_logs(CASHFLOW, &namespace, "reports", &env);
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !worker.logs().iter().any(|line| line.contains("rendering a report")) {
        let logs = worker.logs();
        let tail = &logs[logs.len().saturating_sub(10)..];
        assert!(tokio::time::Instant::now() < deadline, "the worker never began: {tail:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    worker.kill();
    let settled_at_kill: i64 =
        sqlx::query("SELECT count(*) AS n FROM events WHERE stream_id = $1 AND event_type <> 'ReportRequested'")
            .bind(format!("report-{}", requested.report_id))
            .fetch_one(&pool)
            .await
            .expect("count")
            .get("n");
    assert_eq!(settled_at_kill, 0, "the kill came after the report was settled: the test proves nothing");

    let _restarted = Server::start_with(CASHFLOW, &namespace, "reports", &env);
    let report = ready(&mut reports, &requested).await;
    let pdf = download(&mut reports, &report.report_id).await;
    assert_matches(&report, &pdf);
    let types: Vec<String> = sqlx::query("SELECT event_type FROM events WHERE stream_id = $1 ORDER BY version")
        .bind(format!("report-{}", requested.report_id))
        .fetch_all(&pool)
        .await
        .expect("the report's events")
        .iter()
        .map(|row| row.get("event_type"))
        .collect();
    assert_eq!(types, ["ReportRequested", "ReportGenerated"], "settled exactly once");
    // The redelivered job may have rendered twice, but only the recorded file is kept.
    let folder = namespace.blobs.join("reports").join(user.to_string()).join(&requested.report_id);
    let files: Vec<_> = std::fs::read_dir(&folder).expect("the report's folder").filter_map(Result::ok).collect();
    let names: Vec<String> = files.iter().map(|f| f.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, [format!("{}.pdf", report.sha256)], "one whole file, the recorded one");
    pool.close().await;
}

/// The first and last day of last month, as "YYYY-MM-DD".
fn last_month() -> (String, String) {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let last = today.with_day(1).and_then(|first| first.pred_opt()).expect("a day");
    let first = last.with_day(1).expect("a day");
    (first.to_string(), last.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_monthly_report_comes_once_to_whoever_asked_and_is_notified() {
    let namespace = Namespace::new();
    let server = Server::start(CASHFLOW, &namespace, "api,relay,projectors,notifications");
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let (first, last) = last_month();
    let mut positions = Vec::new();
    for (user, wants) in [(alice, true), (bob, false)] {
        let mut ledger = server.ledger(user).await;
        let opened = account(&mut ledger, "Checking", None).await;
        let c = (opened.account_id.as_str(), "Checking");
        let mut recorder = Recorder { ledger: &mut ledger, recorded: Vec::new() };
        recorder.record(c, false, "42.00", &last, "Last month's dinner", None, (None, "")).await;
        let set = server
            .notifications(user)
            .await
            .set_preferences(SetPreferencesRequest {
                command_id: command_id(),
                large_expense_threshold: None,
                monthly_report: Some(wants),
            })
            .await
            .expect("preferences")
            .into_inner();
        positions.push(set.position);
    }
    let mut notifications = server.notifications(alice).await;
    // The schedule reads the preferences from the read model: let it have them first.
    notifications
        .list_notifications(ListNotificationsRequest {
            min_position: positions.iter().max().copied(),
            ..Default::default()
        })
        .await
        .expect("caught up");
    let mut watch = notifications.watch_notifications(WatchNotificationsRequest {}).await.expect("watch").into_inner();

    // Two replicas looking every second, whatever day of the month the test runs on.
    let env = [("CASHFLOW_MONTHLY_REPORT_EVERY_SECS", "1"), ("CASHFLOW_MONTHLY_REPORT_WINDOW_DAYS", "31")];
    let _replicas = [
        Server::start_with(CASHFLOW, &namespace, "reports", &env),
        Server::start_with(CASHFLOW, &namespace, "reports", &env),
    ];
    let mut reports = server.reports(alice).await;
    let deadline = tokio::time::Instant::now() + WITHIN;
    let report = loop {
        let listed = reports.list_reports(ListReportsRequest::default()).await.expect("list").into_inner().reports;
        if let Some(report) = listed.iter().find(|r| r.status() == ReportStatus::Ready) {
            break report.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no monthly report in time: {listed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!((report.from.as_str(), report.to.as_str()), (first.as_str(), last.as_str()), "last month");
    assert_eq!(report.format(), ReportFormat::Pdf);
    let text = pdf_text(&download(&mut reports, &report.report_id).await);
    assert!(text.contains("42.00"), "the month's expense is in the report:\n{text}");

    let told = tokio::time::timeout(WITHIN, watch.message())
        .await
        .expect("notified in time")
        .expect("the watch")
        .expect("a notification");
    assert_eq!(told.topic(), NotificationTopic::ReportReady);
    assert_eq!(told.subject_id, report.report_id);

    // A few more passes of both replicas ask for nothing more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pool = namespace.pool().await;
    let requested = |owner: Uuid| {
        let pool = pool.clone();
        async move {
            sqlx::query("SELECT count(*) AS n FROM events WHERE owner = $1 AND event_type = 'ReportRequested'")
                .bind(owner)
                .fetch_one(&pool)
                .await
                .expect("count")
                .get::<i64, _>("n")
        }
    };
    assert_eq!(requested(alice).await, 1, "one monthly report, however many replicas and passes");
    assert_eq!(requested(bob).await, 0, "nobody who did not ask gets one");
    pool.close().await;
}
