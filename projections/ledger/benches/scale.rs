//! The ledger at scale, in one run on one database: seed the event store with N users' history
//! (default 1,000 users × 1,000 movements, ≈1.3 million events), rebuild the read model from it
//! beside the raw limit (COPY of the same rows into a table of the read model's shape), then
//! query latencies: ListMovements first page, a deep page and a filtered page, GetBalances,
//! GetCategorySummary.
//!
//! `cargo bench -p cashflow-projection-ledger --bench scale` (env: `CASHFLOW_BENCH_POSTGRES`,
//! a server URL ending in `/`; `CASHFLOW_BENCH_USERS`; `CASHFLOW_BENCH_MOVEMENTS_PER_USER`;
//! `CASHFLOW_BENCH_SAMPLES`, default 1,000). Prints a table and one JSON line.

use cashflow_domain::movement::Direction;
use cashflow_eventstore::{EventStore, PgEventStore};
use cashflow_projection_ledger::{LedgerProjection, LedgerQueries, MovementFilter, PageCursor};
use cashflow_testkit::scale::{Rng, Scale, Words, bench_database, measure, seed};
use chrono::{Days, Utc};
use futures::StreamExt;
use serde_json::json;
use sqlx::PgPool;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let Scale { users, per_user, samples } = Scale::from_env();
    let (_database, pool) = bench_database().await;
    cashflow_projection::migrate(&pool).await.expect("projection migrations");
    cashflow_projection_ledger::migrate(&pool).await.expect("ledger migrations");

    let started = Instant::now();
    let people =
        seed(&pool, users, per_user, |_, i| Words { description: format!("purchase {i}"), counterparty: None }).await;
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
