//! The ledger at scale, in one run on one database: seed the event store with N users' history
//! (default 1,000 users × 1,000 movements, ≈1.3 million events), rebuild the read model from it
//! beside the raw limit (COPY of the same rows into a table of the read model's shape), then
//! query latencies: ListMovements first page, a deep page and a filtered page, GetBalances,
//! GetCategorySummary.
//!
//! `cargo bench -p cashflow-projection-ledger --bench scale` (env: `CASHFLOW_BENCH_POSTGRES`,
//! a server URL ending in `/`; `CASHFLOW_BENCH_USERS`; `CASHFLOW_BENCH_MOVEMENTS_PER_USER`;
//! `CASHFLOW_BENCH_SAMPLES`, default 1,000). Prints a table and one JSON line.

use cashflow_domain::account::{AccountEvent, AccountKind};
use cashflow_domain::category::CategoryEvent;
use cashflow_domain::movement::{AssignedBy, Direction, MovementEvent, MovementSource};
use cashflow_domain::{
    AccountId, Amount, CategoryId, Currency, Description, DomainEvent, MovementId, Name, OccurredOn, SignedAmount,
    UserId,
};
use cashflow_eventstore::postgres::{connect_options, pool_options};
use cashflow_eventstore::{EventStore, PgEventStore};
use cashflow_projection_ledger::{LedgerProjection, LedgerQueries, MovementFilter, PageCursor};
use cashflow_testkit::TestDatabase;
use chrono::{Days, NaiveDate, Utc};
use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// xorshift64*, so runs are repeatable without another dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

struct User {
    id: UserId,
    categories: Vec<CategoryId>,
}

/// Rows waiting to be inserted into `events`.
#[derive(Default)]
struct Batch {
    stream_ids: Vec<String>,
    versions: Vec<i64>,
    types: Vec<String>,
    payloads: Vec<Value>,
    owners: Vec<Uuid>,
}

impl Batch {
    fn push(&mut self, owner: UserId, stream_id: String, version: i64, event: &impl DomainEvent) {
        self.stream_ids.push(stream_id);
        self.versions.push(version);
        self.types.push(event.event_type().to_owned());
        self.payloads.push(event.payload().expect("an event serialises"));
        self.owners.push(owner.as_uuid());
    }
}

#[tokio::main]
async fn main() {
    let server =
        std::env::var("CASHFLOW_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/".into());
    let users = env("CASHFLOW_BENCH_USERS", 1_000);
    let per_user = env("CASHFLOW_BENCH_MOVEMENTS_PER_USER", 1_000);
    let samples = env("CASHFLOW_BENCH_SAMPLES", 1_000);
    let database = TestDatabase::create_on(&server, "cashflow_bench").await;
    // As the binary connects: no TLS on loopback (ADR 0008), no ping before each statement.
    let options = connect_options(database.url()).expect("a PostgreSQL URL");
    let pool = pool_options().max_connections(8).connect_with(options).await.expect("connect");
    PgEventStore::migrate(&pool).await.expect("event store migrations");
    cashflow_projection::migrate(&pool).await.expect("projection migrations");
    cashflow_projection_ledger::migrate(&pool).await.expect("ledger migrations");

    let started = Instant::now();
    let people = seed(&pool, users, per_user).await;
    let store = PgEventStore::new(pool.clone());
    let events = store.head().await.expect("head");
    println!("seeded {events} events for {users} users in {:.1} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    cashflow_projection::rebuild(&pool, &store, &LedgerProjection, |_, _| {}).await.expect("rebuild");
    let rebuild_seconds = started.elapsed().as_secs_f64();
    let rebuild_rate = events as f64 / rebuild_seconds;
    let (raw_rows, raw_seconds) = raw_copy(&pool).await;
    let raw_rate = raw_rows as f64 / raw_seconds;
    println!(
        "rebuild: {events} events in {rebuild_seconds:.1} s = {rebuild_rate:.0} events/s; \
         raw COPY of the {raw_rows} movement rows: {raw_rate:.0} rows/s; ratio {:.0}%",
        100.0 * rebuild_rate / raw_rate
    );
    sqlx::query("VACUUM ANALYZE").execute(&pool).await.expect("vacuum analyze");

    let queries = LedgerQueries::new(pool.clone());
    let mut rng = Rng(0x5EED);
    let mut pick = || &people[rng.below(people.len() as u64) as usize];
    let no_filter = MovementFilter::default();
    let first_page = measure(samples, || {
        let user = pick().id.as_uuid();
        let queries = queries.clone();
        let filter = no_filter.clone();
        async move {
            queries.list_movements(user, &filter, 50, None).await.expect("first page");
        }
    })
    .await;

    // Deep pages: the cursor 15 pages (750 movements) in, for some users.
    let mut deep = Vec::new();
    for person in people.iter().take(samples.clamp(1, 100)) {
        let mut cursor: Option<PageCursor> = None;
        for _ in 0..15 {
            let page =
                queries.list_movements(person.id.as_uuid(), &no_filter, 50, cursor.as_ref()).await.expect("page");
            cursor = page.next;
        }
        deep.push((person.id.as_uuid(), cursor));
    }
    let mut next = 0;
    let deep_page = measure(samples, || {
        let (user, cursor) = deep[next % deep.len()];
        next += 1;
        let queries = queries.clone();
        let filter = no_filter.clone();
        async move {
            queries.list_movements(user, &filter, 50, cursor.as_ref()).await.expect("deep page");
        }
    })
    .await;
    let today = Utc::now().date_naive();
    let filtered_page = measure(samples, || {
        let person = pick();
        let filter = MovementFilter {
            category_id: Some(person.categories[0].as_uuid()),
            from: today.checked_sub_days(Days::new(180)),
            to: Some(today),
            direction: Some(Direction::Expense),
            ..MovementFilter::default()
        };
        let (user, queries) = (person.id.as_uuid(), queries.clone());
        async move {
            queries.list_movements(user, &filter, 50, None).await.expect("filtered page");
        }
    })
    .await;
    let balances = measure(samples, || {
        let (user, queries) = (pick().id.as_uuid(), queries.clone());
        async move {
            queries.balances(user).await.expect("balances");
        }
    })
    .await;
    let summary = measure(samples, || {
        let (user, queries) = (pick().id.as_uuid(), queries.clone());
        async move {
            queries.category_summary(user, None, None).await.expect("summary");
        }
    })
    .await;

    println!("{:<34} {:>9} {:>9}", "query (LedgerQueries, PostgreSQL)", "p50 ms", "p99 ms");
    let rows = [
        ("ListMovements first page", first_page),
        ("ListMovements page 16 (keyset)", deep_page),
        ("ListMovements filtered", filtered_page),
        ("GetBalances", balances),
        ("GetCategorySummary", summary),
    ];
    for (name, (p50, p99)) in &rows {
        println!("{name:<34} {p50:>9.2} {p99:>9.2}");
    }
    let report = json!({
        "users": users,
        "movements": users * per_user,
        "events": events,
        "rebuild_events_per_second": rebuild_rate,
        "raw_copy_rows_per_second": raw_rate,
        "queries_ms": rows.iter().map(|(name, (p50, p99))| json!({ "query": name, "p50": p50, "p99": p99 })).collect::<Vec<_>>(),
    });
    println!("{report}");
    pool.close().await;
}

/// Writes every user's account, categories and movements (30 % categorised afterwards) straight
/// into `events` with dense positions. Hashes are placeholders: the rebuild does not read them.
async fn seed(pool: &PgPool, users: usize, per_user: usize) -> Vec<User> {
    let mut rng = Rng(0xC0FFEE);
    let eur = Currency::parse("currency", "EUR").expect("EUR");
    let today = Utc::now().date_naive();
    let mut people = Vec::with_capacity(users);
    let mut batch = Batch::default();
    let mut position = 0i64;
    for _ in 0..users {
        let owner = UserId::new();
        let account_id = AccountId::new();
        let opened = AccountEvent::AccountOpened {
            account_id,
            owner,
            name: Name::parse("name", "Checking").expect("name"),
            kind: AccountKind::Checking,
            currency: eur,
            opening_balance: SignedAmount::try_from(Decimal::new(150_000, 2)).expect("balance"),
        };
        batch.push(owner, account_id.stream_id(), 1, &opened);
        let mut categories = Vec::new();
        for name in ["Groceries", "Rent", "Transport", "Restaurants", "Utilities", "Salary"] {
            let category_id = CategoryId::new();
            let created = CategoryEvent::CategoryCreated {
                category_id,
                owner,
                name: Name::parse("name", name).expect("name"),
                parent_id: None,
            };
            batch.push(owner, category_id.stream_id(), 1, &created);
            categories.push(category_id);
        }
        for i in 0..per_user {
            let movement_id = MovementId::new();
            let income = rng.below(10) == 0;
            let cents = 100 + rng.below(20_000) as i64;
            let recorded = MovementEvent::MovementRecorded {
                movement_id,
                owner,
                account_id,
                direction: if income { Direction::Income } else { Direction::Expense },
                amount: Amount::try_from(Decimal::new(cents, 2)).expect("amount"),
                currency: eur,
                occurred_on: OccurredOn::from_date(
                    today.checked_sub_days(Days::new(rng.below(730))).unwrap_or(NaiveDate::MIN),
                ),
                description: Description::parse("description", &format!("purchase {i}")).expect("description"),
                counterparty: None,
                source: MovementSource::Simulator,
                source_ref: None,
            };
            batch.push(owner, movement_id.stream_id(), 1, &recorded);
            if rng.below(10) < 3 {
                let assigned = MovementEvent::CategoryAssigned {
                    category_id: categories[rng.below(categories.len() as u64) as usize],
                    assigned_by: AssignedBy::User,
                    rule_id: None,
                };
                batch.push(owner, movement_id.stream_id(), 2, &assigned);
            }
            if batch.stream_ids.len() >= 5_000 {
                position = flush(pool, &mut batch, position).await;
            }
        }
        people.push(User { id: owner, categories });
    }
    position = flush(pool, &mut batch, position).await;
    sqlx::query("UPDATE event_store_head SET position = $1").bind(position).execute(pool).await.expect("head");
    people
}

async fn flush(pool: &PgPool, batch: &mut Batch, after: i64) -> i64 {
    let taken = std::mem::take(batch);
    let n = taken.stream_ids.len() as i64;
    if n == 0 {
        return after;
    }
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO events (position, event_id, stream_id, version, event_type, schema_version, payload, owner, \
         command_id, correlation_id, recorded_at, hash) \
         SELECT $1 + ordinality, e.id, e.stream_id, e.version, e.event_type, 1, e.payload, e.owner, e.id, e.id, now(), \
                '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea \
         FROM unnest($2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::jsonb[], $7::uuid[]) \
              WITH ORDINALITY AS e(id, stream_id, version, event_type, payload, owner, ordinality)",
    )
    .bind(after)
    .bind(&ids)
    .bind(&taken.stream_ids)
    .bind(&taken.versions)
    .bind(&taken.types)
    .bind(&taken.payloads)
    .bind(&taken.owners)
    .execute(pool)
    .await
    .expect("seed events");
    after + n
}

/// COPY the rebuilt movement rows out, then time a COPY of them into an empty table of the same
/// shape (indexes included): the most PostgreSQL can take these rows in.
async fn raw_copy(pool: &PgPool) -> (u64, f64) {
    let mut conn = pool.acquire().await.expect("connection");
    sqlx::query("CREATE TABLE raw_movements (LIKE ledger_movements INCLUDING ALL)")
        .execute(&mut *conn)
        .await
        .expect("raw table");
    let mut data = Vec::new();
    {
        let mut out = conn.copy_out_raw("COPY ledger_movements TO STDOUT").await.expect("copy out");
        while let Some(chunk) = out.next().await {
            data.extend_from_slice(&chunk.expect("copy chunk"));
        }
    }
    let started = Instant::now();
    let mut copy = conn.copy_in_raw("COPY raw_movements FROM STDIN").await.expect("copy in");
    for chunk in data.chunks(1 << 20) {
        copy.send(chunk).await.expect("copy send");
    }
    let rows = copy.finish().await.expect("copy finish");
    (rows, started.elapsed().as_secs_f64())
}

/// Runs `query` `samples` times, one at a time; (p50, p99) in milliseconds.
async fn measure<F, Fut>(samples: usize, mut query: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut times: Vec<Duration> = Vec::with_capacity(samples);
    for _ in 0..samples.max(1) {
        let started = Instant::now();
        query().await;
        times.push(started.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    (at(0.50), at(0.99))
}
