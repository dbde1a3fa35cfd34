//! The PostgreSQL adapter.
//!
//! An append is one transaction of two statements:
//!
//! 1. claim the idempotency key (`INSERT … ON CONFLICT DO NOTHING` into `commands`; a
//!    concurrent duplicate waits on the key, then replays the committed outcome) and read the
//!    stream's last version and hash;
//! 2. take positions by updating the one `event_store_head` row, insert the events, fill in
//!    the command's outcome and `pg_notify` readers.
//!
//! The head row's lock, taken last and held until commit, serialises commits: positions are
//! dense and in commit order, so readers simply read `WHERE position > $after`. Two writers
//! racing for one stream version are told apart by the unique `(stream_id, version)` index.
//!
//! `wait_for_events` is fed by one `LISTEN` connection per store, in a task started on first
//! use, that falls back to reading the head every second while `LISTEN` is down.

use crate::hash::{self, GENESIS};
use crate::{AppendOutcome, AppendRequest, EventStore, ExpectedVersion, RecordedEvent, StoreError};
use async_trait::async_trait;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, Row, SqlSafeStr};
use std::borrow::Cow;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

/// The `LISTEN`/`NOTIFY` channel; each notification's payload is the transaction's last position.
pub const CHANNEL: &str = "cashflow_events";

/// How often the head is read while `LISTEN` is down.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How many times `append` retries an `ExpectedVersion::Any` append that lost a race for a
/// version: such an append has no expectation to fail, so losing is not the caller's conflict.
const ANY_VERSION_ATTEMPTS: u32 = 16;

const MIGRATIONS: [(i64, &str, &str); 1] = [(1, "event store", include_str!("../migrations/0001_event_store.sql"))];

/// The table where this crate's applied migrations are tracked, apart from other crates'.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations_eventstore";

macro_rules! event_columns {
    () => {
        "position, event_id, stream_id, version, event_type, schema_version, payload, owner, command_id, \
         correlation_id, causation_id, traceparent, recorded_at, hash"
    };
}

/// Claims the idempotency key and reads the stream's tail in one round trip.
const CLAIM: &str = "\
WITH claim AS (
    INSERT INTO commands (owner, command_id, stream_id, recorded_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (owner, command_id) DO NOTHING
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM claim) AS claimed, last.version, last.hash
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT version, hash FROM events WHERE stream_id = $3 ORDER BY version DESC LIMIT 1
) AS last ON TRUE";

/// Takes `$1` positions (the head row lock, held until commit), inserts the events, stores
/// the command's outcome and notifies readers, in one round trip.
const WRITE: &str = "\
WITH head AS (
    UPDATE event_store_head SET position = position + $1 RETURNING position
), inserted AS (
    INSERT INTO events (position, event_id, stream_id, version, event_type, schema_version, payload,
                        owner, command_id, correlation_id, causation_id, traceparent, recorded_at, hash)
    SELECT head.position - $1 + e.ord, e.event_id, $2, $3 + e.ord, e.event_type, e.schema_version, e.payload,
           $4, $5, $6, $7, $8, $9, e.hash
    FROM head, UNNEST($10::uuid[], $11::text[], $12::int4[], $13::jsonb[], $14::bytea[])
        WITH ORDINALITY AS e (event_id, event_type, schema_version, payload, hash, ord)
), command AS (
    UPDATE commands SET stream_version = $3 + $1, position = head.position
    FROM head
    WHERE commands.owner = $4 AND commands.command_id = $5
)
SELECT head.position, pg_notify('cashflow_events', head.position::text)::text AS notified FROM head";

/// Stores the outcome of an append of no events: the stream's version and the current head.
const REMEMBER_EMPTY: &str = "\
UPDATE commands SET stream_version = $3, position = (SELECT position FROM event_store_head)
WHERE owner = $1 AND command_id = $2
RETURNING position";

const FIND_COMMAND: &str = "\
SELECT stream_version, position FROM commands
WHERE owner = $1 AND command_id = $2 AND stream_version IS NOT NULL AND position IS NOT NULL";

/// The production event store. Cheap to clone: clones share the pool and the head listener.
///
/// A transaction left open after `append_in` holds the head lock: every other append, and
/// every reader waiting for the positions after it, stalls until it ends. Give the pool's
/// sessions an `idle_in_transaction_session_timeout` so a stuck client cannot stall it forever.
#[derive(Debug, Clone)]
pub struct PgEventStore {
    pool: PgPool,
    follower: Arc<HeadFollower>,
}

/// The shared wake-up for `wait_for_events`: a watch of the head, fed by a task that is
/// started on first use and stops when the last clone of the store is dropped.
#[derive(Debug)]
struct HeadFollower {
    head: watch::Receiver<u64>,
    /// The sender, until the task that owns it is started.
    unstarted: Mutex<Option<watch::Sender<u64>>>,
}

impl PgEventStore {
    /// Does no IO: the listener starts on the first `wait_for_events`.
    pub fn new(pool: PgPool) -> Self {
        let (sender, head) = watch::channel(0);
        Self { pool, follower: Arc::new(HeadFollower { head, unstarted: Mutex::new(Some(sender)) }) }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates or upgrades this store's tables. Idempotent, and safe to run from several
    /// processes at once: the migrator holds an advisory lock while it works.
    #[tracing::instrument(name = "eventstore.migrate", skip(pool), err)]
    pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
        let migrations = MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(version, Cow::Borrowed(description), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect();
        let mut migrator = Migrator::with_migrations(migrations);
        migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
        migrator.run(pool).await.map_err(|error| match error {
            MigrateError::Execute(error) | MigrateError::ExecuteMigration(error, _) => map_sqlx(error),
            other => StoreError::Corrupt(format!("event store migrations: {other}")),
        })
    }

    /// Appends inside the caller's transaction, which must be `READ COMMITTED` (the default),
    /// so that batches of appends can share one commit. Readers and `wait_for_events` see the
    /// events once the caller commits. On `Err` the caller must roll the transaction (or a
    /// savepoint taken before the call) back: it may hold this request's idempotency claim.
    /// The first append in a transaction that writes events holds the head lock until commit,
    /// so keep the transaction short.
    pub async fn append_in(
        &self,
        conn: &mut PgConnection,
        request: AppendRequest,
    ) -> Result<AppendOutcome, StoreError> {
        self.append_on(conn, &request).await
    }

    #[tracing::instrument(
        name = "eventstore.append_in",
        skip_all,
        fields(
            otel.kind = "client",
            db.system = "postgresql",
            db.operation = "INSERT",
            stream_id = %request.stream_id,
            expected_version = ?request.expected_version,
            events = request.events.len(),
            command_id = %request.metadata.command_id,
        )
    )]
    async fn append_on(&self, conn: &mut PgConnection, request: &AppendRequest) -> Result<AppendOutcome, StoreError> {
        let metadata = &request.metadata;
        let recorded_at = hash::now_micros();
        let claim = sqlx::query(CLAIM)
            .bind(metadata.owner)
            .bind(metadata.command_id)
            .bind(&request.stream_id)
            .bind(recorded_at)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_sqlx)?;
        if !claim.try_get::<bool, _>("claimed").map_err(corrupt)? {
            // The key was stored by a transaction that has committed: this statement sees it.
            return match find_command_on(conn, metadata.owner, metadata.command_id).await? {
                Some(outcome) => Ok(outcome),
                None => {
                    Err(StoreError::Corrupt(format!("command {} was claimed but has no outcome", metadata.command_id)))
                }
            };
        }

        let last_version = claim.try_get::<Option<i64>, _>("version").map_err(corrupt)?.map_or(Ok(0), to_u64)?;
        let previous = match claim.try_get::<Option<Vec<u8>>, _>("hash").map_err(corrupt)? {
            Some(bytes) => to_hash(bytes)?,
            None => GENESIS,
        };
        if !request.expected_version.matches(last_version) {
            return Err(conflict(request, last_version));
        }

        if request.events.is_empty() {
            let position: i64 = sqlx::query(REMEMBER_EMPTY)
                .bind(metadata.owner)
                .bind(metadata.command_id)
                .bind(to_i64(last_version)?)
                .fetch_one(&mut *conn)
                .await
                .and_then(|row| row.try_get("position"))
                .map_err(map_sqlx)?;
            return Ok(AppendOutcome { stream_version: last_version, position: to_u64(position)?, replayed: false });
        }

        // Positions are not part of the chain, so the events can be sealed before they get any.
        let sealed = hash::seal(request, last_version, previous, recorded_at, 0);
        let schema_versions = sealed
            .iter()
            .map(|event| {
                i32::try_from(event.schema_version)
                    .map_err(|_| StoreError::Corrupt(format!("schema version {} out of range", event.schema_version)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let count = sealed.len() as i64;
        let result = sqlx::query(WRITE)
            .bind(count)
            .bind(&request.stream_id)
            .bind(to_i64(last_version)?)
            .bind(metadata.owner)
            .bind(metadata.command_id)
            .bind(metadata.correlation_id)
            .bind(metadata.causation_id)
            .bind(metadata.traceparent.as_deref())
            .bind(recorded_at)
            .bind(sealed.iter().map(|event| event.event_id).collect::<Vec<_>>())
            .bind(sealed.iter().map(|event| event.event_type.as_str()).collect::<Vec<_>>())
            .bind(schema_versions)
            .bind(sealed.iter().map(|event| &event.payload).collect::<Vec<_>>())
            .bind(sealed.iter().map(|event| event.hash.to_vec()).collect::<Vec<_>>())
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get::<i64, _>("position"));
        match result {
            Ok(position) => Ok(AppendOutcome {
                stream_version: last_version + sealed.len() as u64,
                position: to_u64(position)?,
                replayed: false,
            }),
            Err(error) => match unique_violation(&error) {
                // Lost the race for the version: the winner has committed (a unique check waits
                // for it), so its version can be read on another connection.
                Some("events_stream_version_key") => {
                    let actual = self.stream_version(&request.stream_id).await?;
                    Err(conflict(request, actual))
                }
                Some("events_event_id_key") => Err(StoreError::Corrupt("an event id is already stored".into())),
                _ => Err(map_sqlx(error)),
            },
        }
    }

    /// The last version of a stream, 0 when it does not exist.
    #[tracing::instrument(name = "eventstore.stream_version", skip(self), err)]
    async fn stream_version(&self, stream_id: &str) -> Result<u64, StoreError> {
        let version: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS version FROM events WHERE stream_id = $1")
            .bind(stream_id)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get("version"))
            .map_err(map_sqlx)?;
        to_u64(version)
    }

    /// Starts the head-following task on first use; later calls only clone the receiver.
    fn head_watch(&self) -> watch::Receiver<u64> {
        let sender = self.follower.unstarted.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(sender) = sender {
            tokio::spawn(follow_head(self.pool.clone(), sender));
        }
        self.follower.head.clone()
    }
}

#[async_trait]
impl EventStore for PgEventStore {
    #[tracing::instrument(
        name = "eventstore.append",
        skip_all,
        fields(
            otel.kind = "client",
            db.system = "postgresql",
            db.operation = "append",
            stream_id = %request.stream_id,
            expected_version = ?request.expected_version,
            events = request.events.len(),
            command_id = %request.metadata.command_id,
        )
    )]
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let started = Instant::now();
        let result: Result<AppendOutcome, StoreError> = async {
            let mut attempt = 1;
            loop {
                let mut transaction = self.pool.begin().await.map_err(map_sqlx)?;
                // Dropping the transaction on an early return rolls it back.
                let result = self.append_on(&mut transaction, &request).await;
                match result {
                    Ok(outcome) if outcome.replayed => return Ok(outcome),
                    Ok(outcome) => {
                        transaction.commit().await.map_err(map_sqlx)?;
                        return Ok(outcome);
                    }
                    Err(StoreError::Conflict { .. })
                        if request.expected_version == ExpectedVersion::Any && attempt < ANY_VERSION_ATTEMPTS =>
                    {
                        tracing::debug!(attempt, "lost a race for a version with ExpectedVersion::Any; retrying");
                        attempt += 1;
                    }
                    Err(error) => {
                        match &error {
                            StoreError::Conflict { .. } => tracing::debug!(%error, "append conflict"),
                            _ => tracing::error!(%error, "append failed"),
                        }
                        return Err(error);
                    }
                }
            }
        }
        .await;
        crate::metrics::record_append(&request, &result, started.elapsed());
        result
    }

    #[tracing::instrument(
        name = "eventstore.find_command",
        skip(self),
        fields(db.system = "postgresql", db.operation = "SELECT"),
        err
    )]
    async fn find_command(&self, owner: Uuid, command_id: Uuid) -> Result<Option<AppendOutcome>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_sqlx)?;
        find_command_on(&mut conn, owner, command_id).await
    }

    #[tracing::instrument(
        name = "eventstore.read_stream",
        skip(self),
        fields(db.system = "postgresql", db.operation = "SELECT"),
        err
    )]
    async fn read_stream(&self, stream_id: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows =
            sqlx::query(concat!("SELECT ", event_columns!(), " FROM events WHERE stream_id = $1 ORDER BY version"))
                .bind(stream_id)
                .fetch_all(&self.pool)
                .await
                .map_err(map_sqlx)?;
        rows.iter().map(event_from_row).collect()
    }

    #[tracing::instrument(
        name = "eventstore.read_all",
        skip(self),
        fields(db.system = "postgresql", db.operation = "SELECT"),
        err
    )]
    async fn read_all(&self, after: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE position > $1 ORDER BY position LIMIT $2"
        ))
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(map_sqlx)?;
        rows.iter().map(event_from_row).collect()
    }

    #[tracing::instrument(
        name = "eventstore.head",
        skip(self),
        fields(db.system = "postgresql", db.operation = "SELECT"),
        err
    )]
    async fn head(&self) -> Result<u64, StoreError> {
        read_head(&self.pool).await
    }

    #[tracing::instrument(name = "eventstore.wait_for_events", skip(self), err)]
    async fn wait_for_events(&self, after: u64, timeout: Duration) -> Result<u64, StoreError> {
        let deadline = Instant::now() + timeout;
        let mut head = self.head_watch();
        let woken = tokio::time::timeout_at(deadline, head.wait_for(|&h| h > after)).await.map(|seen| seen.map(|h| *h));
        match woken {
            Ok(Ok(seen)) => Ok(seen),
            // The follower task is gone (its runtime shut down): poll instead.
            Ok(Err(_)) => loop {
                let seen = read_head(&self.pool).await?;
                if seen > after || Instant::now() >= deadline {
                    return Ok(seen);
                }
                tokio::time::sleep_until(deadline.min(Instant::now() + POLL_INTERVAL)).await;
            },
            // The watch may lag the database if LISTEN is down: answer with the real head.
            Err(_) => {
                let watched = *head.borrow();
                Ok(read_head(&self.pool).await?.max(watched))
            }
        }
    }
}

async fn find_command_on(
    conn: &mut PgConnection,
    owner: Uuid,
    command_id: Uuid,
) -> Result<Option<AppendOutcome>, StoreError> {
    let row =
        sqlx::query(FIND_COMMAND).bind(owner).bind(command_id).fetch_optional(&mut *conn).await.map_err(map_sqlx)?;
    row.map(|row| {
        Ok(AppendOutcome {
            stream_version: to_u64(row.try_get("stream_version").map_err(corrupt)?)?,
            position: to_u64(row.try_get("position").map_err(corrupt)?)?,
            replayed: true,
        })
    })
    .transpose()
}

async fn read_head(pool: &PgPool) -> Result<u64, StoreError> {
    let position: i64 = sqlx::query("SELECT position FROM event_store_head")
        .fetch_one(pool)
        .await
        .and_then(|row| row.try_get("position"))
        .map_err(map_sqlx)?;
    to_u64(position)
}

/// Keeps `head` at or above the committed head until every receiver is dropped: from
/// notifications while `LISTEN` works, from a read of the head after each (re)connect (so a
/// commit while it was down is not missed), and from polling while it does not work.
async fn follow_head(pool: PgPool, head: watch::Sender<u64>) {
    // A pool of its own, so the listening connection never takes one from the store's pool.
    let listen_options = (*pool.connect_options()).clone().application_name("cashflow-eventstore-listener");
    let listen_pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(listen_options);
    let raise = |position: u64| {
        head.send_if_modified(|current| {
            let higher = position > *current;
            if higher {
                *current = position;
            }
            higher
        });
    };
    let refresh = async || match read_head(&pool).await {
        Ok(position) => raise(position),
        Err(error) => tracing::debug!(%error, "could not read the event store head"),
    };

    loop {
        let listening = tokio::select! {
            () = head.closed() => return,
            listening = listen(&listen_pool) => listening,
        };
        match listening {
            Ok(mut listener) => {
                refresh().await;
                loop {
                    let received = tokio::select! {
                        () = head.closed() => return,
                        received = listener.try_recv() => received,
                    };
                    match received {
                        Ok(Some(notification)) => {
                            // Drain what is already buffered so a burst wakes readers once.
                            let mut highest = notification.payload().parse::<u64>().ok();
                            while let Some(next) = listener.next_buffered() {
                                highest = highest.max(next.payload().parse::<u64>().ok());
                            }
                            match highest {
                                Some(position) => raise(position),
                                None => refresh().await,
                            }
                        }
                        // The connection was lost and re-established: notifications in between are gone.
                        Ok(None) => refresh().await,
                        Err(error) => {
                            tracing::warn!(%error, "event store LISTEN failed; polling the head");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "event store LISTEN unavailable; polling the head"),
        }
        refresh().await;
        tokio::select! {
            () = head.closed() => return,
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

#[tracing::instrument(name = "eventstore.listen", skip_all, err)]
async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // The pool is this listener's own: closing it is not a reason to stop.
    listener.ignore_pool_close_event(true);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

fn event_from_row(row: &PgRow) -> Result<RecordedEvent, StoreError> {
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

fn conflict(request: &AppendRequest, actual: u64) -> StoreError {
    StoreError::Conflict { stream_id: request.stream_id.clone(), expected: request.expected_version, actual }
}

fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("negative version or position {value}")))
}

fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("version {value} out of range")))
}

fn to_hash(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|bytes| StoreError::Corrupt(format!("a hash of {} bytes", bytes.len())))
}

fn corrupt(error: sqlx::Error) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

/// The constraint a unique violation (SQLSTATE 23505) broke, if that is what `error` is.
fn unique_violation(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(database) if database.code().as_deref() == Some("23505") => database.constraint(),
        _ => None,
    }
}

fn map_sqlx(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => corrupt(error),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// Creates the database named in `url` unless it exists, connecting to the `postgres`
/// maintenance database on the same server. Tolerates another process creating it meanwhile.
#[tracing::instrument(name = "eventstore.create_database", skip(url), err)]
pub async fn create_database_if_missing(url: &str) -> Result<(), StoreError> {
    let (mut conn, name) = maintenance_connection(url).await?;
    let exists: bool = sqlx::query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .and_then(|row| row.try_get("exists"))
        .map_err(map_sqlx)?;
    if !exists {
        let created =
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {}", quote_identifier(&name)))).execute(&mut conn).await;
        match created {
            Ok(_) => {}
            // 42P04: duplicate_database; 23505: a concurrent CREATE won the catalog's unique index.
            Err(sqlx::Error::Database(error)) if matches!(error.code().as_deref(), Some("42P04" | "23505")) => {}
            Err(error) => return Err(map_sqlx(error)),
        }
    }
    // Best-effort: the server drops the session either way.
    let _ = conn.close().await;
    Ok(())
}

/// Drops the database named in `url`, disconnecting its sessions. For tests.
#[tracing::instrument(name = "eventstore.drop_database", skip(url), err)]
pub async fn drop_database(url: &str) -> Result<(), StoreError> {
    let (mut conn, name) = maintenance_connection(url).await?;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_identifier(&name))))
        .execute(&mut conn)
        .await
        .map_err(map_sqlx)?;
    let _ = conn.close().await;
    Ok(())
}

async fn maintenance_connection(url: &str) -> Result<(PgConnection, String), StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|error| StoreError::Unavailable(format!("invalid database url: {error}")))?;
    let name = options
        .get_database()
        .ok_or_else(|| StoreError::Unavailable("the database url names no database".into()))?
        .to_owned();
    let conn = PgConnection::connect_with(&options.database("postgres")).await.map_err(map_sqlx)?;
    Ok((conn, name))
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
