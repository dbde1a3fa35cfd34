//! Event bus on NATS JetStream: the relay from the event store, and the checkpointed projector and worker runners.
//!
//! What a projection is, its checkpoint, the watch on it and the rebuild live below this crate,
//! in `cashflow-projection`, so that read models and readers need no NATS.
//!
//! # Layout
//!
//! - [`names`]: stream, subject, consumer and header names derived from one prefix; the
//!   message body format.
//! - [`jetstream`]: connecting, and declaring the events stream.
//! - [`relay`]: publishes the event store to JetStream in commit order, exactly once.
//! - [`projector`]: [`ProjectorRunner`], which feeds a `cashflow_projection::Projection` from
//!   its durable consumer with an exactly-once effect, moving its checkpoint in each batch's
//!   transaction and filling gaps from the event store.
//! - [`worker`]: [`WorkerRunner`], which feeds an application `Worker` (OCR, categoriser)
//!   from its durable consumer, with retries, in-progress acks and giving up.
//! - [`error`]: [`BusError`], by how a caller reacts.
//! - `migrations/`: the `relay_checkpoint` table; run them with [`migrate`]. Migration 0002 created
//!   `projection_checkpoints` before that table moved to `cashflow-projection`; it stays, since
//!   landed migrations are never edited (ADR 0009).
#![forbid(unsafe_code)]

pub mod error;
pub mod jetstream;
pub mod names;
pub mod projector;
pub mod relay;
mod shutdown;
pub mod worker;

pub use error::BusError;
pub use jetstream::{DUPLICATE_WINDOW, connect, ensure_events_stream};
pub use names::BusNames;
pub use projector::{ProjectorConfig, ProjectorRunner};
pub use relay::{Relay, RelayConfig};
pub use worker::{WorkerConfig, WorkerRunner};

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::PgPool;

/// Creates the bus's tables; idempotent. Tracked in `_sqlx_migrations_bus`, apart from other
/// crates' migrations in the same database. Then runs `cashflow_projection::migrate`, since the
/// projector runner moves projection checkpoints: its migration 1 and this crate's 2 create the
/// same table, whichever runs first (ADR 0009).
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
    cashflow_projection::migrate(pool).await?;
    Ok(())
}
