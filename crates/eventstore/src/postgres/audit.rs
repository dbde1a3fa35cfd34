//! The whole-store audit: every event in position order through a [`Scan`], the head row, and
//! the `commands` rows against the events of their keys, all in one read-only snapshot.

use super::PgEventStore;
use super::rows::{corrupt, event_from_row, map_sqlx, to_hash, to_u64};
use super::sql::AUDIT_SCAN;
use crate::StoreError;
use crate::audit::{Finding, Report, Scan};
use futures::TryStreamExt;
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};
use uuid::Uuid;

/// The most findings listed per kind of `commands` check; more are summed up in one line.
const MAX_COMMAND_FINDINGS: i64 = 100;

const HEAD: &str = "SELECT position, global_hash FROM event_store_head";

const COUNT_COMMANDS: &str = "SELECT COUNT(*) AS commands FROM commands";

/// Every key that has events whose `commands` row is missing or does not name its last
/// event (the stream, version and position an append stores as its outcome), or whose events
/// are in more than one stream.
const COMMANDS_OF_EVENTS: &str = "\
SELECT k.owner, k.command_id, k.streams, last.stream_id AS last_stream, last.version AS last_version,
       k.position AS last_position, c.owner IS NOT NULL AS has_row, c.stream_id, c.stream_version, c.position
FROM (
    SELECT owner, command_id, MAX(position) AS position, COUNT(DISTINCT stream_id) AS streams
    FROM events GROUP BY owner, command_id
) AS k
JOIN events AS last ON last.position = k.position
LEFT JOIN commands AS c ON c.owner = k.owner AND c.command_id = k.command_id
WHERE c.owner IS NULL OR k.streams <> 1 OR c.position IS DISTINCT FROM k.position
   OR c.stream_id IS DISTINCT FROM last.stream_id OR c.stream_version IS DISTINCT FROM last.version
ORDER BY k.position
LIMIT $1";

/// Every `commands` row with no events of its own (an append of no events) that has no
/// outcome, points past the head, or claims a stream version its stream had not reached at
/// its position. (Its stream may have grown between the append's read and its position being
/// taken, so more events than it says is no finding.)
const COMMANDS_WITHOUT_EVENTS: &str = "\
SELECT c.owner, c.command_id, c.stream_id, c.stream_version, c.position, reached.events AS reached
FROM commands AS c
CROSS JOIN LATERAL (
    SELECT COUNT(*) AS events FROM events AS s WHERE s.stream_id = c.stream_id AND s.position <= c.position
) AS reached
WHERE NOT EXISTS (SELECT 1 FROM events AS k WHERE k.owner = c.owner AND k.command_id = c.command_id)
  AND (c.stream_version IS NULL OR c.position IS NULL OR c.position > $1 OR c.stream_version > reached.events)
ORDER BY c.owner, c.command_id
LIMIT $2";

impl PgEventStore {
    /// Audits the whole store in one `REPEATABLE READ` snapshot: dense positions, every
    /// stream's chain, the global chain, the head counter and tip, and the `commands` rows.
    /// The report also holds the global hash found at each of `anchored`, for
    /// [`Report::check_anchor`]. Reads every event once; memory grows with the number of
    /// streams.
    #[tracing::instrument(name = "eventstore.audit", skip(self, anchored), err)]
    pub async fn audit(&self, anchored: &[u64]) -> Result<Report, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(map_sqlx)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *transaction)
            .await
            .map_err(map_sqlx)?;
        let head_row = sqlx::query(HEAD).fetch_one(&mut *transaction).await.map_err(map_sqlx)?;
        let head = to_u64(head_row.try_get("position").map_err(corrupt)?)?;
        let head_global = optional_hash(&head_row, "global_hash")?;

        let mut scan = Scan::new(anchored.iter().copied());
        let mut rows = sqlx::query(AUDIT_SCAN).fetch(&mut *transaction);
        while let Some(row) = rows.try_next().await.map_err(map_sqlx)? {
            scan.push(&event_from_row(&row)?, optional_hash(&row, "global_hash")?);
        }
        drop(rows);

        let commands: i64 = sqlx::query(COUNT_COMMANDS)
            .fetch_one(&mut *transaction)
            .await
            .and_then(|row| row.try_get("commands"))
            .map_err(map_sqlx)?;
        let findings = command_findings(&mut transaction, head).await?;
        Ok(scan.finish(head, head_global, to_u64(commands)?, findings))
    }
}

async fn command_findings(conn: &mut PgConnection, head: u64) -> Result<Vec<Finding>, StoreError> {
    let mut findings = Vec::new();
    let rows =
        sqlx::query(COMMANDS_OF_EVENTS).bind(MAX_COMMAND_FINDINGS + 1).fetch_all(&mut *conn).await.map_err(map_sqlx)?;
    for row in rows.iter().take(MAX_COMMAND_FINDINGS as usize) {
        let (last_stream, last_version, last_position): (String, i64, i64) = (
            row.try_get("last_stream").map_err(corrupt)?,
            row.try_get("last_version").map_err(corrupt)?,
            row.try_get("last_position").map_err(corrupt)?,
        );
        let streams: i64 = row.try_get("streams").map_err(corrupt)?;
        let problem = if !row.try_get::<bool, _>("has_row").map_err(corrupt)? {
            format!(
                "its events (the last {last_stream} version {last_version} at position {last_position}) have no commands row"
            )
        } else if streams != 1 {
            format!("its events are in {streams} streams; an append writes to one")
        } else {
            format!(
                "the row names {}, its last event is {last_stream} version {last_version} at position {last_position}",
                outcome(row)?
            )
        };
        findings.push(command_finding(row, problem)?);
    }
    more(&mut findings, rows.len(), "command keys whose events disagree with their rows");

    let rows = sqlx::query(COMMANDS_WITHOUT_EVENTS)
        .bind(i64::try_from(head).unwrap_or(i64::MAX))
        .bind(MAX_COMMAND_FINDINGS + 1)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    for row in rows.iter().take(MAX_COMMAND_FINDINGS as usize) {
        let reached: i64 = row.try_get("reached").map_err(corrupt)?;
        let problem = format!(
            "the row names {} but has no events, and its stream had {reached} events by then (head {head})",
            outcome(row)?
        );
        findings.push(command_finding(row, problem)?);
    }
    more(&mut findings, rows.len(), "commands rows without events that point nowhere");
    Ok(findings)
}

/// "`stream` version `v` at position `p`" from a row's `stream_id`, `stream_version` and `position`.
fn outcome(row: &PgRow) -> Result<String, StoreError> {
    let stream_id: String = row.try_get("stream_id").map_err(corrupt)?;
    let show = |value: Option<i64>| value.map_or_else(|| "none".to_owned(), |v| v.to_string());
    let version: Option<i64> = row.try_get("stream_version").map_err(corrupt)?;
    let position: Option<i64> = row.try_get("position").map_err(corrupt)?;
    Ok(format!("{stream_id} version {} at position {}", show(version), show(position)))
}

fn command_finding(row: &PgRow, problem: String) -> Result<Finding, StoreError> {
    let owner: Uuid = row.try_get("owner").map_err(corrupt)?;
    let command_id: Uuid = row.try_get("command_id").map_err(corrupt)?;
    Ok(Finding::Command { owner, command_id, problem })
}

/// Notes that a query had more findings than are listed.
fn more(findings: &mut Vec<Finding>, found: usize, what: &str) {
    if found as i64 > MAX_COMMAND_FINDINGS {
        findings.push(Finding::Command {
            owner: Uuid::nil(),
            command_id: Uuid::nil(),
            problem: format!("more than {MAX_COMMAND_FINDINGS} {what}; only the first are listed"),
        });
    }
}

fn optional_hash(row: &PgRow, column: &str) -> Result<Option<[u8; 32]>, StoreError> {
    row.try_get::<Option<Vec<u8>>, _>(column).map_err(corrupt)?.map(to_hash).transpose()
}
