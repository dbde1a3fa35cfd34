//! Projection plumbing below the bus: the port a read model implements, its checkpoint, a watch on it, and the rebuild.
//!
//! Neither NATS nor any read model is needed here: the bus's projector runner feeds a
//! [`Projection`] from JetStream with these pieces, the binary's rebuild replays the event store
//! into one, the API waits on a [`CheckpointWatch`], and each read model implements the port.
//!
//! # Layout
//!
//! - [`projection`]: [`Projection`], the port a read model implements, and [`ProjectionError`].
//! - [`checkpoint`]: each projection's checkpoint row: read, lock and save, which notifies
//!   [`CHECKPOINT_CHANNEL`].
//! - [`watch`]: [`CheckpointWatch`], a PostgreSQL LISTEN on that channel, to wait until a read
//!   model has applied a position.
//! - [`rebuild`](mod@rebuild): [`rebuild()`], which replays the store into an emptied read
//!   model, and [`apply_in_order`] and [`first_gap`], which the live runner shares.
//! - [`decode`]: what every projection does to a recorded event first: decode it, skip a
//!   type its aggregate does not have yet, read the id and numbers it is keyed by.
//! - [`query`]: what the read models' queries share: [`QueryError`], page sizes, and keyset
//!   pages newest first.
//! - [`page_token`]: the opaque page tokens of keyset pagination.
//! - [`error`]: [`CheckpointError`], by how a caller reacts.
//! - `migrations/`: the `projection_checkpoints` table; run them with [`migrate`] (ADR 0009).
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod decode;
pub mod error;
pub mod page_token;
pub mod projection;
pub mod query;
pub mod rebuild;
#[cfg(test)]
mod testing;
pub mod watch;

pub use checkpoint::{CHECKPOINT_CHANNEL, lock_checkpoint, read_checkpoint, save_checkpoint};
pub use error::CheckpointError;
pub use projection::{Projection, ProjectionError};
pub use query::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, QueryError};
pub use rebuild::{Gap, apply_in_order, first_gap, rebuild};
pub use watch::CheckpointWatch;

use sqlx::SqlSafeStr;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::postgres::PgPool;

/// Where this crate's applied migrations are recorded, apart from other crates' in the same database.
pub const MIGRATIONS_TABLE: &str = "_sqlx_migrations_projection";

/// Creates the `projection_checkpoints` table; idempotent, and harmless where cashflow-bus's
/// migration 0002 created it already (ADR 0009).
#[tracing::instrument(name = "projection.migrate", skip_all, err)]
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    let checkpoints = include_str!("../migrations/0001_projection_checkpoints.sql");
    let mut migrator = Migrator::with_migrations(vec![Migration::new(
        1,
        "projection checkpoints".into(),
        MigrationType::Simple,
        checkpoints.into_sql_str(),
        false,
    )]);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator.run(pool).await
}
