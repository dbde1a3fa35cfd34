//! A transaction abandoned while it holds the position lock stalls every writer (ADR 0001)
//! until PostgreSQL's `idle_in_transaction_session_timeout` ends it. This measures the stall
//! and shows the abandoned append leaves nothing behind: positions stay dense.

use cashflow_eventstore::contract::{new_request, new_stream_id};
use cashflow_eventstore::{EventStore, ExpectedVersion, PgEventStore};
use cashflow_testkit::TestDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_append_is_cut_off_by_the_idle_timeout_and_writers_resume() {
    let database = TestDatabase::create().await;
    let options = PgConnectOptions::from_str(database.url())
        .expect("url")
        .options([("idle_in_transaction_session_timeout", "1s")]);
    let pool = PgPoolOptions::new().max_connections(4).connect_with(options).await.expect("connect");
    PgEventStore::migrate(&pool).await.expect("migrate");
    let store = PgEventStore::new(pool.clone());

    // A writer takes the position lock and then goes silent inside its transaction.
    let mut abandoned = pool.begin().await.expect("begin");
    store
        .append_in(&mut abandoned, new_request(&new_stream_id(), ExpectedVersion::NoStream, 1))
        .await
        .expect("append inside the abandoned transaction");

    let started = Instant::now();
    let blocked = {
        let store = store.clone();
        tokio::spawn(async move { store.append(new_request(&new_stream_id(), ExpectedVersion::NoStream, 1)).await })
    };
    let outcome = tokio::time::timeout(Duration::from_secs(60), blocked)
        .await
        .expect("the idle timeout must end the stall")
        .expect("task")
        .expect("the waiting append succeeds once the abandoned session is gone");
    let stall = started.elapsed();
    eprintln!("writers stalled {} ms behind an abandoned transaction (idle timeout 1 s)", stall.as_millis());

    // The abandoned transaction was rolled back by the server: its position was never used.
    assert!(abandoned.commit().await.is_err(), "the abandoned session must have been terminated");
    assert_eq!(outcome.position, 1);
    assert_eq!(store.head().await.expect("head"), 1);
    let events = store.read_all(0, 10).await.expect("read all");
    assert_eq!(events.len(), 1);

    pool.close().await;
}
