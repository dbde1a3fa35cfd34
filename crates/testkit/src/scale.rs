//! The read-model benches' shared part: many people's history written straight into the event
//! store, a repeatable random source, and latency percentiles.

use crate::database::TestDatabase;
use cashflow_domain::account::{AccountEvent, AccountKind};
use cashflow_domain::category::CategoryEvent;
use cashflow_domain::movement::{AssignedBy, Direction, MovementEvent, MovementSource};
use cashflow_domain::{
    AccountId, Amount, CategoryId, Counterparty, Currency, Description, DomainEvent, MovementId, Name, OccurredOn,
    SignedAmount, UserId,
};
use cashflow_eventstore::PgEventStore;
use cashflow_eventstore::postgres::{connect_options, pool_options};
use chrono::{Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The bench's settings from the environment: people, movements each, query samples.
pub struct Scale {
    pub users: usize,
    pub per_user: usize,
    pub samples: usize,
}

impl Scale {
    /// `CASHFLOW_BENCH_USERS` (1,000), `CASHFLOW_BENCH_MOVEMENTS_PER_USER` (1,000),
    /// `CASHFLOW_BENCH_SAMPLES` (1,000).
    pub fn from_env() -> Self {
        Self {
            users: env("CASHFLOW_BENCH_USERS", 1_000),
            per_user: env("CASHFLOW_BENCH_MOVEMENTS_PER_USER", 1_000),
            samples: env("CASHFLOW_BENCH_SAMPLES", 1_000),
        }
    }
}

/// A database of the bench's own on `CASHFLOW_BENCH_POSTGRES` (a server URL ending in `/`; the
/// local server by default) with the event store's tables, and a pool of 8
/// connecting as the binary does: no TLS on loopback (ADR 0008), no ping before each statement.
pub async fn bench_database() -> (TestDatabase, PgPool) {
    let server =
        std::env::var("CASHFLOW_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/".into());
    let database = TestDatabase::create_on(&server, "cashflow_bench").await;
    let options = connect_options(database.url()).expect("a PostgreSQL URL");
    let pool = pool_options().max_connections(8).connect_with(options).await.expect("connect");
    PgEventStore::migrate(&pool).await.expect("event store migrations");
    (database, pool)
}

/// A number from the environment, or `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// xorshift64*, so runs are repeatable without another dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }

    /// One of `items`, at random.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One seeded person: their id, and their categories in [`CATEGORIES`] order.
pub struct Person {
    pub id: UserId,
    pub categories: Vec<CategoryId>,
}

/// Every seeded person's categories.
pub const CATEGORIES: [&str; 6] = ["Groceries", "Rent", "Transport", "Restaurants", "Utilities", "Salary"];

/// What a seeded movement says: its description and counterparty.
pub struct Words {
    pub description: String,
    pub counterparty: Option<String>,
}

/// Writes `users` people's history straight into `events`, with dense positions: each an
/// account, the [`CATEGORIES`] and `per_user` movements (amounts 1.00 to 200.99, dates over the
/// last two years, 30 % categorised afterwards), the `i`th described by `words(rng, i)`.
/// Hashes are placeholders: rebuilds do not read them.
pub async fn seed(
    pool: &PgPool,
    users: usize,
    per_user: usize,
    mut words: impl FnMut(&mut Rng, usize) -> Words,
) -> Vec<Person> {
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
        for name in CATEGORIES {
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
            let Words { description, counterparty } = words(&mut rng, i);
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
                description: Description::parse("description", &description).expect("description"),
                counterparty: counterparty.map(|c| Counterparty::parse("counterparty", &c).expect("counterparty")),
                source: MovementSource::Simulator,
                source_ref: None,
            };
            batch.push(owner, movement_id.stream_id(), 1, &recorded);
            if rng.below(10) < 3 {
                let assigned = MovementEvent::CategoryAssigned {
                    category_id: *rng.pick(&categories),
                    assigned_by: AssignedBy::User,
                    rule_id: None,
                };
                batch.push(owner, movement_id.stream_id(), 2, &assigned);
            }
            if batch.stream_ids.len() >= 5_000 {
                position = batch.flush(pool, position).await;
            }
        }
        people.push(Person { id: owner, categories });
    }
    position = batch.flush(pool, position).await;
    sqlx::query("UPDATE event_store_head SET position = $1").bind(position).execute(pool).await.expect("head");
    people
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

    /// Inserts the rows at positions after `after`, empties the batch; the last position.
    async fn flush(&mut self, pool: &PgPool, after: i64) -> i64 {
        let taken = std::mem::take(self);
        let n = taken.stream_ids.len() as i64;
        if n == 0 {
            return after;
        }
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        sqlx::query(
            "INSERT INTO events (position, event_id, stream_id, version, event_type, schema_version, payload, owner, \
             command_id, correlation_id, recorded_at, hash) \
             SELECT $1 + ordinality, e.id, e.stream_id, e.version, e.event_type, 1, e.payload, e.owner, e.id, e.id, \
                    now(), '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea \
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
}

/// Runs `query` `samples` times, one at a time; (p50, p99) in milliseconds.
pub async fn measure<F, Fut>(samples: usize, mut query: F) -> (f64, f64)
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
