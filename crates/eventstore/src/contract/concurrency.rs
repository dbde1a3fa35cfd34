//! Contract cases with writers and readers at once: batched outcomes, neighbours, tails.

use super::*;

pub async fn concurrent_writers_and_a_tailing_reader_see_every_position_once<S: EventStore>(store: S) {
    const WRITERS: u64 = 16;
    const APPENDS: u64 = 50;
    // Writer `w`'s appends carry 1 + (w % 2) events each.
    let total: u64 = (0..WRITERS).map(|writer| APPENDS * (1 + writer % 2)).sum();
    let store = Arc::new(store);

    let reader = tokio::spawn({
        let store = store.clone();
        async move {
            let mut seen = 0u64;
            let mut ids = Vec::new();
            while seen < total {
                let events = store.read_all(seen, 64).await.unwrap();
                if events.is_empty() {
                    store.wait_for_events(seen, Duration::from_secs(1)).await.unwrap();
                }
                for event in events {
                    assert_eq!(event.position, seen + 1, "the reader skipped or repeated a position");
                    seen = event.position;
                    ids.push(event.event_id);
                }
            }
            ids
        }
    });

    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = new_stream_id();
                let mut version = 0;
                let mut ids = Vec::new();
                for _ in 0..APPENDS {
                    let request = new_request(&stream, ExpectedVersion::Exact(version), 1 + (writer % 2) as usize);
                    ids.extend(request.events.iter().map(|e| e.event_id));
                    version = store.append(request).await.unwrap().stream_version;
                }
                ids
            })
        })
        .collect();
    let mut written = HashSet::new();
    for writer in writers {
        written.extend(writer.await.unwrap());
    }

    let read = tokio::time::timeout(LIVENESS, reader).await.expect("the reader never caught up").unwrap();
    assert_eq!(read.len() as u64, total);
    assert_eq!(read.iter().copied().collect::<HashSet<_>>(), written, "the reader saw exactly the written events");
    assert_eq!(store.head().await.unwrap(), total);
    assert!(store.read_all(total, 10).await.unwrap().is_empty());
}

/// What one task of [`concurrent_appends_each_get_their_own_outcome`] did and saw.
#[derive(Default)]
struct Ledger {
    /// Appends that wrote: the request and its outcome.
    written: Vec<(AppendRequest, AppendOutcome)>,
    /// Appends refused with a conflict.
    refused: Vec<AppendRequest>,
}

/// Many concurrent appends (group commit puts them in shared transactions) with a mix of
/// fresh streams, appends at the right version, stale appends, appends of no events,
/// contended `Any` appends on shared streams and idempotent retries: each gets its own
/// answer, as if it were alone, and the log stays dense, atomic and chained.
pub async fn concurrent_appends_each_get_their_own_outcome<S: EventStore>(store: S) {
    const TASKS: usize = 64;
    const OPERATIONS: usize = 50;
    const SHARED: usize = 8;
    let store = Arc::new(store);
    let shared: Arc<Vec<String>> = Arc::new((0..SHARED).map(|_| new_stream_id()).collect());
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (store, shared, barrier) = (store.clone(), shared.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let mut ledger = Ledger::default();
                let home = new_stream_id();
                let mut version = 0u64;
                for operation in 0..OPERATIONS {
                    match (task + operation) % 6 {
                        // A fresh stream.
                        0 => {
                            let request = new_request(&new_stream_id(), ExpectedVersion::NoStream, 1 + operation % 2);
                            let outcome = store.append(request.clone()).await.unwrap();
                            assert_eq!(
                                (outcome.stream_version, outcome.replayed),
                                (request.events.len() as u64, false)
                            );
                            ledger.written.push((request, outcome));
                        }
                        // The task's own stream at the right version, sometimes with no events.
                        1 | 2 => {
                            let count = if operation % 7 == 0 { 0 } else { 1 + operation % 3 };
                            let request = new_request(&home, ExpectedVersion::Exact(version), count);
                            let outcome = store.append(request.clone()).await.unwrap();
                            version += count as u64;
                            assert_eq!((outcome.stream_version, outcome.replayed), (version, false));
                            ledger.written.push((request, outcome));
                        }
                        // A stale version: a conflict at the real version, and nothing written.
                        3 => {
                            let stale =
                                if version == 0 { ExpectedVersion::Exact(7) } else { ExpectedVersion::NoStream };
                            let request = new_request(&home, stale, 1);
                            assert_conflict(store.append(request.clone()).await, &home, version);
                            ledger.refused.push(request);
                        }
                        // A retry of an earlier append: its first answer.
                        4 => {
                            let earlier = ledger.written.get(operation * 7 % ledger.written.len().max(1)).cloned();
                            if let Some((request, first)) = earlier {
                                let again = store.append(request).await.unwrap();
                                assert_eq!(again, AppendOutcome { replayed: true, ..first });
                            }
                        }
                        // A stream every task writes to, expecting any version.
                        _ => {
                            let request = new_request(&shared[(task + operation) % SHARED], ExpectedVersion::Any, 1);
                            let outcome = store.append(request.clone()).await.unwrap();
                            assert!(!outcome.replayed && outcome.stream_version >= 1);
                            ledger.written.push((request, outcome));
                        }
                    }
                }
                ledger
            })
        })
        .collect();
    let mut written = Vec::new();
    let mut refused = Vec::new();
    for task in tasks {
        let ledger = task.await.unwrap();
        written.extend(ledger.written);
        refused.extend(ledger.refused);
    }

    let total: u64 = written.iter().map(|(request, _)| request.events.len() as u64).sum();
    assert_eq!(store.head().await.unwrap(), total, "refused appends take no positions");
    let all = store.read_all(0, total as usize + 10).await.unwrap();
    assert_eq!(all.iter().map(|e| e.position).collect::<Vec<_>>(), (1..=total).collect::<Vec<_>>(), "dense");

    // Each append's events are stored together, in order, ending at its reported position.
    for (request, outcome) in &written {
        let count = request.events.len() as u64;
        if count == 0 {
            assert!(outcome.position <= total);
            continue;
        }
        let stored = &all[(outcome.position - count) as usize..outcome.position as usize];
        for ((event, new), version) in stored.iter().zip(&request.events).zip(outcome.stream_version - count + 1..) {
            assert_eq!(event.event_id, new.event_id);
            assert_eq!((event.stream_id.as_str(), event.version), (request.stream_id.as_str(), version));
            assert_eq!(event.command_id, request.metadata.command_id);
        }
        assert_eq!(
            store.find_command(request.metadata.owner, request.metadata.command_id).await.unwrap(),
            Some(AppendOutcome { replayed: true, ..outcome.clone() })
        );
    }
    let stored_ids: HashSet<Uuid> = all.iter().map(|e| e.event_id).collect();
    for request in &refused {
        assert!(request.events.iter().all(|e| !stored_ids.contains(&e.event_id)), "a refused append wrote events");
        assert_eq!(store.find_command(request.metadata.owner, request.metadata.command_id).await.unwrap(), None);
    }

    // Every shared stream took each version once, and every stream's chain verifies.
    let streams: HashSet<&str> = all.iter().map(|e| e.stream_id.as_str()).collect();
    for stream in streams {
        let events = store.read_stream(stream).await.unwrap();
        assert_eq!(events.iter().map(|e| e.version).collect::<Vec<_>>(), (1..=events.len() as u64).collect::<Vec<_>>());
        assert!(hash::verify(&events).ok, "the chain of {stream} does not verify");
    }
    for stream in shared.iter() {
        let mut versions: Vec<u64> = written
            .iter()
            .filter(|(request, _)| &request.stream_id == stream)
            .map(|(_, outcome)| outcome.stream_version)
            .collect();
        versions.sort_unstable();
        assert_eq!(
            versions,
            (1..=versions.len() as u64).collect::<Vec<_>>(),
            "each version of {stream} went to one append"
        );
    }
}

/// Fresh appends, stale appends and retries started at the same instant (so a batching
/// adapter commits them together): the conflicts and replays are theirs alone, and their
/// neighbours are written as if alone.
pub async fn a_conflict_or_replay_does_not_fail_its_neighbours<S: EventStore>(store: S) {
    const EACH: usize = 16;
    let store = Arc::new(store);
    let mut existing = Vec::new();
    let mut stored = Vec::new();
    for _ in 0..EACH {
        let stream = new_stream_id();
        store.append(new_request(&stream, ExpectedVersion::NoStream, 1)).await.unwrap();
        existing.push(stream);
        let request = new_request(&new_stream_id(), ExpectedVersion::NoStream, 2);
        let outcome = store.append(request.clone()).await.unwrap();
        stored.push((request, outcome));
    }
    let before = store.head().await.unwrap();

    enum Expect {
        Fresh(usize),
        Conflict(String),
        Replay(AppendOutcome),
    }
    let mut work = Vec::new();
    for index in 0..EACH {
        work.push((
            new_request(&new_stream_id(), ExpectedVersion::NoStream, 1 + index % 3),
            Expect::Fresh(1 + index % 3),
        ));
        work.push((
            new_request(&existing[index], ExpectedVersion::NoStream, 1),
            Expect::Conflict(existing[index].clone()),
        ));
        let (request, outcome) = stored[index].clone();
        work.push((request, Expect::Replay(AppendOutcome { replayed: true, ..outcome })));
    }
    let barrier = Arc::new(Barrier::new(work.len()));
    let tasks: Vec<_> = work
        .into_iter()
        .map(|(request, expect)| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                (request.clone(), expect, store.append(request).await)
            })
        })
        .collect();
    let mut fresh = Vec::new();
    for task in tasks {
        let (request, expect, result) = task.await.unwrap();
        match expect {
            Expect::Fresh(count) => {
                let outcome = result.expect("a fresh append next to conflicts and replays succeeds");
                assert_eq!((outcome.stream_version, outcome.replayed), (count as u64, false));
                fresh.push((request, outcome));
            }
            Expect::Conflict(stream) => assert_conflict(result, &stream, 1),
            Expect::Replay(first) => assert_eq!(result.unwrap(), first),
        }
    }

    let added: u64 = fresh.iter().map(|(request, _)| request.events.len() as u64).sum();
    assert_eq!(store.head().await.unwrap(), before + added);
    let all = store.read_all(0, 1_000).await.unwrap();
    assert_eq!(all.iter().map(|e| e.position).collect::<Vec<_>>(), (1..=before + added).collect::<Vec<_>>());
    for (request, outcome) in &fresh {
        let events = store.read_stream(&request.stream_id).await.unwrap();
        assert_eq!(
            events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
            request.events.iter().map(|e| e.event_id).collect::<Vec<_>>()
        );
        assert_eq!(events.last().map(|e| e.position), Some(outcome.position));
        assert!(hash::verify(&events).ok);
    }
    for stream in &existing {
        assert_eq!(store.read_stream(stream).await.unwrap().len(), 1, "a conflicting append wrote nothing");
    }
}
