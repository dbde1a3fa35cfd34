//! The kit keeps its promises: a database exists until dropped, a prefix's stream goes with it,
//! and stamped events carry the positions and versions the store would give them.

use cashflow_domain::UserId;
use cashflow_domain::account::AccountEvent;
use cashflow_testkit::{NATS_URL, NatsPrefix, Stamper, TestDatabase, connect, server_url};

async fn database_exists(name: &str) -> bool {
    let admin = connect(&format!("{}postgres", server_url()), 1).await;
    let exists = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&admin)
        .await
        .expect("look the database up");
    admin.close().await;
    exists
}

#[tokio::test]
async fn a_test_database_exists_until_it_is_dropped_even_with_a_session_open() {
    let database = TestDatabase::create().await;
    let name = database.name().to_owned();
    let pool = database.pool(2).await;
    let current: String = sqlx::query_scalar("SELECT current_database()::text").fetch_one(&pool).await.expect("query");
    assert_eq!(current, name);
    assert!(database.url().ends_with(&name));
    let other = TestDatabase::create().await;
    assert_ne!(other.name(), name, "each test has a database of its own");

    drop(database);
    assert!(!database_exists(&name).await, "{name} is still there");
    assert!(database_exists(other.name()).await);
    // The open session was ended with the database.
    assert!(sqlx::query("SELECT 1").fetch_one(&pool).await.is_err());
}

#[tokio::test]
async fn a_reserved_database_is_not_created_but_is_dropped_if_something_created_it() {
    let database = TestDatabase::reserve();
    let name = database.name().to_owned();
    assert!(!database_exists(&name).await);
    cashflow_eventstore::postgres::create_database_if_missing(database.url()).await.expect("create");
    assert!(database_exists(&name).await);
    drop(database);
    assert!(!database_exists(&name).await);
}

#[tokio::test]
async fn a_prefix_is_unique_and_its_stream_goes_with_it() {
    let prefix = NatsPrefix::new();
    assert_ne!(prefix.as_str(), NatsPrefix::new().as_str());
    let jetstream = async_nats::jetstream::new(async_nats::connect(NATS_URL).await.expect("connect to NATS"));
    let stream = prefix.events_stream();
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{}.events.>", prefix.as_str())],
            ..Default::default()
        })
        .await
        .expect("create the stream");

    drop(prefix);
    assert!(jetstream.get_stream(&stream).await.is_err(), "{stream} is still there");
}

#[test]
fn stamped_events_have_consecutive_positions_and_per_stream_versions() {
    let mut stamper = Stamper::new();
    let owner = UserId::new();
    let closed = AccountEvent::AccountClosed {};
    let stamped: Vec<_> = ["account-a", "account-b", "account-a", "account-a", "account-b"]
        .into_iter()
        .map(|stream| stamper.stamp(stream, owner, &closed))
        .collect();
    let stamps: Vec<_> = stamped.iter().map(|e| (e.stream_id.as_str(), e.version, e.position)).collect();
    assert_eq!(
        stamps,
        [("account-a", 1, 1), ("account-b", 1, 2), ("account-a", 2, 3), ("account-a", 3, 4), ("account-b", 2, 5)]
    );
    assert!(stamped.iter().all(|e| e.event_type == "AccountClosed" && e.owner == owner.as_uuid()));
    assert_ne!(stamped[0].event_id, stamped[1].event_id);
}
