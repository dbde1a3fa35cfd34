//! Against the real PostgreSQL, each test on a database of its own.

use super::*;

const PASSWORD: &str = "orange-kettle-sings";

struct TestDb {
    pool: PgPool,
    _database: cashflow_testkit::TestDatabase,
}

impl TestDb {
    async fn new() -> Self {
        let database = cashflow_testkit::TestDatabase::create().await;
        let pool = database.pool(10).await;
        migrate(&pool).await.unwrap();
        migrate(&pool).await.expect("migrations are idempotent");
        Self { pool, _database: database }
    }

    async fn drop(self) {
        self.pool.close().await;
    }
}

#[test]
fn emails_are_normalised_and_checked() {
    assert_eq!(normalise_email("  Alice@Example.COM ").unwrap(), "alice@example.com");
    for bad in ["", "alice", "alice@", "@example.com", "a@b@c.com", "a b@c.com", "a@localhost", "a@x.com\0", "a@.com"] {
        assert!(normalise_email(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn register_then_login_with_the_right_password_only() {
    let db = TestDb::new().await;
    let identity = Identity::new(db.pool.clone()).unwrap();
    let user = identity.register("Alice@Example.com", PASSWORD, "Alice").await.unwrap();
    assert!(matches!(identity.register("alice@example.com ", PASSWORD, "Eve").await, Err(IdentityError::EmailTaken)));
    assert!(matches!(identity.register("bob@example.com", "short", "Bob").await, Err(IdentityError::WeakPassword(_))));

    let session = identity.login("ALICE@example.com", PASSWORD).await.unwrap();
    assert_eq!(session.user_id, user);
    assert_eq!(session.refresh_token.len(), 64);
    assert!(matches!(
        identity.login("alice@example.com", "orange-kettle-sang").await,
        Err(IdentityError::InvalidCredentials)
    ));
    assert!(matches!(identity.login("nobody@example.com", PASSWORD).await, Err(IdentityError::InvalidCredentials)));

    // Neither the password nor the refresh token is stored as given.
    let stored: String =
        sqlx::query("SELECT password_hash FROM identity_users").fetch_one(&db.pool).await.unwrap().get(0);
    assert!(stored.starts_with("$argon2id$") && !stored.contains(PASSWORD));
    let hashes: Vec<Vec<u8>> = sqlx::query("SELECT token_hash FROM identity_refresh_tokens")
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(hashes, vec![Sha256::digest(session.refresh_token.as_bytes()).to_vec()]);
    db.drop().await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let db = TestDb::new().await;
    let identity = Identity::new(db.pool.clone()).unwrap();
    let user = identity.register("carol@example.com", PASSWORD, "Carol").await.unwrap();
    let first = identity.login("carol@example.com", PASSWORD).await.unwrap();
    let other_device = identity.login("carol@example.com", PASSWORD).await.unwrap();
    let second = identity.refresh(&first.refresh_token).await.unwrap();
    assert_eq!((second.user_id, second.family_id), (user, first.family_id));
    assert_ne!(second.refresh_token, first.refresh_token);
    let third = identity.refresh(&second.refresh_token).await.unwrap();

    // The first token again: theft. The family dies, the newest token with it.
    match identity.refresh(&first.refresh_token).await {
        Err(IdentityError::RefreshTokenReused { user_id, family_id }) => {
            assert_eq!((user_id, family_id), (user, first.family_id));
        }
        other => panic!("expected reuse detection, got {other:?}"),
    }
    assert!(matches!(identity.refresh(&third.refresh_token).await, Err(IdentityError::InvalidRefreshToken)));
    // Another login's family is untouched.
    assert!(identity.refresh(&other_device.refresh_token).await.is_ok());
    assert!(matches!(identity.refresh("not-a-token").await, Err(IdentityError::InvalidRefreshToken)));
    db.drop().await;
}

#[tokio::test]
async fn logout_revokes_the_family_and_expired_tokens_are_refused() {
    let db = TestDb::new().await;
    let identity = Identity::new(db.pool.clone()).unwrap();
    identity.register("dan@example.com", PASSWORD, "Dan").await.unwrap();
    let session = identity.login("dan@example.com", PASSWORD).await.unwrap();
    let next = identity.refresh(&session.refresh_token).await.unwrap();
    identity.logout(&next.refresh_token).await.unwrap();
    assert!(matches!(identity.refresh(&next.refresh_token).await, Err(IdentityError::InvalidRefreshToken)));
    assert!(matches!(identity.logout("unknown").await, Err(IdentityError::InvalidRefreshToken)));

    let short = identity.clone().with_refresh_ttl(Duration::from_millis(1));
    let session = short.login("dan@example.com", PASSWORD).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(matches!(identity.refresh(&session.refresh_token).await, Err(IdentityError::InvalidRefreshToken)));
    db.drop().await;
}

/// A token row as the first release wrote it: no family row.
async fn issue_without_family(pool: &PgPool, user: Uuid, family: Uuid, spent: bool, revoked: bool) -> String {
    let token = new_refresh_token().unwrap();
    sqlx::query(
        "INSERT INTO identity_refresh_tokens (token_hash, family_id, user_id, expires_at, spent_at, revoked_at)
         VALUES ($1, $2, $3, now() + interval '1 day', CASE WHEN $4 THEN now() END, CASE WHEN $5 THEN now() END)",
    )
    .bind(token_hash(&token))
    .bind(family)
    .bind(user)
    .bind(spent)
    .bind(revoked)
    .execute(pool)
    .await
    .unwrap();
    token
}

#[tokio::test]
async fn families_issued_before_their_table_keep_working_and_stay_revoked() {
    let database = cashflow_testkit::TestDatabase::create().await;
    let pool = database.pool(4).await;
    schema::migrate_to(&pool, 1).await.unwrap();
    let identity = Identity::new(pool.clone()).unwrap();
    let user = identity.register("hal@example.com", PASSWORD, "Hal").await.unwrap();
    let live = issue_without_family(&pool, user, Uuid::now_v7(), false, false).await;
    let logged_out = issue_without_family(&pool, user, Uuid::now_v7(), false, true).await;
    // A reuse whose revocation a racing refresh escaped: spent, revoked, and one left live.
    let raced = Uuid::now_v7();
    issue_without_family(&pool, user, raced, true, true).await;
    let escaped = issue_without_family(&pool, user, raced, false, false).await;

    migrate(&pool).await.unwrap();
    let families: i64 =
        sqlx::query_scalar("SELECT count(*) FROM identity_refresh_families").fetch_one(&pool).await.unwrap();
    assert_eq!(families, 3);
    let next = identity.refresh(&live).await.unwrap();
    assert!(matches!(identity.refresh(&live).await, Err(IdentityError::RefreshTokenReused { .. })));
    assert!(matches!(identity.refresh(&next.refresh_token).await, Err(IdentityError::InvalidRefreshToken)));
    assert!(matches!(identity.refresh(&logged_out).await, Err(IdentityError::InvalidRefreshToken)));
    assert!(matches!(identity.refresh(&escaped).await, Err(IdentityError::InvalidRefreshToken)));

    // A login by the previous release during a rolling upgrade: its family's row comes on first use.
    let family = Uuid::now_v7();
    let late = issue_without_family(&pool, user, family, false, false).await;
    let next = identity.refresh(&late).await.unwrap();
    assert_eq!(next.family_id, family);
    assert!(matches!(identity.refresh(&late).await, Err(IdentityError::RefreshTokenReused { .. })));
    assert!(matches!(identity.refresh(&next.refresh_token).await, Err(IdentityError::InvalidRefreshToken)));
    let revoked: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT revoked_at FROM identity_refresh_families WHERE family_id = $1")
            .bind(family)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(revoked.is_some());
    pool.close().await;
}

#[tokio::test]
async fn hashing_beyond_the_permits_is_refused_at_once_and_a_bad_email_needs_none() {
    let db = TestDb::new().await;
    let identity = Identity::new(db.pool.clone()).unwrap().with_hash_concurrency(1);
    identity.register("eve@example.com", PASSWORD, "Eve").await.unwrap();
    let held = identity.permit().unwrap();
    assert!(matches!(identity.login("eve@example.com", PASSWORD).await, Err(IdentityError::Busy)));
    assert!(matches!(identity.register("fay@example.com", PASSWORD, "Fay").await, Err(IdentityError::Busy)));
    assert!(matches!(identity.login("nobody@example.com", PASSWORD).await, Err(IdentityError::Busy)), "the dummy too");
    // Checked before a permit is asked for.
    match identity.login("not an email", PASSWORD).await {
        Err(IdentityError::Invalid { field: "email", .. }) => {}
        other => panic!("expected the email refused, got {other:?}"),
    }
    assert!(matches!(identity.register("fay@example.com", "short", "Fay").await, Err(IdentityError::WeakPassword(_))));
    drop(held);
    identity.login("eve@example.com", PASSWORD).await.expect("a free permit");
    db.drop().await;
}

mod races;
