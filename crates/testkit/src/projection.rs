//! A projection on a database of its own, fed events directly: no store, no bus.

use crate::database::TestDatabase;
use cashflow_eventstore::RecordedEvent;
use cashflow_projection::{Projection, ProjectionError};
use sqlx::{PgConnection, PgPool};

/// What a projection's tests tell [`ProjectionDb`]: the projection, the migrations of the tables
/// it needs (each crate owns its own), and how to read those tables back.
pub trait ProjectionUnderTest: Send + Sync + 'static {
    type Projection: Projection;
    /// What [`ProjectionDb::dump`] returns: two are equal exactly when the read models are.
    type Dump;

    fn projection() -> Self::Projection;
    /// Applies one event the simple way, event by event: the oracle the runner's
    /// `apply_batch` is compared with.
    fn apply_one(
        projection: &Self::Projection,
        tx: &mut PgConnection,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<(), ProjectionError>> + Send;
    fn migrate(pool: &PgPool) -> impl Future<Output = ()> + Send;
    fn dump(pool: &PgPool) -> impl Future<Output = Self::Dump> + Send;
}

/// `T`'s projection over a new, migrated database, dropped with it.
pub struct ProjectionDb<T: ProjectionUnderTest> {
    pub pool: PgPool,
    projection: T::Projection,
    database: TestDatabase,
}

impl<T: ProjectionUnderTest> ProjectionDb<T> {
    /// A new database with a pool of 4 connections, migrated.
    pub async fn new() -> Self {
        let database = TestDatabase::create().await;
        let pool = database.pool(4).await;
        T::migrate(&pool).await;
        Self { pool, projection: T::projection(), database }
    }

    /// Closes the pool, then drops the database.
    pub async fn drop(self) {
        self.pool.close().await;
        drop(self.database);
    }

    pub async fn dump(&self) -> T::Dump {
        T::dump(&self.pool).await
    }

    /// Applies events one [`ProjectionUnderTest::apply_one`] at a time, all in one transaction.
    pub async fn apply(&self, events: &[RecordedEvent]) {
        self.try_apply(events).await.expect("apply events");
    }

    /// [`ProjectionDb::apply`], returning the projection's error.
    pub async fn try_apply(&self, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
        let mut tx = self.pool.begin().await?;
        for event in events {
            T::apply_one(&self.projection, &mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies events one [`ProjectionUnderTest::apply_one`] at a time, `size` events a transaction.
    pub async fn apply_in_batches(&self, events: &[RecordedEvent], size: usize) {
        for chunk in events.chunks(size) {
            self.apply(chunk).await;
        }
    }

    /// Applies events as the projector runner does: `apply_batch` of `size` events, one
    /// transaction each.
    pub async fn apply_batches(&self, events: &[RecordedEvent], size: usize) {
        for chunk in events.chunks(size) {
            let mut tx = self.pool.begin().await.expect("begin");
            self.projection.apply_batch(&mut tx, chunk).await.expect("apply a batch");
            tx.commit().await.expect("commit");
        }
    }

    /// Empties the read model, as a rebuild starts.
    pub async fn reset(&self) {
        let mut tx = self.pool.begin().await.expect("begin");
        self.projection.reset(&mut tx).await.expect("reset");
        tx.commit().await.expect("commit");
    }
}
