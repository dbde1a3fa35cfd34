//! Reports and balances as of a day for a heavy user, against the release `cashflow serve`
//! (api, relay, projectors, reports in one process).
//!
//! A year (2025) of one heavy person's history is written straight into the event store among
//! many lighter people's, interleaved in time as it would have been recorded, before the server
//! starts; the relay and projectors then catch up on it. Measured:
//!
//! - `reports`: RequestReport → READY (polling GetReport every 5 ms), for PDF and CSV, a month and
//!   the year, each `CASHFLOW_BENCH_REPEATS` times in rounds; the file's size; the worker's own
//!   split from its OpenTelemetry spans (received by a collector in this process): the whole
//!   `reports.render`, the fold (`history.load_books`), its other IO, and the rest (figures,
//!   rendering, hashing), and the hops before and after it. Then, in this process on the same
//!   database: `read_owner` alone, PostgreSQL's plans for its statement, the fold, and figures and
//!   rendering apart.
//! - `balances`: GetBalances from the read model beside GetBalances `as_of` (a fold of the
//!   history at the head), for the heavy person and a light one.
//! - `appends`: the event store's append rate with and without the index `events_owner_position`,
//!   on a database of its own holding the same light people, alternating the two; then the
//!   index's own cost per event, from one-statement copies of those events into tables with and
//!   without it.
//!
//! `CASHFLOW_BENCH_HEAVY_MOVEMENTS` (5,000), `CASHFLOW_BENCH_PEOPLE` (200),
//! `CASHFLOW_BENCH_MOVEMENTS_PER_PERSON` (500), `CASHFLOW_BENCH_REPEATS` (10),
//! `CASHFLOW_BENCH_SAMPLES` (200 calls), `CASHFLOW_BENCH_SECONDS` (4, per append step),
//! `CASHFLOW_BENCH_PARTS` (`reports balances appends`).

use cashflow_app::history::load_books;
use cashflow_domain::account::{AccountEvent, AccountKind};
use cashflow_domain::budget::{AlertThresholds, BudgetEvent, BudgetPeriod};
use cashflow_domain::category::CategoryEvent;
use cashflow_domain::movement::{AssignedBy, Direction, MovementEvent, MovementSource};
use cashflow_domain::report::{ReportFormat, ReportPeriod, RequestedReport};
use cashflow_domain::{
    AccountId, Amount, BudgetId, CategoryId, Counterparty, Currency, Description, DomainEvent, Month, MovementId, Name,
    OccurredOn, Reason, SignedAmount, UserId,
};
use cashflow_eventstore::postgres::{connect_options, pool_options};
use cashflow_eventstore::{AppendRequest, CommandMetadata, EventStore, ExpectedVersion, NewEvent, PgEventStore};
use cashflow_proto::v1 as pb;
use cashflow_reports::figures::figures;
use cashflow_reports::{Fonts, render_csv, render_pdf};
use cashflow_testkit::scale::{Rng, env};
use cashflow_testkit::{Namespace, Server, TestDatabase, run_cli};
use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as OtelValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::{AssertSqlSafe, PgPool};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

const CASHFLOW: &str = env!("CARGO_BIN_EXE_cashflow");
/// The year every seeded movement occurred in.
const YEAR: i32 = 2025;
/// GetReport's polling interval while a report is pending.
const POLL: Duration = Duration::from_millis(5);
/// `load_books`' page: events read per round trip.
const FOLD_PAGE: usize = 5_000;
/// The spans the server exports: the worker's, the fold's and the IO under them; not the API's,
/// so the 5 ms polling does not load the exporter.
const TRACE_FILTER: &str = "warn,cashflow_reports=info,cashflow_app=info,cashflow_blob=info,cashflow_eventstore=info";

#[tokio::main]
async fn main() {
    let heavy_movements = env("CASHFLOW_BENCH_HEAVY_MOVEMENTS", 5_000);
    let people = env("CASHFLOW_BENCH_PEOPLE", 200);
    let per_person = env("CASHFLOW_BENCH_MOVEMENTS_PER_PERSON", 500);
    let repeats = env("CASHFLOW_BENCH_REPEATS", 10);
    let samples = env("CASHFLOW_BENCH_SAMPLES", 200);
    let step = Duration::from_secs(env("CASHFLOW_BENCH_SECONDS", 4) as u64);
    let parts = std::env::var("CASHFLOW_BENCH_PARTS").unwrap_or_else(|_| "reports balances appends".into());
    let want = |part: &str| parts.split_whitespace().any(|p| p == part);
    println!(
        "reports bench: a heavy person with {heavy_movements} movements in {YEAR} among {people} people × \
         {per_person}; {repeats} reports of each kind, {samples} GetBalances calls each"
    );

    if want("reports") || want("balances") {
        let namespace = Namespace::new();
        let migrated = run_cli(CASHFLOW, &namespace, &["migrate"]);
        assert!(migrated.status.success(), "cashflow migrate: {}", String::from_utf8_lossy(&migrated.stderr));
        let pool = pool(namespace.database.url(), 8).await;
        let mut history = History::default();
        let mut rng = Rng(0x5EED_2025);
        let light = light_people(&mut history, &mut rng, people, per_person);
        let heavy = heavy_person(&mut history, &mut rng, heavy_movements);
        let seeding = Instant::now();
        let (events, heavy_events) =
            (history.rows.len(), history.rows.iter().filter(|r| r.owner == heavy.id.as_uuid()).count());
        let head = history.write(&pool).await;
        println!(
            "seeded {events} events ({heavy_events} the heavy person's) in {:.1} s",
            seeding.elapsed().as_secs_f64()
        );

        let collector = Collector::default();
        let endpoint = collector.start().await;
        let server = Server::start_with(
            CASHFLOW,
            &namespace,
            "api,relay,projectors,reports",
            &[
                ("CASHFLOW_DB_MAX_CONNECTIONS", "20"),
                ("RUST_LOG", "warn"),
                ("CASHFLOW_OTLP_ENDPOINT", &endpoint),
                ("OTEL_BSP_SCHEDULE_DELAY", "200"),
                ("CASHFLOW_TRACE_FILTER", TRACE_FILTER),
            ],
        );
        let caught_up = Instant::now();
        wait_for_ledger(&pool, head).await;
        println!("relay and ledger projector caught up on {head} events in {:.1} s", caught_up.elapsed().as_secs_f64());

        if want("reports") {
            reports(&server, &collector, &pool, &heavy, repeats).await;
        }
        if want("balances") {
            balances(&server, &heavy, light[0], samples).await;
        }
        drop(server);
        pool.close().await;
    }
    if want("appends") {
        appends(people, per_person, step).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The history, written straight into the store.

/// One row of `events`.
struct Row {
    at: DateTime<Utc>,
    owner: Uuid,
    stream_id: String,
    version: i64,
    event_type: &'static str,
    schema_version: i32,
    payload: Value,
}

/// Everyone's events, stamped with when they were recorded; written in that order.
#[derive(Default)]
struct History {
    rows: Vec<Row>,
    versions: HashMap<String, i64>,
}

impl History {
    fn push<E: DomainEvent>(&mut self, at: DateTime<Utc>, owner: UserId, stream_id: String, event: &E) {
        let version = self.versions.entry(stream_id.clone()).or_default();
        *version += 1;
        self.rows.push(Row {
            at,
            owner: owner.as_uuid(),
            stream_id,
            version: *version,
            event_type: event.event_type(),
            schema_version: E::SCHEMA_VERSION as i32,
            payload: event.payload().expect("an event serialises"),
        });
    }

    /// Inserts every row in time order at dense positions from 1 (a stable sort, so a stream's
    /// events pushed at one instant keep their order), moves the head; the head. Hashes are
    /// placeholders: nothing measured here reads them.
    async fn write(mut self, pool: &PgPool) -> u64 {
        self.rows.sort_by_key(|row| row.at);
        let mut after = 0i64;
        for chunk in self.rows.chunks(5_000) {
            let ids: Vec<Uuid> = chunk.iter().map(|_| Uuid::now_v7()).collect();
            sqlx::query(
                "INSERT INTO events (position, event_id, stream_id, version, event_type, schema_version, payload, \
                 owner, command_id, correlation_id, recorded_at, hash) \
                 SELECT $1 + ordinality, e.id, e.stream_id, e.version, e.event_type, e.schema_version, e.payload, \
                        e.owner, e.id, e.id, e.at, \
                        '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea \
                 FROM unnest($2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::int4[], $7::jsonb[], $8::uuid[], \
                             $9::timestamptz[]) \
                      WITH ORDINALITY AS e(id, stream_id, version, event_type, schema_version, payload, owner, at, \
                                           ordinality)",
            )
            .bind(after)
            .bind(&ids)
            .bind(chunk.iter().map(|r| r.stream_id.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.version).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.event_type.to_owned()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.schema_version).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.payload.clone()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.owner).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.at).collect::<Vec<_>>())
            .execute(pool)
            .await
            .expect("seed events");
            after += chunk.len() as i64;
        }
        sqlx::query("UPDATE event_store_head SET position = $1").bind(after).execute(pool).await.expect("head");
        sqlx::query("ANALYZE events").execute(pool).await.expect("analyze");
        after as u64
    }
}

fn eur() -> Currency {
    Currency::parse("currency", "EUR").expect("EUR")
}

fn cents(cents: i64) -> Amount {
    Amount::try_from(Decimal::new(cents, 2)).expect("an amount")
}

fn day(ordinal: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(YEAR, 1, 1).expect("a date").checked_add_days(Days::new(ordinal)).expect("a date")
}

/// `date` at `seconds` past midnight, UTC.
fn at(date: NaiveDate, seconds: u64) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight")) + Duration::from_secs(seconds)
}

/// When everyone opened their accounts: the day before the year.
fn start() -> DateTime<Utc> {
    at(day(0).pred_opt().expect("a date"), 9 * 3600)
}

#[allow(clippy::too_many_arguments)]
fn movement(
    history: &mut History,
    when: DateTime<Utc>,
    owner: UserId,
    account_id: AccountId,
    income: bool,
    amount: Amount,
    occurred_on: NaiveDate,
    description: &str,
    counterparty: Option<&str>,
) -> MovementId {
    let movement_id = MovementId::new();
    let recorded = MovementEvent::MovementRecorded {
        movement_id,
        owner,
        account_id,
        direction: if income { Direction::Income } else { Direction::Expense },
        amount,
        currency: eur(),
        occurred_on: OccurredOn::from_date(occurred_on),
        description: Description::parse("description", description).expect("a description"),
        counterparty: counterparty.map(|c| Counterparty::parse("counterparty", c).expect("a counterparty")),
        source: MovementSource::Simulator,
        source_ref: None,
    };
    history.push(when, owner, movement_id.stream_id(), &recorded);
    movement_id
}

fn assign(history: &mut History, when: DateTime<Utc>, owner: UserId, movement_id: MovementId, category: CategoryId) {
    let assigned =
        MovementEvent::CategoryAssigned { category_id: category, assigned_by: AssignedBy::User, rule_id: None };
    history.push(when, owner, movement_id.stream_id(), &assigned);
}

fn open(history: &mut History, owner: UserId, name: &str, kind: AccountKind, opening_cents: i64) -> AccountId {
    let account_id = AccountId::new();
    let opened = AccountEvent::AccountOpened {
        account_id,
        owner,
        name: Name::parse("name", name).expect("a name"),
        kind,
        currency: eur(),
        opening_balance: SignedAmount::try_from(Decimal::new(opening_cents, 2)).expect("a balance"),
    };
    history.push(start(), owner, account_id.stream_id(), &opened);
    account_id
}

fn category(history: &mut History, owner: UserId, name: &str, parent_id: Option<CategoryId>) -> CategoryId {
    let category_id = CategoryId::new();
    let created = CategoryEvent::CategoryCreated {
        category_id,
        owner,
        name: Name::parse("name", name).expect("a name"),
        parent_id,
    };
    history.push(start(), owner, category_id.stream_id(), &created);
    category_id
}

/// Light people: one account, six categories, `per_person` movements spread over the year,
/// 30 % categorised. Their ids.
fn light_people(history: &mut History, rng: &mut Rng, people: usize, per_person: usize) -> Vec<UserId> {
    const CATEGORIES: [&str; 6] = ["Groceries", "Rent", "Transport", "Restaurants", "Utilities", "Salary"];
    const WORDS: [&str; 6] = ["Groceries", "Coffee", "Train ticket", "Lunch", "Electricity", "Pharmacy"];
    (0..people)
        .map(|_| {
            let owner = UserId::new();
            let account = open(history, owner, "Checking", AccountKind::Checking, 150_000);
            let categories: Vec<_> = CATEGORIES.iter().map(|name| category(history, owner, name, None)).collect();
            for _ in 0..per_person {
                let occurred_on = day(rng.below(365));
                let when = at(occurred_on, 7 * 3600 + rng.below(14 * 3600));
                let income = rng.below(10) == 0;
                let amount = cents(100 + rng.below(20_000) as i64);
                let description = *rng.pick(&WORDS);
                let id = movement(history, when, owner, account, income, amount, occurred_on, description, None);
                if rng.below(10) < 3 {
                    assign(history, when + Duration::from_secs(1), owner, id, *rng.pick(&categories));
                }
            }
            owner
        })
        .collect()
}

/// The heavy person and what the checks need of their history.
struct Heavy {
    id: UserId,
    /// Every movement's day and whether it was voided.
    movements: Vec<(NaiveDate, bool)>,
}

impl Heavy {
    /// Movements that count in a report of `from..=to`.
    fn live_between(&self, from: NaiveDate, to: NaiveDate) -> usize {
        self.movements.iter().filter(|(day, voided)| !voided && (from..=to).contains(day)).count()
    }
}

/// What kind of movement a heavy person's variable spending is.
struct Kind {
    /// Index into the categories `heavy_person` creates; `None`: never categorised.
    category: Option<usize>,
    weight: u64,
    /// Amount range in cents.
    low: i64,
    high: i64,
    /// Index into the accounts (0 current, 1 card, 2 savings).
    account: usize,
    payees: &'static [&'static str],
    words: &'static [&'static str],
}

const HEAVY_CATEGORIES: [(&str, Option<usize>); 13] = [
    ("Home", None),
    ("Rent", Some(0)),
    ("Utilities", Some(0)),
    ("Food", None),
    ("Groceries", Some(3)),
    ("Restaurants", Some(3)),
    ("Coffee", Some(3)),
    ("Transport", None),
    ("Fuel", Some(7)),
    ("Public transport", Some(7)),
    ("Salary", None),
    ("Health", None),
    ("Leisure", None),
];

const KINDS: [Kind; 9] = [
    Kind {
        category: Some(4),
        weight: 28,
        low: 800,
        high: 14_000,
        account: 0,
        payees: &["Pingo Doce", "Continente", "Lidl", "Mercadona", "Minipreço"],
        words: &["Weekly shop", "Groceries", "Compra semanal", "Fruit and vegetables"],
    },
    Kind {
        category: Some(5),
        weight: 12,
        low: 1_200,
        high: 7_000,
        account: 1,
        payees: &["Tasca do Zé", "Pizzaria Roma", "Sushi Bar Alfama", "O Cantinho", "Burger Lab"],
        words: &["Dinner", "Lunch", "Almoço", "Jantar com amigos"],
    },
    Kind {
        category: Some(6),
        weight: 20,
        low: 120,
        high: 450,
        account: 1,
        payees: &["Café Central", "Pastelaria Alfama", "Starbucks", "A Brasileira"],
        words: &["Coffee", "Café com leite", "Pastel de nata"],
    },
    Kind {
        category: Some(8),
        weight: 5,
        low: 3_500,
        high: 8_000,
        account: 1,
        payees: &["Galp", "Repsol", "BP"],
        words: &["Fuel", "Gasolina"],
    },
    Kind {
        category: Some(9),
        weight: 10,
        low: 165,
        high: 4_000,
        account: 0,
        payees: &["Metro de Lisboa", "CP Comboios", "Carris", "Uber"],
        words: &["Metro ticket", "Train", "Bus", "Ride home"],
    },
    Kind {
        category: Some(11),
        weight: 4,
        low: 800,
        high: 12_000,
        account: 1,
        payees: &["Farmácia Saúde", "Clínica Lisboa", "Wells"],
        words: &["Pharmacy", "Doctor", "Consulta"],
    },
    Kind {
        category: Some(12),
        weight: 9,
        low: 500,
        high: 9_000,
        account: 1,
        payees: &["Cinema NOS", "Bertrand", "Fnac", "Spotify", "Steam"],
        words: &["Cinema", "Books", "Concert tickets", "Game"],
    },
    Kind {
        category: None,
        weight: 8,
        low: 200,
        high: 6_000,
        account: 0,
        payees: &[],
        words: &["Cash withdrawal", "Misc", "Transfer to Ana", "Gift"],
    },
    Kind {
        category: Some(2),
        weight: 4,
        low: 1_500,
        high: 9_000,
        account: 0,
        payees: &["EDP", "EPAL", "Vodafone", "Galp Gás"],
        words: &["Electricity", "Water", "Internet and phone", "Gas bill"],
    },
];

/// The heavy person: three accounts, `HEAVY_CATEGORIES` (three parents and their children),
/// five budgets, `movements` movements over the year (a salary, rent and savings interest each
/// month, the rest everyday spending of [`KINDS`] spread evenly over the days), 92 % categorised
/// when recorded, 4 % recategorised days later, 2 % voided hours later.
fn heavy_person(history: &mut History, rng: &mut Rng, movements: usize) -> Heavy {
    let owner = UserId::new();
    let accounts = [
        open(history, owner, "Current account", AccountKind::Checking, 250_000),
        open(history, owner, "Credit card", AccountKind::Credit, 0),
        open(history, owner, "Savings", AccountKind::Savings, 800_000),
    ];
    let mut categories: Vec<CategoryId> = Vec::new();
    for (name, parent) in HEAVY_CATEGORIES {
        let id = category(history, owner, name, parent.map(|p| categories[p]));
        categories.push(id);
    }
    let january = Month::of(day(0));
    let budgets = [
        (4, BudgetPeriod::From(january), 45_000),
        (5, BudgetPeriod::From(january), 18_000),
        (12, BudgetPeriod::From(january), 12_000),
        (7, BudgetPeriod::From(january), 15_000),
        (4, BudgetPeriod::Month(Month::of(day(340))), 60_000),
    ];
    for (index, period, amount) in budgets {
        let budget_id = BudgetId::new();
        let set = BudgetEvent::BudgetSet {
            budget_id,
            owner,
            category_id: categories[index],
            period,
            amount: cents(amount),
            currency: eur(),
            alert_thresholds: AlertThresholds::parse("alert_thresholds", &[]).expect("thresholds"),
        };
        history.push(start() + Duration::from_secs(60), owner, budget_id.stream_id(), &set);
    }

    let mut heavy = Heavy { id: owner, movements: Vec::with_capacity(movements) };
    let mut record = |history: &mut History, rng: &mut Rng, when: DateTime<Utc>, spec: Recorded| {
        let id = movement(
            history,
            when,
            owner,
            accounts[spec.account],
            spec.income,
            spec.amount,
            spec.occurred_on,
            &spec.description,
            spec.counterparty,
        );
        if let Some(index) = spec.category.filter(|_| rng.below(100) < 92) {
            assign(history, when + Duration::from_secs(1), owner, id, categories[index]);
            if rng.below(100) < 4 {
                let later = when + Duration::from_secs(86_400 * (1 + rng.below(10)));
                assign(history, later, owner, id, *rng.pick(&categories));
            }
        }
        let voided = rng.below(100) < 2;
        if voided {
            let void =
                MovementEvent::MovementVoided { reason: Reason::parse("reason", "Duplicate").expect("a reason") };
            history.push(when + Duration::from_secs(7_200), owner, id.stream_id(), &void);
        }
        heavy.movements.push((spec.occurred_on, voided));
    };

    // Each month: salary on the 28th, rent on the 1st, interest on savings on the last day.
    let monthly = 3 * 12;
    for month in 1..=12u32 {
        let first = NaiveDate::from_ymd_opt(YEAR, month, 1).expect("a date");
        let last = first.checked_add_months(chrono::Months::new(1)).expect("a date").pred_opt().expect("a date");
        let fixed = [
            (first.with_day0(27).expect("the 28th"), 0, true, 285_000, "Salary", Some("Acme Ltd"), Some(10)),
            (first, 0, false, 95_000, "Rent", Some("Lisbon Homes"), Some(1)),
            (last, 2, true, 150 + rng.below(150) as i64, "Interest", Some("Banco Bom"), None),
        ];
        for (occurred_on, account, income, amount, description, counterparty, category) in fixed {
            let spec = Recorded {
                account,
                income,
                amount: cents(amount),
                occurred_on,
                description: description.to_owned(),
                counterparty,
                category,
            };
            record(history, rng, at(occurred_on, 8 * 3600), spec);
        }
    }
    let everyday = movements.saturating_sub(monthly);
    let total_weight: u64 = KINDS.iter().map(|k| k.weight).sum();
    for i in 0..everyday {
        let occurred_on = day((i as u64 * 365) / everyday.max(1) as u64);
        let mut roll = rng.below(total_weight);
        let kind = KINDS
            .iter()
            .find(|k| {
                let hit = roll < k.weight;
                roll = roll.saturating_sub(k.weight);
                hit
            })
            .expect("a kind");
        let mut description = (*rng.pick(kind.words)).to_owned();
        if rng.below(5) == 0 {
            description.push_str(&format!(" ref {}", 1_000 + rng.below(9_000)));
        }
        let spec = Recorded {
            account: kind.account,
            income: false,
            amount: cents(kind.low + rng.below((kind.high - kind.low) as u64) as i64),
            occurred_on,
            description,
            counterparty: (!kind.payees.is_empty()).then(|| *rng.pick(kind.payees)),
            category: kind.category,
        };
        let when = at(occurred_on, 8 * 3600 + rng.below(13 * 3600));
        record(history, rng, when, spec);
    }
    heavy
}

/// A heavy person's movement before it is written.
struct Recorded {
    account: usize,
    income: bool,
    amount: Amount,
    occurred_on: NaiveDate,
    description: String,
    counterparty: Option<&'static str>,
    category: Option<usize>,
}

async fn pool(url: &str, max_connections: u32) -> PgPool {
    // As the binary connects: no TLS on loopback (ADR 0008), no ping before each statement.
    let options = connect_options(url).expect("a PostgreSQL URL");
    pool_options().max_connections(max_connections).connect_with(options).await.expect("connect")
}

/// Waits until the ledger projection has applied `head`.
async fn wait_for_ledger(pool: &PgPool, head: u64) {
    let deadline = Instant::now() + Duration::from_secs(1_800);
    loop {
        let position: Option<i64> =
            sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE name = 'ledger'")
                .fetch_optional(pool)
                .await
                .expect("checkpoints");
        if position.is_some_and(|p| p as u64 >= head) {
            return;
        }
        assert!(Instant::now() < deadline, "the ledger projection stopped at {position:?} of {head}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Reports.

/// Percentiles of a sample, nearest rank.
struct Stats(Vec<f64>);

impl Stats {
    fn new(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        Self(values)
    }

    fn at(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let index = ((self.0.len() as f64 * p).ceil() as usize).clamp(1, self.0.len()) - 1;
        self.0[index]
    }

    /// `p50 / p90 / max` with one decimal.
    fn summary(&self) -> String {
        format!("{:.1} / {:.1} / {:.1}", self.at(0.5), self.at(0.9), self.at(1.0))
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// One kind of report: a format over a period.
#[derive(Clone, Copy)]
struct ReportKind {
    label: &'static str,
    format: pb::ReportFormat,
    from: NaiveDate,
    to: NaiveDate,
}

/// What one report cost, seen from the client.
struct Measured {
    report_id: String,
    /// Wall clock, in Unix nanoseconds as spans have it: when the request was sent and when
    /// READY was seen.
    requested_at: u64,
    ready_at: u64,
    latency: Duration,
    size_bytes: u64,
    download: Duration,
}

async fn reports(server: &Server, collector: &Collector, pool: &PgPool, heavy: &Heavy, repeats: usize) {
    let june =
        (NaiveDate::from_ymd_opt(YEAR, 6, 1).expect("a date"), NaiveDate::from_ymd_opt(YEAR, 6, 30).expect("a date"));
    let year = (day(0), NaiveDate::from_ymd_opt(YEAR, 12, 31).expect("a date"));
    let kinds = [
        ReportKind { label: "PDF, a month", format: pb::ReportFormat::Pdf, from: june.0, to: june.1 },
        ReportKind { label: "PDF, the year", format: pb::ReportFormat::Pdf, from: year.0, to: year.1 },
        ReportKind { label: "CSV, a month", format: pb::ReportFormat::Csv, from: june.0, to: june.1 },
        ReportKind { label: "CSV, the year", format: pb::ReportFormat::Csv, from: year.0, to: year.1 },
    ];
    let mut client = server.reports(heavy.id.as_uuid()).await;

    // One of each first, not counted: the first fold reads cold pages, the first PDF warms the
    // fonts' caches. Each CSV's rows are checked against the seeded history once.
    for kind in kinds {
        let warm = request_report(&mut client, kind).await;
        if kind.format == pb::ReportFormat::Csv {
            let rows = download(&mut client, &warm.report_id).await.iter().filter(|&&b| b == b'\n').count() - 1;
            let expected = heavy.live_between(kind.from, kind.to);
            println!("{}: {rows} rows (the history has {expected} live movements in the period)", kind.label);
            assert_eq!(rows, expected, "{}: rows of the CSV", kind.label);
        }
    }

    let mut measured: Vec<Vec<Measured>> = kinds.iter().map(|_| Vec::new()).collect();
    for _ in 0..repeats {
        for (index, kind) in kinds.iter().enumerate() {
            measured[index].push(request_report(&mut client, *kind).await);
        }
    }

    // The worker's spans, matched by report.
    let wanted: Vec<String> = measured.iter().flatten().map(|m| format!("report-{}", m.report_id)).collect();
    let spans = collector
        .wait_for(|spans| {
            wanted.iter().all(|stream| {
                spans.iter().any(|s| s.name == "reports.render" && attribute(s, "stream_id").as_deref() == Some(stream))
            })
        })
        .await;
    let split = |measured: &Measured| Split::of(&spans, measured);

    println!();
    println!("RequestReport → READY, {repeats} of each (ms: p50 / p90 / max), file size, the worker's split (p50 ms)");
    println!(
        "| report | movements | request → READY | request → worker starts | worker (`reports.render`) | fold \
         (`history.load_books`) | other IO | figures + render + hash | worker ends → READY seen | download | size |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (kind, runs) in kinds.iter().zip(&measured) {
        let splits: Vec<Split> = runs.iter().map(split).collect();
        let stat = |f: &dyn Fn(&Split) -> f64| Stats::new(splits.iter().map(f).collect());
        let sizes = Stats::new(runs.iter().map(|m| m.size_bytes as f64).collect());
        println!(
            "| {} | {} | {} | {:.1} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            kind.label,
            heavy.live_between(kind.from, kind.to),
            Stats::new(runs.iter().map(|m| ms(m.latency)).collect()).summary(),
            stat(&|s| s.before).at(0.5),
            stat(&|s| s.total).summary(),
            stat(&|s| s.fold).at(0.5),
            stat(&|s| s.other_io).at(0.5),
            stat(&|s| s.rest).at(0.5),
            stat(&|s| s.after).at(0.5),
            Stats::new(runs.iter().map(|m| ms(m.download)).collect()).at(0.5),
            if sizes.at(0.0) == sizes.at(1.0) {
                format!("{} B", sizes.at(1.0))
            } else {
                format!("{}–{} B", sizes.at(0.0), sizes.at(1.0))
            },
        );
    }
    let events: Vec<String> = spans
        .iter()
        .filter(|s| s.name == "history.load_books")
        .filter_map(|s| attribute(s, "events"))
        .take(1)
        .collect();
    println!("the fold reads {} events of the heavy person for every report", events.join(""));

    figures_and_render(pool, heavy, &kinds, repeats).await;
}

/// Requests one report and polls until it is READY.
async fn request_report(client: &mut Reports, kind: ReportKind) -> Measured {
    let requested_at = unix_nanos();
    let started = Instant::now();
    let requested = client
        .request_report(pb::RequestReportRequest {
            command_id: cashflow_testkit::command_id(),
            from: kind.from.to_string(),
            to: kind.to.to_string(),
            format: kind.format.into(),
            account_ids: vec![],
        })
        .await
        .expect("request a report")
        .into_inner();
    let deadline = started + Duration::from_secs(300);
    let report = loop {
        let report = client
            .get_report(pb::GetReportRequest { report_id: requested.report_id.clone(), min_position: None })
            .await
            .map(|r| r.into_inner().report);
        match report {
            Ok(Some(report)) if report.status() == pb::ReportStatus::Ready => break report,
            Ok(Some(report)) if report.status() == pb::ReportStatus::Failed => {
                panic!("{}: the report failed: {}", kind.label, report.failure_reason)
            }
            // Pending, or not yet in the reports view (NOT_FOUND): poll again.
            _ => {}
        }
        assert!(Instant::now() < deadline, "{}: not READY within 300 s", kind.label);
        tokio::time::sleep(POLL).await;
    };
    let latency = started.elapsed();
    let ready_at = unix_nanos();
    let downloading = Instant::now();
    let bytes = download(client, &requested.report_id).await;
    let download = downloading.elapsed();
    assert_eq!(bytes.len() as u64, report.size_bytes, "{}: the file's size", kind.label);
    Measured {
        report_id: requested.report_id,
        requested_at,
        ready_at,
        latency,
        size_bytes: report.size_bytes,
        download,
    }
}

fn unix_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_nanos() as u64
}

type Reports = pb::report_service_client::ReportServiceClient<cashflow_testkit::Authed>;

async fn download(client: &mut Reports, report_id: &str) -> Vec<u8> {
    let mut stream = client
        .download_report(pb::DownloadReportRequest { report_id: report_id.to_owned() })
        .await
        .expect("download a report")
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await.expect("a chunk") {
        bytes.extend_from_slice(&chunk.chunk);
    }
    bytes
}

/// One rendering as the worker's spans tell it, in ms.
struct Split {
    /// `reports.render`: the worker's whole handling.
    total: f64,
    /// `history.load_books`: reading and folding the person's history.
    fold: f64,
    /// The other spans directly under it: reading the report's stream, storing the file,
    /// appending ReportGenerated.
    other_io: f64,
    /// The rest, not traced: computing the figures, rendering, hashing the file.
    rest: f64,
    /// From the request's sending to the worker's start: the append, the relay, NATS.
    before: f64,
    /// From the worker's end to READY seen: the relay, the reports projector, the polling.
    after: f64,
}

impl Split {
    fn of(spans: &[Span], measured: &Measured) -> Self {
        let stream_id = format!("report-{}", measured.report_id);
        let render = spans
            .iter()
            .find(|s| s.name == "reports.render" && attribute(s, "stream_id").as_deref() == Some(stream_id.as_str()))
            .expect("the worker's span");
        let length = |s: &Span| (s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano)) as f64 / 1e6;
        let children: Vec<&Span> = spans.iter().filter(|s| s.parent_span_id == render.span_id).collect();
        let fold: f64 = children.iter().filter(|s| s.name == "history.load_books").map(|s| length(s)).sum();
        let io: f64 = children.iter().map(|s| length(s)).sum();
        let total = length(render);
        let gap = |from: u64, to: u64| (to as f64 - from as f64) / 1e6;
        Self {
            total,
            fold,
            other_io: io - fold,
            rest: total - io,
            before: gap(measured.requested_at, render.start_time_unix_nano),
            after: gap(render.end_time_unix_nano, measured.ready_at),
        }
    }
}

/// Figures and rendering apart, in this process, on books folded once (the worker does the same
/// work, with the fold before and the store after).
async fn figures_and_render(pool: &PgPool, heavy: &Heavy, kinds: &[ReportKind], repeats: usize) {
    let store = PgEventStore::new(pool.clone());
    let head = store.head().await.expect("head");
    let owner = heavy.id.as_uuid();
    // The fold's reads alone: `read_owner` page by page, as `load_books` calls it.
    let (mut reads, mut pages) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        let started = Instant::now();
        let mut after = 0;
        pages.clear();
        loop {
            pages.push(after);
            let page = store.read_owner(owner, after, head, FOLD_PAGE).await.expect("a page");
            match page.last() {
                Some(last) if page.len() == FOLD_PAGE => after = last.position,
                _ => break,
            }
        }
        reads.push(ms(started.elapsed()));
    }
    explain_read_owner(pool, owner, &pages, head).await;
    let mut folds = Vec::new();
    let mut books = None;
    for _ in 0..repeats {
        let started = Instant::now();
        books = Some(load_books(&store, heavy.id, head).await.expect("books"));
        folds.push(ms(started.elapsed()));
    }
    let books = books.expect("folded once");
    let fonts = Fonts::load_system().expect("fonts");
    println!(
        "In the bench's process: `read_owner` page by page alone p50 {:.1} ms, max {:.1} ms",
        Stats::new(reads.clone()).at(0.5),
        Stats::new(reads).at(1.0)
    );
    println!(
        "In the bench's process: the fold (`load_books`, {} live movements in the books) p50 {:.1} ms, max {:.1} ms; then per report \
         (ms: p50 / p90 / max)",
        books.live_movements().count(),
        Stats::new(folds.clone()).at(0.5),
        Stats::new(folds).at(1.0)
    );
    println!("| report | figures | render |");
    println!("| --- | ---: | ---: |");
    for kind in kinds {
        let format = if kind.format == pb::ReportFormat::Pdf { ReportFormat::Pdf } else { ReportFormat::Csv };
        let requested = RequestedReport {
            owner: heavy.id,
            period: ReportPeriod::new(kind.from, kind.to, "to").expect("a period"),
            format,
            account_ids: vec![],
            position: head,
        };
        let (mut figuring, mut rendering) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            let started = Instant::now();
            let document = figures(&books, &requested, Utc::now());
            figuring.push(ms(started.elapsed()));
            let started = Instant::now();
            let bytes = match format {
                ReportFormat::Pdf => render_pdf(&document, &fonts).expect("a PDF"),
                ReportFormat::Csv => render_csv(&document),
            };
            rendering.push(ms(started.elapsed()));
            assert!(!bytes.is_empty());
        }
        println!("| {} | {} | {} |", kind.label, Stats::new(figuring).summary(), Stats::new(rendering).summary());
    }
}

/// How PostgreSQL runs `read_owner`'s statement for each page of the fold: planned for the
/// owner at hand (a custom plan), planned for any owner (the generic plan a prepared statement
/// may switch to), and as a connection's cache plans it after six executions (the default, auto).
async fn explain_read_owner(pool: &PgPool, owner: Uuid, pages: &[u64], head: u64) {
    // Every value spliced into the SQL below is ours: a UUID, numbers and a constant mode.
    let mut connection = pool.acquire().await.expect("a connection");
    let statement = "PREPARE fold_page (uuid, bigint, bigint, bigint) AS SELECT position, event_id, stream_id, \
        version, event_type, schema_version, payload, owner, command_id, correlation_id, causation_id, traceparent, \
        recorded_at, hash FROM events WHERE owner = $1 AND position > $2 AND position <= $3 ORDER BY position \
        LIMIT $4";
    sqlx::raw_sql(statement).execute(&mut *connection).await.expect("prepare");
    println!();
    println!(
        "`read_owner`'s statement in PostgreSQL, per page of the heavy person's fold (`EXPLAIN (ANALYZE, BUFFERS) EXECUTE`)"
    );
    println!("| plan | page after | scan | rows removed by filter | buffers | execution ms |");
    println!("| --- | ---: | --- | ---: | --- | ---: |");
    for mode in ["force_custom_plan", "force_generic_plan", "auto", "force_custom_plan, random_page_cost = 1.1"] {
        let settings = match mode.split_once(", ") {
            Some((plan, cost)) => format!("SET plan_cache_mode = {plan}; SET {cost}"),
            None => format!("SET plan_cache_mode = {mode}"),
        };
        sqlx::raw_sql(AssertSqlSafe(settings)).execute(&mut *connection).await.expect("set");
        for &after in pages {
            let execute = format!("EXECUTE fold_page ('{owner}', {after}, {head}, {FOLD_PAGE})");
            if mode == "auto" {
                for _ in 0..6 {
                    sqlx::raw_sql(AssertSqlSafe(execute.clone())).execute(&mut *connection).await.expect("execute");
                }
            }
            let plan: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!("EXPLAIN (ANALYZE, BUFFERS) {execute}")))
                .fetch_all(&mut *connection)
                .await
                .expect("explain");
            let line = |needle: &str| plan.iter().find(|l| l.contains(needle)).map(|l| l.trim().to_owned());
            let scan = line("Scan")
                .map(|l| l.split("  (").next().unwrap_or_default().trim_start_matches("->").trim().to_owned());
            let number = |needle: &str| line(needle).map(|l| l.rsplit(": ").next().unwrap_or_default().to_owned());
            println!(
                "| {mode} | {after} | {} | {} | {} | {} |",
                scan.unwrap_or_default(),
                number("Rows Removed by Filter").unwrap_or_else(|| "0".into()),
                number("Buffers").unwrap_or_default(),
                number("Execution Time").unwrap_or_default().trim_end_matches(" ms"),
            );
        }
    }
    sqlx::raw_sql("DEALLOCATE fold_page; RESET plan_cache_mode; RESET random_page_cost")
        .execute(&mut *connection)
        .await
        .expect("reset");
}

// ---------------------------------------------------------------------------------------------
// Balances.

async fn balances(server: &Server, heavy: &Heavy, light: UserId, samples: usize) {
    println!();
    println!("GetBalances, {samples} calls one after another (ms)");
    println!("| person | GetBalances | p50 | p99 | max |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for (who, user) in [("heavy", heavy.id), ("light", light)] {
        let mut query = server.query(user.as_uuid()).await;
        for as_of in [None, Some(format!("{YEAR}-06-30"))] {
            let label = if as_of.is_some() { "`as_of` (fold at the head)" } else { "read model" };
            let mut times = Vec::with_capacity(samples);
            for _ in 0..samples {
                let started = Instant::now();
                query
                    .get_balances(pb::GetBalancesRequest { min_position: None, as_of: as_of.clone() })
                    .await
                    .expect("balances");
                times.push(ms(started.elapsed()));
            }
            let times = Stats::new(times);
            println!("| {who} | {label} | {:.2} | {:.2} | {:.2} |", times.at(0.5), times.at(0.99), times.at(1.0));
        }
        // Every movement occurred in the year: as of its last day, the fold and the read model agree.
        let now = query.get_balances(pb::GetBalancesRequest::default()).await.expect("balances").into_inner();
        let end = query
            .get_balances(pb::GetBalancesRequest { min_position: None, as_of: Some(format!("{YEAR}-12-31")) })
            .await
            .expect("balances")
            .into_inner();
        let amounts = |r: &pb::GetBalancesResponse| {
            let mut all: Vec<(String, Decimal)> = r
                .balances
                .iter()
                .map(|b| (b.account_id.clone(), b.balance.parse::<Decimal>().expect("a decimal")))
                .collect();
            all.sort();
            all
        };
        assert_eq!(amounts(&now), amounts(&end), "{who}: the read model's balances and the fold's at the year's end");
    }
}

// ---------------------------------------------------------------------------------------------
// Appends with and without the owner index.

async fn appends(people: usize, per_person: usize, step: Duration) {
    const WRITERS: [usize; 3] = [1, 16, 64];
    const ROUNDS: usize = 4;
    let server =
        std::env::var("CASHFLOW_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/".into());
    let database = TestDatabase::create_on(&server, "cashflow_bench").await;
    let pool = pool(database.url(), 70).await;
    PgEventStore::migrate(&pool).await.expect("event store migrations");
    let mut history = History::default();
    let owners = light_people(&mut history, &mut Rng(0x5EED_2025), people, per_person);
    let events = history.rows.len();
    history.write(&pool).await;
    let store = PgEventStore::new(pool.clone());
    println!();
    println!(
        "Appends with and without `events_owner_position`, {events} events stored first, {} s a step, one new \
         stream a MovementRecorded, owners drawn from the {people} stored",
        step.as_secs()
    );

    // Untimed, with the index: warms the store's writer, its statements and the pages the appends
    // touch, and fills `commands`; then statistics for both tables (a new database has none for
    // `commands` until autovacuum's first visit, and the batch's first statement was planned as
    // for an empty table: the first round ran at a tenth of the others' rate) and a checkpoint.
    for writers in WRITERS {
        append_rate(&store, &owners, writers, step).await;
    }
    sqlx::raw_sql("VACUUM ANALYZE events, commands").execute(&pool).await.expect("vacuum");
    sqlx::raw_sql("CHECKPOINT").execute(&pool).await.expect("checkpoint");
    let mut rates: HashMap<(bool, usize), Vec<f64>> = HashMap::new();
    let mut rebuilt = Vec::new();
    // ABBA order, so a drift of the machine over the run weighs on both sides alike.
    for round in 0..ROUNDS {
        let order = if round % 2 == 0 { [true, false] } else { [false, true] };
        for indexed in order {
            let present: bool = sqlx::query_scalar("SELECT to_regclass('events_owner_position') IS NOT NULL")
                .fetch_one(&pool)
                .await
                .expect("index?");
            if indexed && !present {
                let started = Instant::now();
                sqlx::query("CREATE INDEX events_owner_position ON events (owner, position)")
                    .execute(&pool)
                    .await
                    .expect("create the index");
                rebuilt.push(ms(started.elapsed()));
            } else if !indexed && present {
                sqlx::query("DROP INDEX events_owner_position").execute(&pool).await.expect("drop the index");
            }
            for writers in WRITERS {
                let rate = append_rate(&store, &owners, writers, step).await;
                println!(
                    "  round {} {} the index, {writers:>2} writers: {rate:.0} appends/s",
                    round + 1,
                    if indexed { "with" } else { "without" }
                );
                rates.entry((indexed, writers)).or_default().push(rate);
            }
        }
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await.expect("count");
    println!("| writers | with the index, appends/s | without, appends/s | with ÷ without |");
    println!("| ---: | ---: | ---: | ---: |");
    for writers in WRITERS {
        let mean = |indexed| {
            let all = &rates[&(indexed, writers)];
            all.iter().sum::<f64>() / all.len() as f64
        };
        let runs =
            |indexed| rates[&(indexed, writers)].iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ");
        println!(
            "| {writers} | {:.0} ({}) | {:.0} ({}) | {:.0}% |",
            mean(true),
            runs(true),
            mean(false),
            runs(false),
            100.0 * mean(true) / mean(false)
        );
    }
    println!(
        "CREATE INDEX events_owner_position on ~{stored} events: {}",
        rebuilt.iter().map(|t| format!("{t:.0} ms")).collect::<Vec<_>>().join(", ")
    );
    index_maintenance(&pool, events).await;
    pool.close().await;
}

/// The index's own cost, without commits, round trips or the group commit: the first `rows`
/// stored events copied in one statement into two empty copies of `events`, one with every index
/// and one without `events_owner_position`, alternately, three times each.
async fn index_maintenance(pool: &PgPool, rows: usize) {
    for ddl in [
        "CREATE TABLE copy_with (LIKE events INCLUDING ALL)",
        "CREATE TABLE copy_without (LIKE events INCLUDING ALL)",
        "DROP INDEX copy_without_owner_position_idx",
    ] {
        sqlx::raw_sql(ddl).execute(pool).await.expect("a copy of events");
    }
    let mut times: HashMap<&str, Vec<f64>> = HashMap::new();
    for _ in 0..3 {
        for (table, copy, empty) in [
            ("copy_with", "INSERT INTO copy_with SELECT * FROM events WHERE position <= $1", "TRUNCATE copy_with"),
            (
                "copy_without",
                "INSERT INTO copy_without SELECT * FROM events WHERE position <= $1",
                "TRUNCATE copy_without",
            ),
        ] {
            sqlx::raw_sql(empty).execute(pool).await.expect("truncate");
            let started = Instant::now();
            sqlx::query(copy).bind(rows as i64).execute(pool).await.expect("copy");
            times.entry(table).or_default().push(ms(started.elapsed()));
        }
    }
    let best = |table| times[table].iter().copied().fold(f64::INFINITY, f64::min);
    let all = |table| times[table].iter().map(|t| format!("{t:.0}")).collect::<Vec<_>>().join(", ");
    println!(
        "INSERT … SELECT of {rows} events in one statement: with every index {} ms (best of {}), without \
         `events_owner_position` {} ms (best of {}): the index adds {:.1} µs an event",
        best("copy_with").round(),
        all("copy_with"),
        best("copy_without").round(),
        all("copy_without"),
        (best("copy_with") - best("copy_without")) * 1000.0 / rows as f64
    );
}

/// Single-event appends to new streams from `writers` tasks for `step`; appends per second.
async fn append_rate(store: &PgEventStore, owners: &[UserId], writers: usize, step: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + step;
    let tasks: Vec<_> = (0..writers)
        .map(|writer| {
            let (store, done) = (store.clone(), done.clone());
            let owners: Vec<UserId> = owners.to_vec();
            tokio::spawn(async move {
                let mut rng = Rng(0xA99E_0D00 + writer as u64);
                while Instant::now() < deadline {
                    let owner = *rng.pick(&owners);
                    let movement_id = MovementId::new();
                    let recorded = MovementEvent::MovementRecorded {
                        movement_id,
                        owner,
                        account_id: AccountId::new(),
                        direction: Direction::Expense,
                        amount: cents(100 + rng.below(20_000) as i64),
                        currency: eur(),
                        occurred_on: OccurredOn::from_date(day(rng.below(365))),
                        description: Description::parse("description", "Groceries").expect("a description"),
                        counterparty: None,
                        source: MovementSource::Simulator,
                        source_ref: None,
                    };
                    let request = AppendRequest {
                        stream_id: movement_id.stream_id(),
                        expected_version: ExpectedVersion::NoStream,
                        metadata: CommandMetadata {
                            owner: owner.as_uuid(),
                            command_id: Uuid::now_v7(),
                            correlation_id: Uuid::now_v7(),
                            causation_id: None,
                            traceparent: None,
                        },
                        guards: Vec::new(),
                        events: vec![NewEvent {
                            event_id: Uuid::now_v7(),
                            event_type: recorded.event_type().to_owned(),
                            schema_version: MovementEvent::SCHEMA_VERSION,
                            payload: recorded.payload().expect("a payload"),
                        }],
                    };
                    store.append(request).await.expect("append");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a writer");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// An OTLP trace collector, as in tests/tracing_end_to_end.rs: keeps every span it is sent.

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().expect("spans");
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

impl Collector {
    /// Listens on a free port; the endpoint for `CASHFLOW_OTLP_ENDPOINT`.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the collector");
        let addr = listener.local_addr().expect("the collector's address");
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await
                .expect("the collector stopped");
        });
        format!("http://{addr}")
    }

    /// Every span received once `done` holds for them (at most 60 s).
    async fn wait_for(&self, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let spans = self.spans.lock().expect("spans").clone();
            if done(&spans) {
                return spans;
            }
            assert!(Instant::now() < deadline, "the worker's spans did not arrive within 60 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span.attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()?;
    Some(match value {
        OtelValue::StringValue(s) => s.clone(),
        OtelValue::IntValue(i) => i.to_string(),
        other => format!("{other:?}"),
    })
}
