//! Rows to values (events, stored outcomes) and sqlx errors to [`StoreError`]s.

use crate::{AppendOutcome, RecordedEvent, StoreError};
use sqlx::Row;
use sqlx::postgres::PgRow;

/// An event from a row of [`READ_STREAM`](super::sql::READ_STREAM) or [`READ_ALL`](super::sql::READ_ALL).
pub(super) fn event_from_row(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let schema_version: i32 = row.try_get("schema_version").map_err(corrupt)?;
    Ok(RecordedEvent {
        event_id: row.try_get("event_id").map_err(corrupt)?,
        stream_id: row.try_get("stream_id").map_err(corrupt)?,
        version: to_u64(row.try_get("version").map_err(corrupt)?)?,
        position: to_u64(row.try_get("position").map_err(corrupt)?)?,
        event_type: row.try_get("event_type").map_err(corrupt)?,
        schema_version: u32::try_from(schema_version)
            .map_err(|_| StoreError::Corrupt(format!("negative schema version {schema_version}")))?,
        payload: row.try_get("payload").map_err(corrupt)?,
        owner: row.try_get("owner").map_err(corrupt)?,
        command_id: row.try_get("command_id").map_err(corrupt)?,
        correlation_id: row.try_get("correlation_id").map_err(corrupt)?,
        causation_id: row.try_get("causation_id").map_err(corrupt)?,
        traceparent: row.try_get("traceparent").map_err(corrupt)?,
        recorded_at: row.try_get("recorded_at").map_err(corrupt)?,
        hash: to_hash(row.try_get("hash").map_err(corrupt)?)?,
    })
}

/// The stored outcome of an idempotency key, as a replay, from the `stored_*` columns of
/// [`FIND_COMMAND`](super::sql::FIND_COMMAND) or [`READ_BATCH`](super::sql::READ_BATCH).
/// `None` while the appending transaction has not filled the outcome in.
pub(super) fn stored_outcome(row: &PgRow) -> Result<Option<AppendOutcome>, StoreError> {
    let stream_id: Option<String> = row.try_get("stored_stream_id").map_err(corrupt)?;
    let stream_version: Option<i64> = row.try_get("stored_version").map_err(corrupt)?;
    let position: Option<i64> = row.try_get("stored_position").map_err(corrupt)?;
    let (Some(stream_id), Some(stream_version), Some(position)) = (stream_id, stream_version, position) else {
        return Ok(None);
    };
    Ok(Some(AppendOutcome {
        stream_id,
        stream_version: to_u64(stream_version)?,
        position: to_u64(position)?,
        replayed: true,
    }))
}

pub(super) fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative version or position {value}")))
}

pub(super) fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("version {value} out of range")))
}

pub(super) fn to_hash(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|bytes| StoreError::Corrupt(format!("a hash of {} bytes", bytes.len())))
}

pub(super) fn corrupt(error: sqlx::Error) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

/// The constraint a unique violation (SQLSTATE 23505) broke, if that is what `error` is.
pub(super) fn unique_violation(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(database) if database.code().as_deref() == Some("23505") => database.constraint(),
        _ => None,
    }
}

pub(super) fn map_sqlx(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => corrupt(error),
        other => StoreError::Unavailable(other.to_string()),
    }
}
