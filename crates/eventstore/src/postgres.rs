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
//! `PgEventStore::append` commits concurrent appends together (group commit): each call is
//! queued to a writer (one of [`WRITERS`], chosen by stream, each on a thread of its own with a
//! session of its own) that takes everything waiting (up to [`MAX_BATCH`], one request per
//! stream and per idempotency key) and writes it in two statements over arrays, each on its
//! own (no transaction spans them, so no lock is held between them):
//!
//! 1. read every key's stored outcome and every stream's tail; then, in Rust, each request
//!    is answered on its own (a replay, a conflict) or checked and sealed;
//! 2. take positions for all the winners' events under the head lock, insert them and the
//!    winners' keys with their outcomes, and notify readers once; this statement's commit is
//!    the batch's one commit, so the head lock and the flush are shared by the batch.
//!
//! The unique indexes guard the gap between the two: a version or a key taken meanwhile (by
//! `append_in` or another process) fails the second statement whole, and then each request
//! of the batch is appended on its own, as `append_in` does it. When the connection fails,
//! every request of the batch is `Unavailable` (retrying with the same key is safe).
//!
//! `wait_for_events` is fed by one `LISTEN` connection per store, in a task started on first
//! use, that falls back to reading the head every second while `LISTEN` is down.

use crate::hash::{self, GENESIS};
use crate::{AppendOutcome, AppendRequest, EventStore, ExpectedVersion, RecordedEvent, StoreError};
use async_trait::async_trait;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow, PgSslMode};
use sqlx::{AssertSqlSafe, Connection, Row, SqlSafeStr};
use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use uuid::Uuid;

/// The `LISTEN`/`NOTIFY` channel; each notification's payload is the transaction's last position.
pub const CHANNEL: &str = "cashflow_events";

/// How often the head is read while `LISTEN` is down.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How many times `append` retries an `ExpectedVersion::Any` append that lost a race for a
/// version: such an append has no expectation to fail, so losing is not the caller's conflict.
const ANY_VERSION_ATTEMPTS: u32 = 16;

/// The most appends one batch (one commit) takes. Over TCP with TLS a batch of 32 single-event
/// appends wrote in about 2 ms here, one of 64 in about 45 ms (over a Unix socket 64 is fine);
/// without TLS, 128 measured no better than 32 end to end (BENCHMARKS.md). The rest waits for
/// the next batch.
const MAX_BATCH: usize = 32;

/// How many batch writers run (requests go to one by stream). Their commits are serialised
/// by the head lock anyway; more writers overlap one batch's read with another's commit but
/// split the callers into smaller batches. On two cores one writer measured best at 4, 16
/// and 64 concurrent appenders (`cargo bench -p cashflow-eventstore --bench append`).
const WRITERS: usize = 1;

/// How many times a writer yields to let the last batch's callers join the next batch.
const LINGER_TURNS: usize = 16;

/// A writer's session idle for longer than this is pinged before its next batch, so that one
/// the server dropped meanwhile is replaced instead of failing the batch.
const WRITER_IDLE_PING: Duration = Duration::from_secs(10);

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

/// A batch's first statement, outside any transaction: every key's stored outcome, if any,
/// and every stream's tail.
const READ_BATCH: &str = "\
SELECT input.ord, commands.owner IS NOT NULL AS stored, commands.stream_version AS stored_version,
       commands.position AS stored_position, last.version, last.hash
FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) WITH ORDINALITY AS input (owner, command_id, stream_id, ord)
LEFT JOIN commands ON commands.owner = input.owner AND commands.command_id = input.command_id
LEFT JOIN LATERAL (
    SELECT version, hash FROM events WHERE events.stream_id = input.stream_id ORDER BY version DESC LIMIT 1
) AS last ON TRUE
ORDER BY input.ord";

/// A batch's second and last statement, committed on its own: takes `$1` positions under the
/// head lock (held until its commit), inserts every winner's events and its idempotency key
/// with its outcome (position = first new position - 1 + `last_ord`), and notifies readers
/// once. A version or a key taken since the first statement fails it whole (unique indexes).
const WRITE_BATCH: &str = "\
WITH head AS (
    UPDATE event_store_head SET position = position + $1 RETURNING position
), inserted AS (
    INSERT INTO events (position, event_id, stream_id, version, event_type, schema_version, payload,
                        owner, command_id, correlation_id, causation_id, traceparent, recorded_at, hash)
    SELECT head.position - $1 + e.ord, e.event_id, e.stream_id, e.version, e.event_type, e.schema_version,
           e.payload, e.owner, e.command_id, e.correlation_id, e.causation_id, e.traceparent, $2, e.hash
    FROM head, UNNEST($3::uuid[], $4::text[], $5::int8[], $6::text[], $7::int4[], $8::jsonb[], $9::uuid[],
                      $10::uuid[], $11::uuid[], $12::uuid[], $13::text[], $14::bytea[])
        WITH ORDINALITY AS e (event_id, stream_id, version, event_type, schema_version, payload, owner,
                              command_id, correlation_id, causation_id, traceparent, hash, ord)
), claimed AS (
    INSERT INTO commands (owner, command_id, stream_id, recorded_at, stream_version, position)
    SELECT c.owner, c.command_id, c.stream_id, $2, c.stream_version, head.position - $1 + c.last_ord
    FROM head, UNNEST($15::uuid[], $16::uuid[], $17::text[], $18::int8[], $19::int8[])
        AS c (owner, command_id, stream_id, stream_version, last_ord)
)
SELECT head.position, pg_notify('cashflow_events', head.position::text)::text AS notified FROM head";

/// The last statement of a batch whose winners append no events: no head lock, no
/// notification; their position is the head.
const REMEMBER_BATCH: &str = "\
WITH head AS (
    SELECT position FROM event_store_head
), claimed AS (
    INSERT INTO commands (owner, command_id, stream_id, recorded_at, stream_version, position)
    SELECT c.owner, c.command_id, c.stream_id, $1, c.stream_version, head.position
    FROM head, UNNEST($2::uuid[], $3::uuid[], $4::text[], $5::int8[]) AS c (owner, command_id, stream_id, stream_version)
)
SELECT head.position FROM head";

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
    writers: Arc<Writers>,
}

/// The queues of the batch writers, started on the first append. Dropping the last clone of
/// the store closes them: each writer drains what is queued, then ends.
#[derive(Debug, Default)]
struct Writers {
    queues: OnceLock<Vec<mpsc::UnboundedSender<Job>>>,
}

/// One `append` waiting for its batch.
#[derive(Debug)]
struct Job {
    request: Arc<AppendRequest>,
    reply: oneshot::Sender<Reply>,
}

#[derive(Debug)]
enum Reply {
    Done(Result<AppendOutcome, StoreError>),
    /// The batch could not be written as one: append this request on its own.
    Alone,
}

/// Why a batch failed as a whole.
#[derive(Debug)]
enum BatchError {
    /// The connection or the server failed: the outcome is unknown, the caller may retry
    /// with the same idempotency key.
    Unavailable(String),
    /// The SQL was refused (a unique index, a deadlock): nothing was written, and each
    /// request is appended on its own to learn which one is at fault.
    Refused(String),
}

impl BatchError {
    fn from_statement(error: sqlx::Error) -> Self {
        match &error {
            // Connection exceptions, operator intervention (a terminated session), lack of
            // resources: the server or the link failed, not this batch's SQL.
            sqlx::Error::Database(database)
                if database
                    .code()
                    .is_some_and(|code| ["08", "53", "57"].iter().any(|class| code.starts_with(class))) =>
            {
                BatchError::Unavailable(error.to_string())
            }
            sqlx::Error::Database(_)
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_) => BatchError::Refused(error.to_string()),
            _ => BatchError::Unavailable(error.to_string()),
        }
    }
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
        Self {
            pool,
            follower: Arc::new(HeadFollower { head, unstarted: Mutex::new(Some(sender)) }),
            writers: Arc::new(Writers::default()),
        }
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

    /// Queues the request to its stream's batch writer (starting the writers on first use)
    /// and waits for its answer. A writer that is gone (its runtime shut down) answers
    /// `Alone`: appending again on its own is safe, the idempotency key sees to that.
    async fn submit(&self, request: &Arc<AppendRequest>) -> Reply {
        let queues = self.writers.queues.get_or_init(|| {
            (0..WRITERS)
                .map(|_| {
                    let (queue, jobs) = mpsc::unbounded_channel();
                    start_writer(self.pool.connect_options(), jobs);
                    queue
                })
                .collect()
        });
        // One writer per stream, so two batches of this store never race for a version.
        let mut hasher = DefaultHasher::new();
        request.stream_id.hash(&mut hasher);
        let writer = (hasher.finish() % queues.len() as u64) as usize;
        let (reply, answer) = oneshot::channel();
        if queues[writer].send(Job { request: request.clone(), reply }).is_err() {
            return Reply::Alone;
        }
        answer.await.unwrap_or(Reply::Alone)
    }

    /// One append in a transaction of its own, retrying an `ExpectedVersion::Any` append
    /// that lost a race for a version.
    async fn append_alone(&self, request: &AppendRequest) -> Result<AppendOutcome, StoreError> {
        let mut attempt = 1;
        loop {
            let mut transaction = self.pool.begin().await.map_err(map_sqlx)?;
            // Dropping the transaction on an early return rolls it back.
            match self.append_on(&mut transaction, request).await {
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
                Err(error) => return Err(error),
            }
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
        let request = Arc::new(request);
        let result = match self.submit(&request).await {
            Reply::Done(result) => result,
            Reply::Alone => self.append_alone(&request).await,
        };
        match &result {
            Err(error @ StoreError::Conflict { .. }) => tracing::debug!(%error, "append conflict"),
            Err(error) => tracing::error!(%error, "append failed"),
            Ok(_) => {}
        }
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

/// Starts a batch writer on a thread of its own, with a runtime and a connection of its own.
///
/// On the process's runtime the writer's replies waited in the run queue behind every request
/// handler: under load a batch of 32 took 10–25 ms, of which PostgreSQL spent under 3 ms
/// (BENCHMARKS.md). Its own thread answers the socket at once. If the thread cannot start, the
/// queue's receiver is dropped and every append goes `Alone`.
fn start_writer(options: Arc<PgConnectOptions>, jobs: mpsc::UnboundedReceiver<Job>) {
    let started = std::thread::Builder::new().name("cashflow-append".into()).spawn(move || {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(write_batches(options, jobs)),
            Err(error) => tracing::error!(%error, "cannot start the append writer's runtime; appending one by one"),
        }
    });
    if let Err(error) = started {
        tracing::error!(%error, "cannot start the append writer's thread; appending one by one");
    }
}

/// The writer's own session, opened on first use and again after it failed.
struct WriterConnection {
    options: Arc<PgConnectOptions>,
    open: Option<(PgConnection, Instant)>,
}

impl WriterConnection {
    /// The session, pinged first when it sat idle long enough to have been dropped by the server.
    async fn get(&mut self) -> Result<&mut PgConnection, BatchError> {
        if let Some((conn, last_used)) = &mut self.open
            && last_used.elapsed() > WRITER_IDLE_PING
            && conn.ping().await.is_err()
        {
            self.open = None;
        }
        let conn = match self.open.take() {
            Some((conn, _)) => conn,
            None => PgConnection::connect_with(&self.options)
                .await
                .map_err(|error| BatchError::Unavailable(format!("connecting the append writer: {error}")))?,
        };
        let (conn, _) = self.open.insert((conn, Instant::now()));
        Ok(conn)
    }
}

/// A batch writer: takes everything queued (see [`take_batch`]) and writes it as one. Ends
/// when every sender of its queue is gone and nothing is left in it.
async fn write_batches(options: Arc<PgConnectOptions>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut connection = WriterConnection { options, open: None };
    let mut waiting = VecDeque::new();
    let mut last_size = 1;
    loop {
        if waiting.is_empty() {
            match jobs.recv().await {
                Some(job) => waiting.push_back(job),
                None => return,
            }
        }
        while let Ok(job) = jobs.try_recv() {
            waiting.push_back(job);
        }
        // The callers of the last batch resubmit at nearly the same time: give them a few
        // turns of the scheduler (not a timer) to join, so a batch does not leave with the
        // first of them and the rest wait a whole commit.
        let mut turns = 0;
        while waiting.len() < last_size && turns < LINGER_TURNS {
            tokio::task::yield_now().await;
            while let Ok(job) = jobs.try_recv() {
                waiting.push_back(job);
            }
            turns += 1;
        }
        let batch = take_batch(&mut waiting);
        last_size = batch.len();
        let started = Instant::now();
        write_batch(&mut connection, batch).await;
        crate::metrics::record_batch(last_size, started.elapsed());
    }
}

/// Takes from `waiting`, in order, up to [`MAX_BATCH`] requests that can share a batch: the
/// first for each stream (a later one must see its version) and for each key (a later one is
/// its replay). The rest keep their order for the next batch.
fn take_batch(waiting: &mut VecDeque<Job>) -> Vec<Job> {
    let mut streams = HashSet::new();
    let mut keys = HashSet::new();
    let mut batch = Vec::new();
    let mut deferred = VecDeque::new();
    for job in waiting.drain(..) {
        let key = (job.request.metadata.owner, job.request.metadata.command_id);
        if batch.len() < MAX_BATCH && !streams.contains(&job.request.stream_id) && !keys.contains(&key) {
            streams.insert(job.request.stream_id.clone());
            keys.insert(key);
            batch.push(job);
        } else {
            deferred.push_back(job);
        }
    }
    *waiting = deferred;
    batch
}

#[tracing::instrument(
    name = "eventstore.append_batch",
    skip_all,
    fields(otel.kind = "client", db.system = "postgresql", db.operation = "INSERT", requests = jobs.len())
)]
async fn write_batch(connection: &mut WriterConnection, jobs: Vec<Job>) {
    let requests: Vec<&AppendRequest> = jobs.iter().map(|job| &*job.request).collect();
    let result = match connection.get().await {
        Ok(conn) => commit_batch(conn, &requests).await,
        Err(error) => Err(error),
    };
    let replies: Vec<Reply> = match result {
        Ok(results) => results.into_iter().map(Reply::Done).collect(),
        Err(BatchError::Unavailable(error)) => {
            tracing::error!(%error, "append batch failed");
            // The session may be gone: the next batch opens a new one.
            connection.open = None;
            requests.iter().map(|_| Reply::Done(Err(StoreError::Unavailable(error.clone())))).collect()
        }
        Err(BatchError::Refused(error)) => {
            tracing::debug!(%error, "append batch refused; appending its requests one by one");
            requests.iter().map(|_| Reply::Alone).collect()
        }
    };
    for (job, reply) in jobs.into_iter().zip(replies) {
        // The caller may have gone away; its append stands all the same.
        let _ = job.reply.send(reply);
    }
}

/// What a batch decided for one request after reading.
enum Plan {
    /// Answered already: a replay, a conflict, a value out of range.
    Answered(Result<AppendOutcome, StoreError>),
    /// Appends (possibly no events): the stream's version after it, and the ordinal in the
    /// batch of its last event (of the event before it when it has none).
    Writes { stream_version: u64, last_ord: i64 },
}

/// Writes one batch: a read, then one statement that commits every winner together.
async fn commit_batch(
    conn: &mut PgConnection,
    requests: &[&AppendRequest],
) -> Result<Vec<Result<AppendOutcome, StoreError>>, BatchError> {
    let recorded_at = hash::now_micros();
    let read = sqlx::query(READ_BATCH)
        .bind(requests.iter().map(|request| request.metadata.owner).collect::<Vec<_>>())
        .bind(requests.iter().map(|request| request.metadata.command_id).collect::<Vec<_>>())
        .bind(requests.iter().map(|request| request.stream_id.as_str()).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await
        .map_err(BatchError::from_statement)?;
    let in_order = read.len() == requests.len()
        && read.iter().zip(1i64..).all(|(row, ord)| row.try_get::<i64, _>("ord").is_ok_and(|got| got == ord));
    if !in_order {
        return Err(BatchError::Refused("the read does not match the requests".into()));
    }

    // Each request is checked on its own; only the winners' events are sealed.
    let mut events = Vec::new();
    let plans: Vec<Plan> = requests
        .iter()
        .zip(&read)
        .map(|(request, row)| match plan(request, row, recorded_at, &mut events) {
            Ok(plan) => plan,
            Err(error) => Plan::Answered(Err(error)),
        })
        .collect();
    let winners: Vec<(usize, u64, i64)> = plans
        .iter()
        .enumerate()
        .filter_map(|(index, plan)| match *plan {
            Plan::Writes { stream_version, last_ord } => Some((index, stream_version, last_ord)),
            Plan::Answered(_) => None,
        })
        .collect();
    let owners: Vec<Uuid> = winners.iter().map(|&(index, _, _)| requests[index].metadata.owner).collect();
    let command_ids: Vec<Uuid> = winners.iter().map(|&(index, _, _)| requests[index].metadata.command_id).collect();
    let stream_ids: Vec<&str> = winners.iter().map(|&(index, _, _)| requests[index].stream_id.as_str()).collect();
    // `plan` checked that every version fits.
    let versions: Vec<i64> =
        winners.iter().map(|&(_, version, _)| i64::try_from(version).unwrap_or(i64::MAX)).collect();
    let count = events.len() as i64;

    let head = if winners.is_empty() {
        0
    } else if events.is_empty() {
        sqlx::query(REMEMBER_BATCH)
            .bind(recorded_at)
            .bind(owners)
            .bind(command_ids)
            .bind(stream_ids)
            .bind(versions)
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get::<i64, _>("position"))
            .map_err(BatchError::from_statement)?
    } else {
        sqlx::query(WRITE_BATCH)
            .bind(count)
            .bind(recorded_at)
            .bind(events.iter().map(|event| event.event_id).collect::<Vec<_>>())
            .bind(events.iter().map(|event| event.stream_id.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|event| i64::try_from(event.version).unwrap_or(i64::MAX)).collect::<Vec<_>>())
            .bind(events.iter().map(|event| event.event_type.as_str()).collect::<Vec<_>>())
            .bind(
                events.iter().map(|event| i32::try_from(event.schema_version).unwrap_or(i32::MAX)).collect::<Vec<_>>(),
            )
            .bind(events.iter().map(|event| &event.payload).collect::<Vec<_>>())
            .bind(events.iter().map(|event| event.owner).collect::<Vec<_>>())
            .bind(events.iter().map(|event| event.command_id).collect::<Vec<_>>())
            .bind(events.iter().map(|event| event.correlation_id).collect::<Vec<_>>())
            .bind(events.iter().map(|event| event.causation_id).collect::<Vec<_>>())
            .bind(events.iter().map(|event| event.traceparent.as_deref()).collect::<Vec<_>>())
            .bind(events.iter().map(|event| event.hash.to_vec()).collect::<Vec<_>>())
            .bind(owners)
            .bind(command_ids)
            .bind(stream_ids)
            .bind(versions)
            .bind(winners.iter().map(|&(_, _, last_ord)| last_ord).collect::<Vec<_>>())
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get::<i64, _>("position"))
            .map_err(BatchError::from_statement)?
    };

    Ok(plans
        .into_iter()
        .map(|plan| match plan {
            Plan::Answered(result) => result,
            Plan::Writes { stream_version, last_ord } => {
                Ok(AppendOutcome { stream_version, position: to_u64(head - count + last_ord)?, replayed: false })
            }
        })
        .collect())
}

/// Answers a request from its row of the batch's read (a replay, a conflict), or checks it
/// and seals its events onto `events`.
fn plan(
    request: &AppendRequest,
    row: &PgRow,
    recorded_at: chrono::DateTime<chrono::Utc>,
    events: &mut Vec<RecordedEvent>,
) -> Result<Plan, StoreError> {
    if row.try_get::<bool, _>("stored").map_err(corrupt)? {
        let stream_version: Option<i64> = row.try_get("stored_version").map_err(corrupt)?;
        let position: Option<i64> = row.try_get("stored_position").map_err(corrupt)?;
        return match (stream_version, position) {
            (Some(stream_version), Some(position)) => Ok(Plan::Answered(Ok(AppendOutcome {
                stream_version: to_u64(stream_version)?,
                position: to_u64(position)?,
                replayed: true,
            }))),
            _ => Err(StoreError::Corrupt(format!(
                "command {} was claimed but has no outcome",
                request.metadata.command_id
            ))),
        };
    }
    let last_version = row.try_get::<Option<i64>, _>("version").map_err(corrupt)?.map_or(Ok(0), to_u64)?;
    let previous = match row.try_get::<Option<Vec<u8>>, _>("hash").map_err(corrupt)? {
        Some(bytes) => to_hash(bytes)?,
        None => GENESIS,
    };
    if !request.expected_version.matches(last_version) {
        return Ok(Plan::Answered(Err(conflict(request, last_version))));
    }
    let sealed = hash::seal(request, last_version, previous, recorded_at, 0);
    for event in &sealed {
        to_i64(event.version)?;
        i32::try_from(event.schema_version)
            .map_err(|_| StoreError::Corrupt(format!("schema version {} out of range", event.schema_version)))?;
    }
    events.extend(sealed);
    Ok(Plan::Writes { stream_version: last_version + request.events.len() as u64, last_ord: events.len() as i64 })
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

/// The connection settings of `url`. A URL naming a loopback host and no `sslmode` connects
/// without TLS: sqlx's default (`prefer`) negotiates TLS with any server that has it, and on
/// loopback that protects nothing yet cut end-to-end commands from 1,376/s to 570/s here
/// (BENCHMARKS.md, ADR 0008). Any other host, or an explicit `sslmode`, is left as the URL says.
pub fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?;
    let loopback = match options.get_host() {
        "localhost" => true,
        host => host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()),
    };
    if loopback && !url.to_ascii_lowercase().contains("sslmode=") {
        return Ok(options.ssl_mode(PgSslMode::Disable));
    }
    Ok(options)
}

/// Pool settings for every pool of this project: no ping before each statement. sqlx's
/// `test_before_acquire` costs a round trip per statement; a connection that died idle fails
/// its next statement instead, which callers handle as `Unavailable` (safe to retry with the
/// same command id).
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().test_before_acquire(false)
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
    let options =
        connect_options(url).map_err(|error| StoreError::Unavailable(format!("invalid database url: {error}")))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_without_an_sslmode_skips_tls_and_anything_else_is_kept() {
        let mode = |url| connect_options(url).unwrap().get_ssl_mode();
        assert!(matches!(mode("postgres://postgres@127.0.0.1:5432/cashflow"), PgSslMode::Disable));
        assert!(matches!(mode("postgres://postgres@localhost/cashflow"), PgSslMode::Disable));
        assert!(matches!(mode("postgres://postgres@[::1]:5432/cashflow"), PgSslMode::Disable));
        assert!(matches!(mode("postgres://postgres@127.0.0.1/cashflow?sslmode=require"), PgSslMode::Require));
        assert!(matches!(mode("postgres://postgres@db.internal:5432/cashflow"), PgSslMode::Prefer));
        assert!(matches!(mode("postgres://postgres@10.0.0.7/cashflow"), PgSslMode::Prefer));
    }
}
