//! Projection checkpoints: the row each projector locks and moves in its batch's transaction.

use crate::error::CheckpointError;
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row};

/// The PostgreSQL channel [`save_checkpoint`] notifies with `<name>:<position>`.
pub const CHECKPOINT_CHANNEL: &str = "cashflow_checkpoints";

/// The projection's checkpoint, 0 when it has never run.
#[tracing::instrument(name = "projection.read_checkpoint", skip(pool), err)]
pub async fn read_checkpoint(pool: &PgPool, name: &str) -> Result<u64, CheckpointError> {
    let row = sqlx::query("SELECT position FROM projection_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(row) => to_position(row.try_get("position")?),
        None => Ok(0),
    }
}

/// Locks the projection's checkpoint row until the transaction ends (creating it at 0 when
/// missing) and returns its position. A second runner of the same projection waits here.
pub async fn lock_checkpoint(tx: &mut PgConnection, name: &str) -> Result<u64, CheckpointError> {
    const SELECT: &str = "SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE";
    if let Some(row) = sqlx::query(SELECT).bind(name).fetch_optional(&mut *tx).await? {
        return to_position(row.try_get("position")?);
    }
    sqlx::query("INSERT INTO projection_checkpoints (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query(SELECT).bind(name).fetch_one(&mut *tx).await?;
    to_position(row.try_get("position")?)
}

/// Moves the (locked) checkpoint and notifies [`CHECKPOINT_CHANNEL`]; PostgreSQL delivers the
/// notification only when the transaction commits.
pub async fn save_checkpoint(tx: &mut PgConnection, name: &str, position: u64) -> Result<(), CheckpointError> {
    sqlx::query(
        "WITH saved AS (
             UPDATE projection_checkpoints SET position = $2, updated_at = now() WHERE name = $1
             RETURNING name, position
         )
         SELECT pg_notify($3, name || ':' || position) FROM saved",
    )
    .bind(name)
    .bind(to_db(position)?)
    .bind(CHECKPOINT_CHANNEL)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn to_position(value: i64) -> Result<u64, CheckpointError> {
    u64::try_from(value).map_err(|_| CheckpointError::Corrupt(format!("negative position {value}")))
}

fn to_db(position: u64) -> Result<i64, CheckpointError> {
    i64::try_from(position).map_err(|_| CheckpointError::Corrupt(format!("position {position} does not fit a BIGINT")))
}
