//! PostgreSQL-only behaviour: commits out of order, tampering in the database, JSONB round
//! trips, the LISTEN connection dying, and concurrent set-up.

mod support;

use cashflow_eventstore::contract::{new_request, new_stream_id};
use cashflow_eventstore::postgres::{create_database_if_missing, drop_database};
use cashflow_eventstore::{EventStore, ExpectedVersion, PgEventStore, StreamGuard, hash};
use cashflow_testkit::{TestDatabase, connect};
use serde_json::json;
use sqlx::{PgPool, Row};
use std::time::Duration;

/// Generous bound for things that must happen; only a bug makes a test hit it.
const LIVENESS: Duration = Duration::from_secs(60);

/// Polls until `condition` holds; panics after [`LIVENESS`].
async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let waited = tokio::time::timeout(LIVENESS, async {
        while !condition().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting until {what}");
}

async fn sessions_waiting_on_a_lock(pool: &PgPool) -> i64 {
    sqlx::query(
        "SELECT count(*) AS waiting FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(pool)
    .await
    .and_then(|row| row.try_get("waiting"))
    .unwrap()
}

/// Tails the store from 0 until `total` events, asserting it never skips or repeats a position.
fn tail(store: PgEventStore, total: u64) -> tokio::task::JoinHandle<Vec<cashflow_eventstore::RecordedEvent>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while (seen.len() as u64) < total {
            let after = seen.len() as u64;
            let events = store.read_all(after, 10).await.unwrap();
            if events.is_empty() {
                store.wait_for_events(after, Duration::from_secs(1)).await.unwrap();
            }
            for event in events {
                assert_eq!(event.position, seen.len() as u64 + 1, "the tailing reader skipped a position");
                seen.push(event);
            }
        }
        seen
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_never_skips_an_append_that_commits_late() {
    support::with_store(|store| async move {
        let pool = store.pool().clone();
        let tailer = tail(store.clone(), 3);

        // The first append takes positions 1 and 2 in a transaction left open…
        let first = new_request(&new_stream_id(), ExpectedVersion::NoStream, 2);
        let mut transaction = pool.begin().await.unwrap();
        let first_outcome = store.append_in(&mut transaction, first.clone()).await.unwrap();
        assert_eq!(first_outcome.position, 2);

        // …while a second append, on another stream, starts and must queue behind it.
        let second = new_request(&new_stream_id(), ExpectedVersion::NoStream, 1);
        let writer = tokio::spawn({
            let (store, second) = (store.clone(), second.clone());
            async move { store.append(second).await }
        });
        wait_until("the second append waits on the first", || async { sessions_waiting_on_a_lock(&pool).await > 0 })
            .await;
        assert!(!writer.is_finished(), "the second append cannot commit before the first");

        assert!(store.read_all(0, 100).await.unwrap().is_empty(), "a reader sees neither while the first is open");
        assert_eq!(store.head().await.unwrap(), 0);
        assert!(!tailer.is_finished());

        transaction.commit().await.unwrap();
        let second_outcome = writer.await.unwrap().unwrap();
        assert_eq!(second_outcome.position, 3, "the later commit gets the later position");

        let all = store.read_all(0, 100).await.unwrap();
        assert_eq!(all.iter().map(|e| e.position).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(all[0].event_id, first.events[0].event_id);
        assert_eq!(all[1].event_id, first.events[1].event_id);
        assert_eq!(all[2].event_id, second.events[0].event_id);

        let tailed = tokio::time::timeout(LIVENESS, tailer).await.expect("the tailing reader never caught up").unwrap();
        assert_eq!(tailed, all);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_append_in_leaves_no_trace() {
    support::with_store(|store| async move {
        let request = new_request(&new_stream_id(), ExpectedVersion::NoStream, 2);
        let mut transaction = store.pool().begin().await.unwrap();
        store.append_in(&mut transaction, request.clone()).await.unwrap();
        transaction.rollback().await.unwrap();

        assert_eq!(store.head().await.unwrap(), 0);
        assert_eq!(store.find_command(request.metadata.owner, request.metadata.command_id).await.unwrap(), None);
        let outcome = store.append(request).await.unwrap();
        assert_eq!((outcome.position, outcome.replayed), (2, false));
    })
    .await;
}

/// The single-append path (not the batch) answers a retry with its first run's stream too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_in_answers_a_retry_with_the_stream_its_first_run_wrote_to() {
    support::with_store(|store| async move {
        let created = new_stream_id();
        let request = new_request(&created, ExpectedVersion::NoStream, 1);
        let mut transaction = store.pool().begin().await.unwrap();
        store.append_in(&mut transaction, request.clone()).await.unwrap();
        transaction.commit().await.unwrap();

        let retry = cashflow_eventstore::AppendRequest { stream_id: new_stream_id(), ..request };
        let mut transaction = store.pool().begin().await.unwrap();
        let replayed = store.append_in(&mut transaction, retry).await.unwrap();
        transaction.rollback().await.unwrap();
        assert_eq!((replayed.stream_id, replayed.stream_version, replayed.replayed), (created, 1, true));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_altered_in_the_database_fails_verification_at_its_version() {
    support::with_store(|store| async move {
        let stream = new_stream_id();
        store.append(new_request(&stream, ExpectedVersion::NoStream, 2)).await.unwrap();
        store.append(new_request(&stream, ExpectedVersion::Exact(2), 2)).await.unwrap();
        assert!(hash::verify(&store.read_stream(&stream).await.unwrap()).ok);

        sqlx::query("UPDATE events SET payload = '{\"name\": \"forged\"}' WHERE stream_id = $1 AND version = 3")
            .bind(&stream)
            .execute(store.pool())
            .await
            .unwrap();
        let verification = hash::verify(&store.read_stream(&stream).await.unwrap());
        assert!(!verification.ok);
        assert_eq!(verification.first_bad_version, Some(3));

        let other = new_stream_id();
        store.append(new_request(&other, ExpectedVersion::NoStream, 3)).await.unwrap();
        sqlx::query("UPDATE events SET recorded_at = recorded_at + interval '1 microsecond' WHERE stream_id = $1 AND version = 2")
            .bind(&other)
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(hash::verify(&store.read_stream(&other).await.unwrap()).first_bad_version, Some(2));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashes_survive_the_jsonb_round_trip() {
    support::with_store(|store| async move {
        let stream = new_stream_id();
        let mut request = new_request(&stream, ExpectedVersion::NoStream, 1);
        // JSONB re-orders keys and re-writes numbers; the chain must not notice.
        request.events[0].payload = json!({
            "zeta": 1, "alpha": {"long key": [3, 2, 1], "k": "v"}, "a": null, "bb": false,
            "small": 1e-7, "large": 1e20, "float": 2.5, "whole float": 5.0, "negative": -42,
            "big": u64::MAX, "text": "quote \" backslash \\ tab \t unicode ü € 😀 \u{1}",
            "amount": "1234.5600", "empty": {}, "list": []
        });
        request.metadata.traceparent = Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
        request.metadata.causation_id = Some(uuid::Uuid::now_v7());
        store.append(request.clone()).await.unwrap();
        let events = store.read_stream(&stream).await.unwrap();
        assert_eq!(events[0].payload, request.events[0].payload);
        assert!(hash::verify(&events).ok, "{:?}", hash::verify(&events));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_events_survives_losing_its_listen_connection() {
    support::with_store(|store| async move {
        // Starts the listener.
        assert_eq!(store.wait_for_events(0, Duration::from_millis(10)).await.unwrap(), 0);
        let listeners = || async {
            sqlx::query(
                "SELECT pid FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'cashflow-eventstore-listener'",
            )
            .fetch_all(store.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<i32, _>("pid").unwrap())
            .collect::<Vec<_>>()
        };
        wait_until("the listener is connected", || async { !listeners().await.is_empty() }).await;
        for pid in listeners().await {
            sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(store.pool()).await.unwrap();
        }

        let waiter = tokio::spawn({
            let store = store.clone();
            async move { store.wait_for_events(0, Duration::from_secs(3_600)).await }
        });
        let outcome = store.append(new_request(&new_stream_id(), ExpectedVersion::NoStream, 1)).await.unwrap();
        let woken = tokio::time::timeout(LIVENESS, waiter).await.expect("no wake-up after the listener died");
        assert_eq!(woken.unwrap().unwrap(), outcome.position);

        // And it listens again: a later append wakes a later waiter too.
        let waiter = tokio::spawn({
            let store = store.clone();
            async move { store.wait_for_events(1, Duration::from_secs(3_600)).await }
        });
        let outcome = store.append(new_request(&new_stream_id(), ExpectedVersion::NoStream, 1)).await.unwrap();
        let woken = tokio::time::timeout(LIVENESS, waiter).await.expect("no wake-up after reconnecting");
        assert_eq!(woken.unwrap().unwrap(), outcome.position);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_up_is_idempotent_and_safe_to_run_concurrently() {
    // Reserved, not created: creating it is what this test is about.
    let database = TestDatabase::reserve();
    let url = database.url().to_owned();
    let creators: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { create_database_if_missing(&url).await })
        })
        .collect();
    for creator in creators {
        creator.await.unwrap().expect("a concurrent creator is tolerated");
    }
    create_database_if_missing(&url).await.expect("an existing database is fine");

    let migrators: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let pool = connect(&url, support::CONNECTIONS).await;
                let result = PgEventStore::migrate(&pool).await;
                pool.close().await;
                result
            })
        })
        .collect();
    let mut failures = Vec::new();
    for migrator in migrators {
        if let Err(error) = migrator.await.unwrap() {
            failures.push(error.to_string());
        }
    }
    let pool = database.pool(support::CONNECTIONS).await;
    let again = PgEventStore::migrate(&pool).await;
    let head = PgEventStore::new(pool.clone()).head().await;
    let applied: i64 = sqlx::query("SELECT count(*) AS applied FROM _sqlx_migrations_eventstore")
        .fetch_one(&pool)
        .await
        .and_then(|row| row.try_get("applied"))
        .unwrap();
    pool.close().await;
    drop_database(&url).await.unwrap();

    assert!(failures.is_empty(), "concurrent migrations failed: {failures:?}");
    again.expect("migrating again is a no-op");
    assert_eq!(head.unwrap(), 0);
    assert_eq!(applied, 4, "every migration, each once");
}

/// The pids of this database's sessions waiting on a lock.
async fn sessions_waiting_on_a_lock_pids(pool: &PgPool) -> Vec<i32> {
    sqlx::query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<i32, _>("pid").unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_loses_a_race_to_another_writer_answers_each_request_on_its_own() {
    support::with_store(|store| async move {
        let pool = store.pool().clone();
        // A writer outside the store's batches takes version 1 of `raced` and the head lock…
        let raced = new_stream_id();
        let mut transaction = pool.begin().await.unwrap();
        store.append_in(&mut transaction, new_request(&raced, ExpectedVersion::NoStream, 1)).await.unwrap();

        // …while an append through the store reads `raced` as empty and waits on the lock to
        // write version 1 too, and more appends queue behind it.
        let loser = new_request(&raced, ExpectedVersion::NoStream, 1);
        let spawn_append = |request| {
            let store = store.clone();
            tokio::spawn(async move { store.append(request).await })
        };
        let mut appends = vec![spawn_append(loser.clone())];
        wait_until("the batch waits on the head lock", || async { sessions_waiting_on_a_lock(&pool).await > 0 }).await;
        appends.extend((0..6).map(|_| spawn_append(new_request(&new_stream_id(), ExpectedVersion::NoStream, 2))));
        transaction.commit().await.unwrap();

        let mut results = Vec::new();
        for append in appends {
            results.push(append.await.unwrap());
        }
        match &results[0] {
            Err(cashflow_eventstore::StoreError::Conflict { actual, .. }) => assert_eq!(*actual, 1),
            other => panic!("the append that lost the version must conflict, got {other:?}"),
        }
        for result in &results[1..] {
            let outcome = result.as_ref().expect("a neighbour of the loser is written");
            assert_eq!((outcome.stream_version, outcome.replayed), (2, false));
        }
        assert_eq!(store.head().await.unwrap(), 1 + 12);
        let all = store.read_all(0, 100).await.unwrap();
        assert_eq!(all.iter().map(|e| e.position).collect::<Vec<_>>(), (1..=13).collect::<Vec<_>>());
        assert_eq!(store.read_stream(&raced).await.unwrap().len(), 1);
        assert_eq!(store.find_command(loser.metadata.owner, loser.metadata.command_id).await.unwrap(), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_connection_dies_answers_unavailable_and_a_retry_appends() {
    support::with_store(|store| async move {
        let pool = store.pool().clone();
        // Hold the head lock so that the store's batches wait inside their last statement.
        let mut transaction = pool.begin().await.unwrap();
        store.append_in(&mut transaction, new_request(&new_stream_id(), ExpectedVersion::NoStream, 1)).await.unwrap();
        let requests: Vec<_> = (0..8).map(|_| new_request(&new_stream_id(), ExpectedVersion::NoStream, 1)).collect();
        let appends: Vec<_> = requests
            .iter()
            .cloned()
            .map(|request| {
                let store = store.clone();
                tokio::spawn(async move { store.append(request).await })
            })
            .collect();
        wait_until("a batch waits on the head lock", || async { sessions_waiting_on_a_lock(&pool).await > 0 }).await;
        for pid in sessions_waiting_on_a_lock_pids(&pool).await {
            sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&pool).await.unwrap();
        }
        transaction.commit().await.unwrap();

        let mut unavailable = 0;
        for (request, append) in requests.iter().zip(appends) {
            match append.await.unwrap() {
                Ok(outcome) => assert!(!outcome.replayed),
                Err(cashflow_eventstore::StoreError::Unavailable(_)) => {
                    unavailable += 1;
                    // The dead batch wrote nothing: the retry appends, it does not replay.
                    let retried = store.append(request.clone()).await.expect("the retry succeeds");
                    assert!(!retried.replayed);
                }
                other => panic!("expected an outcome or Unavailable, got {other:?}"),
            }
        }
        assert!(unavailable > 0, "the batch whose session was terminated answers Unavailable");
        assert_eq!(store.head().await.unwrap(), 1 + 8);
        let all = store.read_all(0, 100).await.unwrap();
        assert_eq!(all.iter().map(|e| e.position).collect::<Vec<_>>(), (1..=9).collect::<Vec<_>>());
    })
    .await;
}

/// The race a cached decision runs: a guarded append reads its guard as holding, then the
/// guarded stream moves (committed by a writer that held the head lock) before the batch's
/// write. The check under the head lock refuses it; its neighbours are written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_that_moves_while_its_batch_waits_on_the_head_lock_is_refused() {
    support::with_store(|store| async move {
        let pool = store.pool().clone();
        let account = new_stream_id();
        store.append(new_request(&account, ExpectedVersion::NoStream, 1)).await.unwrap();
        // A writer outside the store's batches moves the account to version 2 and holds the
        // head lock without committing…
        let mut transaction = pool.begin().await.unwrap();
        store.append_in(&mut transaction, new_request(&account, ExpectedVersion::Exact(1), 1)).await.unwrap();

        // …while a guarded append reads the account at version 1 and waits on the lock, and
        // more appends queue behind it.
        let mut guarded = new_request(&new_stream_id(), ExpectedVersion::NoStream, 1);
        guarded.guards = vec![StreamGuard { stream_id: account.clone(), version: 1 }];
        let spawn_append = |request| {
            let store = store.clone();
            tokio::spawn(async move { store.append(request).await })
        };
        let mut appends = vec![spawn_append(guarded.clone())];
        wait_until("the batch waits on the head lock", || async { sessions_waiting_on_a_lock(&pool).await > 0 }).await;
        appends.extend((0..4).map(|_| spawn_append(new_request(&new_stream_id(), ExpectedVersion::NoStream, 1))));
        transaction.commit().await.unwrap();

        let mut results = Vec::new();
        for append in appends {
            results.push(append.await.unwrap());
        }
        match &results[0] {
            Err(cashflow_eventstore::StoreError::Conflict { stream_id, actual, .. }) => {
                assert_eq!((stream_id, *actual), (&account, 2));
            }
            other => panic!("the append whose guard moved must conflict, got {other:?}"),
        }
        for result in &results[1..] {
            assert!(result.is_ok(), "a neighbour of the refused append is written: {result:?}");
        }
        assert!(store.read_stream(&guarded.stream_id).await.unwrap().is_empty());
        assert_eq!(store.find_command(guarded.metadata.owner, guarded.metadata.command_id).await.unwrap(), None);
        assert_eq!(store.head().await.unwrap(), 2 + 4);
    })
    .await;
}
