//! Revocation racing rotation, 25 tries each: no try may leave a token that still refreshes.
//! Each race runs its two sides on separate worker threads and separate connections.

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};

const TRIES: usize = 25;

async fn identity_with_user(db: &TestDb, email: &str) -> Identity {
    let identity = Identity::new(db.pool.clone()).unwrap();
    identity.register(email, PASSWORD, "Racer").await.unwrap();
    identity
}

/// Whether `token` still buys a session: what a thief holding it would try.
async fn still_refreshes(identity: &Identity, token: &str) -> bool {
    identity.refresh(token).await.is_ok()
}

fn report(test: &str, live: usize) {
    eprintln!("{test}: {live} of {TRIES} tries left a live token");
    assert_eq!(live, 0, "{test}: {live} of {TRIES} tries left a live token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_token_presented_while_its_successor_is_refreshed_leaves_no_live_token() {
    let db = TestDb::new().await;
    let identity = identity_with_user(&db, "erin@example.com").await;
    let mut live = 0;
    for _ in 0..TRIES {
        let first = identity.login("erin@example.com", PASSWORD).await.unwrap();
        let second = identity.refresh(&first.refresh_token).await.unwrap();
        let (reuse, rotation) = {
            let (a, b) = (identity.clone(), identity.clone());
            let (spent, successor) = (first.refresh_token.clone(), second.refresh_token.clone());
            let reuse = tokio::spawn(async move { a.refresh(&spent).await });
            let rotation = tokio::spawn(async move { b.refresh(&successor).await });
            (reuse.await.unwrap(), rotation.await.unwrap())
        };
        assert!(matches!(reuse, Err(IdentityError::RefreshTokenReused { .. })), "{reuse:?}");
        if let Ok(third) = rotation
            && still_refreshes(&identity, &third.refresh_token).await
        {
            live += 1;
        }
    }
    report("reuse racing the successor's refresh", live);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_racing_a_refresh_leaves_no_live_token() {
    let db = TestDb::new().await;
    let identity = identity_with_user(&db, "fay@example.com").await;
    let mut live = 0;
    for _ in 0..TRIES {
        let session = identity.login("fay@example.com", PASSWORD).await.unwrap();
        let (logout, rotation) = {
            let (a, b) = (identity.clone(), identity.clone());
            let (token, same) = (session.refresh_token.clone(), session.refresh_token.clone());
            let logout = tokio::spawn(async move { a.logout(&token).await });
            let rotation = tokio::spawn(async move { b.refresh(&same).await });
            (logout.await.unwrap(), rotation.await.unwrap())
        };
        assert_eq!(logout.unwrap(), session.user_id);
        if let Ok(next) = rotation
            && still_refreshes(&identity, &next.refresh_token).await
        {
            live += 1;
        }
    }
    report("logout racing a refresh", live);
    db.drop().await;
}

/// The thief copied the owner's token and refreshes as fast as it can; the owner presents
/// the (now spent) copy once the thief has rotated it. The thief must end up with nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thief_refreshing_back_to_back_keeps_no_live_token() {
    /// Refreshes the thief makes after the owner's reuse was answered before we call it escaped.
    const AFTER_REVOCATION: usize = 3;
    let db = TestDb::new().await;
    let identity = identity_with_user(&db, "gus@example.com").await;
    let mut live = 0;
    for _ in 0..TRIES {
        let stolen = identity.login("gus@example.com", PASSWORD).await.unwrap().refresh_token;
        let owner_done = Arc::new(AtomicBool::new(false));
        let (rotated, first_rotation) = tokio::sync::oneshot::channel();
        let thief = {
            let (identity, owner_done, mut token) = (identity.clone(), owner_done.clone(), stolen.clone());
            tokio::spawn(async move {
                let mut rotated = Some(rotated);
                let mut after = 0;
                while let Ok(next) = identity.refresh(&token).await {
                    token = next.refresh_token;
                    if let Some(rotated) = rotated.take() {
                        rotated.send(()).unwrap();
                    }
                    if owner_done.load(Ordering::SeqCst) {
                        after += 1;
                        if after == AFTER_REVOCATION {
                            return true;
                        }
                    }
                }
                false
            })
        };
        first_rotation.await.unwrap();
        let reuse = identity.refresh(&stolen).await;
        owner_done.store(true, Ordering::SeqCst);
        assert!(matches!(reuse, Err(IdentityError::RefreshTokenReused { .. })), "{reuse:?}");
        if thief.await.unwrap() {
            live += 1;
        }
    }
    report("a thief refreshing back to back", live);
    db.drop().await;
}
