//! Contract cases for guards: appends that commit only while other streams stay put.

use super::*;

/// A guard names another stream's version: the append commits while it holds, and conflicts
/// naming that stream (writing nothing, keeping no key) once the stream moved.
pub async fn a_guarded_append_commits_only_while_its_guards_hold<S: EventStore>(store: S) {
    let account = new_stream_id();
    store.append(new_request(&account, ExpectedVersion::NoStream, 1)).await.unwrap();
    let held = StreamGuard { stream_id: account.clone(), version: 1 };
    let mut guarded = new_request(&new_stream_id(), ExpectedVersion::NoStream, 1);
    guarded.guards = vec![held.clone(), StreamGuard { stream_id: new_stream_id(), version: 0 }];
    assert_eq!(store.append(guarded).await.unwrap().stream_version, 1);

    store.append(new_request(&account, ExpectedVersion::Exact(1), 1)).await.unwrap();
    let head = store.head().await.unwrap();
    let mut stale = new_request(&new_stream_id(), ExpectedVersion::NoStream, 2);
    stale.guards = vec![held];
    assert_conflict(store.append(stale.clone()).await, &account, 2);
    let mut absent = new_request(&new_stream_id(), ExpectedVersion::NoStream, 1);
    absent.guards = vec![StreamGuard { stream_id: account.clone(), version: 0 }];
    assert_conflict(store.append(absent).await, &account, 2);
    assert!(store.read_stream(&stale.stream_id).await.unwrap().is_empty());
    assert_eq!(store.head().await.unwrap(), head);
    assert_eq!(store.find_command(stale.metadata.owner, stale.metadata.command_id).await.unwrap(), None);

    // Decided again on the fresh version, the same command appends.
    let retried = AppendRequest { guards: vec![StreamGuard { stream_id: account, version: 2 }], ..stale };
    let outcome = store.append(retried).await.unwrap();
    assert_eq!((outcome.stream_version, outcome.position, outcome.replayed), (2, head + 2, false));
}

/// Appends guarded on one stream, started at the same instant as a write to it (so a batching
/// adapter sees them together): each guarded append either commits before the write and
/// holds, or is refused; none commits on the moved stream.
pub async fn guarded_appends_in_one_batch_with_a_write_to_their_guard_are_each_right<S: EventStore>(store: S) {
    const GUARDED: usize = 12;
    let store = Arc::new(store);
    let account = new_stream_id();
    store.append(new_request(&account, ExpectedVersion::NoStream, 1)).await.unwrap();
    let barrier = Arc::new(Barrier::new(GUARDED + 1));
    let mut tasks = Vec::new();
    for _ in 0..GUARDED {
        let mut request = new_request(&new_stream_id(), ExpectedVersion::NoStream, 1);
        request.guards = vec![StreamGuard { stream_id: account.clone(), version: 1 }];
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            (request.clone(), store.append(request).await)
        }));
    }
    let close = {
        let (store, barrier, account) = (store.clone(), barrier.clone(), account.clone());
        tokio::spawn(async move {
            barrier.wait().await;
            store.append(new_request(&account, ExpectedVersion::Exact(1), 1)).await
        })
    };
    let closed_at = close.await.unwrap().expect("the write to the guarded stream").position;
    for task in tasks {
        let (request, result) = task.await.unwrap();
        match result {
            Ok(outcome) => assert!(outcome.position < closed_at, "a guarded append committed after its guard moved"),
            Err(error) => {
                assert_conflict(Err(error), &account, 2);
                assert!(store.read_stream(&request.stream_id).await.unwrap().is_empty());
            }
        }
    }
}
