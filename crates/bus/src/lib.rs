//! Event bus on NATS JetStream: the relay from the event store, and the checkpointed projector runner.
//!
//! # Layout
//!
//! - [`names`]: stream, subject, consumer and header names derived from one prefix; the
//!   message body format.
//! - [`jetstream`]: connecting, and declaring the events stream.
//! - [`relay`]: publishes the event store to JetStream in commit order, exactly once.
//! - [`projection`]: the port a read model implements.
//! - [`checkpoint`]: projection checkpoints and [`CheckpointWatch`] (wait until a read model
//!   has caught up with a position).
//! - [`projector`]: [`ProjectorRunner`], which feeds a projection from its durable consumer
//!   with an exactly-once effect, and [`rebuild`].
//! - [`worker`]: [`WorkerRunner`], which feeds an application `Worker` (OCR, categoriser)
//!   from its durable consumer, with retries, in-progress acks and giving up.
//! - [`error`]: [`BusError`], by how a caller reacts.
//! - `migrations/`: the `relay_checkpoint` and `projection_checkpoints` tables; run them with
//!   [`migrate`].
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod error;
pub mod jetstream;
pub mod names;
pub mod projection;
pub mod projector;
pub mod relay;
mod shutdown;
pub mod worker;

pub use checkpoint::{CHECKPOINT_CHANNEL, CheckpointWatch, read_checkpoint};
pub use error::BusError;
pub use jetstream::{DUPLICATE_WINDOW, connect, ensure_events_stream};
pub use names::BusNames;
pub use projection::{Projection, ProjectionError};
pub use projector::{ProjectorConfig, ProjectorRunner, rebuild};
pub use relay::{Relay, RelayConfig};
pub use worker::{WorkerConfig, WorkerRunner};

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::PgPool;

/// Creates the bus's tables; idempotent. Tracked in `_sqlx_migrations_bus`, apart from other
/// crates' migrations in the same database.
#[tracing::instrument(name = "bus.migrate", skip(pool), err)]
pub async fn migrate(pool: &PgPool) -> Result<(), BusError> {
    let migration = |version, description: &'static str, sql: &'static str| {
        Migration::new(version, description.into(), MigrationType::Simple, sql.into_sql_str(), false)
    };
    let mut migrator = Migrator::with_migrations(vec![
        migration(1, "relay checkpoint", include_str!("../migrations/0001_relay_checkpoint.sql")),
        migration(2, "projection checkpoints", include_str!("../migrations/0002_projection_checkpoints.sql")),
    ]);
    migrator.dangerous_set_table_name("_sqlx_migrations_bus");
    migrator.run(pool).await?;
    Ok(())
}
