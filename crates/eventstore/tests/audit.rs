//! The global chain as PostgreSQL writes it, from both append paths, and the whole-store audit.

mod support;

use cashflow_eventstore::contract::{new_request, new_stream_id};
use cashflow_eventstore::hash::{self, GENESIS};
use cashflow_eventstore::{EventStore, ExpectedVersion, PgEventStore};
use sqlx::{PgPool, Row};

/// Every row's position, stream hash and global hash, in position order.
async fn chain_rows(pool: &PgPool) -> Vec<(u64, [u8; 32], Option<[u8; 32]>)> {
    sqlx::query("SELECT position, hash, global_hash FROM events ORDER BY position")
        .fetch_all(pool)
        .await
        .expect("read the chain")
        .iter()
        .map(|row| {
            let hash: Vec<u8> = row.get("hash");
            let global: Option<Vec<u8>> = row.get("global_hash");
            (
                row.get::<i64, _>("position") as u64,
                hash.try_into().expect("32 bytes"),
                global.map(|global| global.try_into().expect("32 bytes")),
            )
        })
        .collect()
}

async fn head_global(pool: &PgPool) -> Option<[u8; 32]> {
    let global: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT global_hash FROM event_store_head").fetch_one(pool).await.expect("read the head");
    global.map(|global| global.try_into().expect("32 bytes"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_and_single_appends_write_one_global_chain() {
    support::with_store(|store: PgEventStore| async move {
        // Batches through the group-commit writer and single appends in transactions of their
        // own (one with two appends), all at once, so their commits interleave.
        let tasks: Vec<_> = (0..16)
            .map(|task| {
                let store = store.clone();
                tokio::spawn(async move {
                    for round in 0..6 {
                        let events = 1 + (task + round) % 3;
                        if task % 2 == 0 {
                            store
                                .append(new_request(&new_stream_id(), ExpectedVersion::NoStream, events))
                                .await
                                .unwrap();
                        } else {
                            let mut transaction = store.pool().begin().await.unwrap();
                            for _ in 0..1 + round % 2 {
                                let request = new_request(&new_stream_id(), ExpectedVersion::NoStream, events);
                                store.append_in(&mut transaction, request).await.unwrap();
                            }
                            transaction.commit().await.unwrap();
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }

        let rows = chain_rows(store.pool()).await;
        assert!(rows.len() > 100, "{} events", rows.len());
        let mut previous = GENESIS;
        for (position, stream_hash, global) in &rows {
            let expected = hash::global_chain(&previous, *position, stream_hash);
            assert_eq!(*global, Some(expected), "the global hash at position {position}");
            previous = expected;
        }
        assert_eq!(head_global(store.pool()).await, Some(previous), "the head holds the chain's tip");

        let report = store.audit(&[]).await.unwrap();
        assert!(report.ok(), "{:?}", report.findings);
        assert_eq!((report.events, report.head, report.global_from), (rows.len() as u64, rows.len() as u64, Some(1)));
        assert_eq!(report.tip(), Some((rows.len() as u64, previous)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_from_before_the_global_chain_verifies_and_the_chain_starts_at_its_next_event() {
    support::with_store(|store: PgEventStore| async move {
        for _ in 0..3 {
            store.append(new_request(&new_stream_id(), ExpectedVersion::NoStream, 2)).await.unwrap();
        }
        // As migration 0002 finds a database written before it.
        sqlx::query("UPDATE events SET global_hash = NULL").execute(store.pool()).await.unwrap();
        sqlx::query("UPDATE event_store_head SET global_hash = NULL").execute(store.pool()).await.unwrap();
        let report = store.audit(&[]).await.unwrap();
        assert!(report.ok(), "{:?}", report.findings);
        assert_eq!((report.global_from, report.tip()), (None, None));

        let stream = new_stream_id();
        store.append(new_request(&stream, ExpectedVersion::NoStream, 1)).await.unwrap();
        let mut transaction = store.pool().begin().await.unwrap();
        store.append_in(&mut transaction, new_request(&stream, ExpectedVersion::Exact(1), 2)).await.unwrap();
        transaction.commit().await.unwrap();
        let rows = chain_rows(store.pool()).await;
        let first = hash::global_chain(&GENESIS, 7, &rows[6].1);
        assert_eq!(rows[6].2, Some(first), "the chain starts from zero bytes at the first new event");
        let report = store.audit(&[7, 9]).await.unwrap();
        assert!(report.ok(), "{:?}", report.findings);
        assert_eq!(report.global_from, Some(7));
        assert_eq!(report.anchored[&7], Some(first));
        assert_eq!(report.anchored[&9], rows[8].2);
    })
    .await;
}
