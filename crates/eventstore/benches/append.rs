//! Event-store append throughput beside the raw limit, measured in the same run on the same
//! database: single-event appends at 1/4/16/64 concurrent writers, then plain single-row
//! INSERT transactions of the same row shape at the same concurrency, then read-all throughput.
//!
//! `cargo bench -p cashflow-eventstore --bench append` (env: `CASHFLOW_BENCH_POSTGRES`, a server
//! URL ending in `/`; `CASHFLOW_BENCH_SECONDS`, per step, default 5). Prints a table and one
//! JSON line for BENCHMARKS.md.

use cashflow_eventstore::contract::{new_request, new_stream_id};
use cashflow_eventstore::postgres::{connect_options, pool_options};
use cashflow_eventstore::{EventStore, ExpectedVersion, PgEventStore};
use cashflow_testkit::TestDatabase;
use serde_json::json;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

const WRITERS: [usize; 4] = [1, 4, 16, 64];

#[tokio::main]
async fn main() {
    let server =
        std::env::var("CASHFLOW_BENCH_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/".into());
    let seconds: u64 = std::env::var("CASHFLOW_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let step = Duration::from_secs(seconds);
    let database = TestDatabase::create_on(&server, "cashflow_bench").await;
    // As the binary connects: no TLS on loopback (ADR 0008), no ping before each statement.
    let options = connect_options(database.url()).expect("a PostgreSQL URL");
    let pool = pool_options().max_connections(70).connect_with(options).await.expect("connect");
    PgEventStore::migrate(&pool).await.expect("migrate");
    sqlx::query("CREATE TABLE bench_raw (LIKE events INCLUDING ALL)").execute(&pool).await.expect("raw table");
    sqlx::query("CREATE SEQUENCE bench_raw_position").execute(&pool).await.expect("raw sequence");
    let settings: (String, String, String) =
        sqlx::query_as("SELECT version(), current_setting('synchronous_commit'), current_setting('fsync')")
            .fetch_one(&pool)
            .await
            .expect("settings");
    println!("{}; synchronous_commit={}, fsync={}", settings.0, settings.1, settings.2);
    println!("{:>8} {:>14} {:>14} {:>8}", "writers", "appends/s", "raw INSERT/s", "ratio");

    let store = PgEventStore::new(pool.clone());
    let mut rows = Vec::new();
    for writers in WRITERS {
        let appends = rate(writers, step, {
            let store = store.clone();
            move || {
                let store = store.clone();
                async move {
                    store.append(new_request(&new_stream_id(), ExpectedVersion::NoStream, 1)).await.expect("append");
                }
            }
        })
        .await;
        let raw = rate(writers, step, {
            let pool = pool.clone();
            move || {
                let pool = pool.clone();
                async move { raw_insert(&pool).await }
            }
        })
        .await;
        println!("{writers:>8} {appends:>14.0} {raw:>14.0} {:>7.0}%", 100.0 * appends / raw);
        rows.push(json!({ "writers": writers, "appends_per_second": appends, "raw_inserts_per_second": raw, "ratio": appends / raw }));
    }

    let head = store.head().await.expect("head");
    let started = Instant::now();
    let mut after = 0;
    while after < head {
        let events = store.read_all(after, 1000).await.expect("read all");
        after = events.last().map_or(head, |e| e.position);
    }
    let read_rate = head as f64 / started.elapsed().as_secs_f64();
    println!("read_all: {head} events at {read_rate:.0} events/s (batches of 1000)");
    let report =
        json!({ "step_seconds": seconds, "append": rows, "read_all_events_per_second": read_rate, "events": head });
    println!("{report}");

    pool.close().await;
}

/// Runs `op` from `writers` concurrent tasks for `step`; operations per second.
async fn rate<F, Fut>(writers: usize, step: Duration, op: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + step;
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (op, done) = (op.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    op().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("writer");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// One autocommitted INSERT of a row shaped like a stored single-event append.
async fn raw_insert(pool: &PgPool) {
    let event = &new_request(&new_stream_id(), ExpectedVersion::NoStream, 1).events[0];
    sqlx::query(
        "INSERT INTO bench_raw (position, event_id, stream_id, version, event_type, schema_version, payload, owner, \
         command_id, correlation_id, causation_id, traceparent, recorded_at, hash) \
         VALUES (nextval('bench_raw_position'), $1, $2, 1, $3, 1, $4, $5, $6, $7, NULL, NULL, now(), $8)",
    )
    .bind(event.event_id)
    .bind(new_stream_id())
    .bind(&event.event_type)
    .bind(&event.payload)
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind(vec![7u8; 32])
    .execute(pool)
    .await
    .expect("raw insert");
}
