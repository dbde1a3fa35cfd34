//! The plumbing against real PostgreSQL and no NATS: the checkpoint table beside the bus's
//! older migration, the rebuild, and the watch its checkpoint wakes. Each test has its own database.

use async_trait::async_trait;
use cashflow_eventstore::postgres::{create_database_if_missing, drop_database};
use cashflow_eventstore::{
    AppendRequest, CommandMetadata, EventStore, ExpectedVersion, InMemoryEventStore, NewEvent, RecordedEvent,
};
use cashflow_projection::{
    CheckpointError, CheckpointWatch, Projection, ProjectionError, migrate, read_checkpoint, rebuild,
};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{PgConnection, Row};
use std::time::Duration;
use uuid::Uuid;

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";
/// A bound on how long a test waits for a notification, not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(30);
/// The projection's name, and its table.
const NAME: &str = "recording";
/// The bus's migration that created the checkpoint table before it moved to this crate.
const BUS_MIGRATION: &str = include_str!("../../bus/migrations/0002_projection_checkpoints.sql");

struct TestDb {
    pool: PgPool,
    url: String,
}

impl TestDb {
    /// A new, empty database of its own.
    async fn empty() -> Self {
        let url = format!("{SERVER}/cashflow_test_{}", Uuid::now_v7().simple());
        create_database_if_missing(&url).await.unwrap();
        let pool = PgPoolOptions::new().max_connections(4).connect(&url).await.unwrap();
        Self { pool, url }
    }

    /// A new database with the checkpoint table and the recording projection's table.
    async fn new() -> Self {
        let db = Self::empty().await;
        migrate(&db.pool).await.unwrap();
        // Twice: migrations must be idempotent.
        migrate(&db.pool).await.unwrap();
        sqlx::query("CREATE TABLE recording (position BIGINT PRIMARY KEY)").execute(&db.pool).await.unwrap();
        db
    }

    /// The positions the projection applied, in order.
    async fn applied(&self) -> Vec<u64> {
        let rows = sqlx::query("SELECT position FROM recording ORDER BY position").fetch_all(&self.pool).await.unwrap();
        rows.iter().map(|row| row.get::<i64, _>("position") as u64).collect()
    }

    async fn drop(self) {
        self.pool.close().await;
        let _ = drop_database(&self.url).await;
    }
}

/// Records each position it applies (a second apply of one fails on the primary key); an
/// event of type `Poison` cannot be decoded.
struct Recording;

#[async_trait]
impl Projection for Recording {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn apply_batch(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        if let Some(poison) = events.iter().find(|event| event.event_type == "Poison") {
            return Err(cashflow_projection::decode::decode_error(poison, "poisoned".into()));
        }
        let positions: Vec<i64> = events.iter().map(|event| event.position as i64).collect();
        sqlx::query("INSERT INTO recording (position) SELECT * FROM unnest($1::int8[])")
            .bind(&positions)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("DELETE FROM recording").execute(&mut *tx).await?;
        Ok(())
    }
}

/// Appends `count` events of `event_type`, ten per command, to one new stream; the store's head.
async fn append(store: &InMemoryEventStore, event_type: &str, count: usize) -> u64 {
    let (stream_id, owner) = (format!("test-{}", Uuid::now_v7()), Uuid::now_v7());
    let mut version = 0;
    for chunk in (0..count).collect::<Vec<_>>().chunks(10) {
        let command = Uuid::now_v7();
        let metadata = CommandMetadata {
            owner,
            command_id: command,
            correlation_id: command,
            causation_id: None,
            traceparent: None,
        };
        let expected_version = if version == 0 { ExpectedVersion::NoStream } else { ExpectedVersion::Exact(version) };
        let events = chunk
            .iter()
            .map(|index| NewEvent {
                event_id: Uuid::now_v7(),
                event_type: event_type.into(),
                schema_version: 1,
                payload: serde_json::json!({ "index": index }),
            })
            .collect();
        let request =
            AppendRequest { stream_id: stream_id.clone(), expected_version, metadata, events, guards: Vec::new() };
        version = store.append(request).await.unwrap().stream_version;
    }
    store.head().await.unwrap()
}

#[tokio::test]
async fn a_rebuild_replays_the_whole_store_once_and_wakes_the_watch() {
    let db = TestDb::new().await;
    let store = InMemoryEventStore::new();
    // More than one step of the rebuild's reads.
    let head = append(&store, "Tested", 12_345).await;
    sqlx::query("INSERT INTO recording (position) VALUES (999999)").execute(&db.pool).await.unwrap();
    let watch = CheckpointWatch::start(db.pool.clone(), NAME).await.unwrap();
    assert_eq!(watch.current(), 0);
    assert_eq!(read_checkpoint(&db.pool, NAME).await.unwrap(), 0, "never run");
    assert!(!watch.wait_for(1, Duration::from_millis(200)).await, "nothing is projected yet");

    let mut calls = Vec::new();
    let position = rebuild(&db.pool, &store, &Recording, |done, head| calls.push((done, head))).await.unwrap();
    assert_eq!(position, head);
    assert_eq!(calls.first(), Some(&(0, head)));
    assert_eq!(calls.last(), Some(&(head, head)));
    assert!(calls.len() > 2, "several steps: {calls:?}");
    assert_eq!(db.applied().await, (1..=head).collect::<Vec<_>>(), "the reset emptied the table first");
    assert_eq!(read_checkpoint(&db.pool, NAME).await.unwrap(), head);
    assert!(watch.wait_for(head, PATIENCE).await, "the rebuild's commit notifies the watch");
    assert!(!watch.wait_for(head + 1, Duration::from_millis(200)).await, "no position past the head");

    // Again, on what the first one left: the same table.
    assert_eq!(rebuild(&db.pool, &store, &Recording, |_, _| {}).await.unwrap(), head);
    assert_eq!(db.applied().await, (1..=head).collect::<Vec<_>>());
    db.drop().await;
}

/// Like [`Recording`], into a table with a secondary index it defers in a rebuild; notes
/// whether any batch saw that index.
#[derive(Default)]
struct Deferring {
    saw_secondary_index: std::sync::atomic::AtomicBool,
    missed_unique_index: std::sync::atomic::AtomicBool,
}

const DEFERRING_TABLE: &str = "CREATE TABLE deferring (position BIGINT PRIMARY KEY, parity INT NOT NULL);
    CREATE INDEX deferring_by_parity ON deferring (parity, position DESC);
    CREATE UNIQUE INDEX deferring_unique_negated ON deferring ((-position))";

#[async_trait]
impl Projection for Deferring {
    fn name(&self) -> &'static str {
        "deferring"
    }

    async fn apply_batch(&self, tx: &mut PgConnection, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        if let Some(poison) = events.iter().find(|event| event.event_type == "Poison") {
            return Err(cashflow_projection::decode::decode_error(poison, "poisoned".into()));
        }
        let (secondary, unique): (bool, bool) = sqlx::query_as(
            "SELECT to_regclass('deferring_by_parity') IS NOT NULL, to_regclass('deferring_unique_negated') IS NOT NULL",
        )
        .fetch_one(&mut *tx)
        .await?;
        self.saw_secondary_index.fetch_or(secondary, std::sync::atomic::Ordering::Relaxed);
        self.missed_unique_index.fetch_or(!unique, std::sync::atomic::Ordering::Relaxed);
        let positions: Vec<i64> = events.iter().map(|event| event.position as i64).collect();
        sqlx::query("INSERT INTO deferring (position, parity) SELECT p, p % 2 FROM unnest($1::int8[]) AS p")
            .bind(&positions)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    async fn reset(&self, tx: &mut PgConnection) -> Result<(), ProjectionError> {
        sqlx::query("TRUNCATE deferring").execute(&mut *tx).await?;
        Ok(())
    }

    fn rebuild_deferred_index_tables(&self) -> &'static [&'static str] {
        &["deferring"]
    }
}

/// The table's indexes as PostgreSQL would create them again, sorted.
async fn indexes(pool: &PgPool, table: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT indexdef FROM pg_indexes WHERE tablename = $1 ORDER BY indexname")
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_rebuild_builds_deferred_indexes_once_at_the_end_and_keeps_unique_ones_throughout() {
    let db = TestDb::new().await;
    sqlx::raw_sql(DEFERRING_TABLE).execute(&db.pool).await.unwrap();
    let before = indexes(&db.pool, "deferring").await;
    assert_eq!(before.len(), 3, "{before:?}");
    let store = InMemoryEventStore::new();
    let head = append(&store, "Tested", 12_345).await;

    let deferring = Deferring::default();
    assert_eq!(rebuild(&db.pool, &store, &deferring, |_, _| {}).await.unwrap(), head);
    assert!(!deferring.saw_secondary_index.into_inner(), "the secondary index was there while events were applied");
    assert!(!deferring.missed_unique_index.into_inner(), "a unique index was dropped");
    assert_eq!(indexes(&db.pool, "deferring").await, before, "the same indexes afterwards");
    let odd: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deferring WHERE parity = 1").fetch_one(&db.pool).await.unwrap();
    assert_eq!(odd as u64, head.div_ceil(2));

    // A rebuild that fails leaves every index as it was, the deferred one included.
    append(&store, "Poison", 1).await;
    assert!(rebuild(&db.pool, &store, &Deferring::default(), |_, _| {}).await.is_err());
    assert_eq!(indexes(&db.pool, "deferring").await, before);
    db.drop().await;
}

#[tokio::test]
async fn a_rebuild_that_fails_leaves_the_read_model_and_its_checkpoint_as_they_were() {
    let db = TestDb::new().await;
    let store = InMemoryEventStore::new();
    let head = append(&store, "Tested", 30).await;
    rebuild(&db.pool, &store, &Recording, |_, _| {}).await.unwrap();
    append(&store, "Poison", 1).await;
    append(&store, "Tested", 5).await;

    let error = rebuild(&db.pool, &store, &Recording, |_, _| {}).await.unwrap_err();
    assert!(
        matches!(&error, CheckpointError::Projection(ProjectionError::Decode { position, .. }) if *position == head + 1),
        "{error:?}"
    );
    assert_eq!(db.applied().await, (1..=head).collect::<Vec<_>>(), "rolled back, reset included");
    assert_eq!(read_checkpoint(&db.pool, NAME).await.unwrap(), head);
    db.drop().await;
}

#[tokio::test]
async fn the_checkpoint_table_is_the_one_the_bus_created_whichever_migration_runs_first() {
    // A database from before the move: the bus's migration created the table and a projector
    // moved a checkpoint. This crate's migration finds it and keeps it.
    let before = TestDb::empty().await;
    sqlx::raw_sql(BUS_MIGRATION).execute(&before.pool).await.unwrap();
    sqlx::query("INSERT INTO projection_checkpoints (name, position) VALUES ($1, 42)")
        .bind(NAME)
        .execute(&before.pool)
        .await
        .unwrap();
    migrate(&before.pool).await.unwrap();
    assert_eq!(read_checkpoint(&before.pool, NAME).await.unwrap(), 42);

    // A new database: this crate's migration first, then the bus's finds the table.
    let after = TestDb::new().await;
    sqlx::raw_sql(BUS_MIGRATION).execute(&after.pool).await.unwrap();
    let store = InMemoryEventStore::new();
    let head = append(&store, "Tested", 3).await;
    assert_eq!(rebuild(&after.pool, &store, &Recording, |_, _| {}).await.unwrap(), head);
    assert_eq!(read_checkpoint(&after.pool, NAME).await.unwrap(), head);

    // Both define the same columns and constraints.
    let bus_only = TestDb::empty().await;
    sqlx::raw_sql(BUS_MIGRATION).execute(&bus_only.pool).await.unwrap();
    let projection_only = TestDb::empty().await;
    migrate(&projection_only.pool).await.unwrap();
    let expected = definition(&bus_only.pool).await;
    assert_eq!(expected.len(), 3 + 2, "three columns, a primary key and a check: {expected:?}");
    assert_eq!(definition(&projection_only.pool).await, expected);
    for db in [before, after, bus_only, projection_only] {
        db.drop().await;
    }
}

/// The checkpoint table's columns and constraints, one line each, sorted.
async fn definition(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
         FROM information_schema.columns WHERE table_name = 'projection_checkpoints'
         UNION ALL
         SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'projection_checkpoints'::regclass
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}
