//! Group commit: `PgEventStore::append` queues each call to a writer (one of [`WRITERS`],
//! chosen by stream, each on a thread of its own with a session of its own) that takes
//! everything waiting (up to [`MAX_BATCH`], one request per stream and per idempotency key)
//! and writes it in two statements over arrays, each on its own (no transaction spans them,
//! so no lock is held between them):
//!
//! 1. [`READ_BATCH`] reads every key's stored outcome and every stream's tail; then, in Rust,
//!    each request is answered on its own (a replay, a conflict) or checked and sealed, by
//!    the same [`plan`] as a single append;
//! 2. [`WRITE_BATCH`] takes positions for all the winners' events under the head lock,
//!    inserts them and the winners' keys with their outcomes, and notifies readers once; this
//!    statement's commit is the batch's one commit, so the head lock and the flush are shared
//!    by the batch.
//!
//! The unique indexes guard the gap between the two: a version or a key taken meanwhile (by
//! `append_in` or another process) fails the second statement whole, and then each request
//! of the batch is appended on its own, as `append_in` does it. When the connection fails,
//! every request of the batch is `Unavailable` (retrying with the same key is safe).

use super::PgEventStore;
use super::plan::{Claim, Plan, plan};
use super::rows::{corrupt, stored_outcome, to_u64};
use super::sql::{CHANNEL, READ_BATCH, REMEMBER_BATCH, WRITE_BATCH};
use crate::hash;
use crate::{AppendOutcome, AppendRequest, StoreError};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{Connection, Row};
use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

/// The most appends one batch (one commit) takes; the rest waits for the next batch. Larger
/// batches measured no better end to end, and much slower per commit over TLS (BENCHMARKS.md,
/// "End to end through gRPC").
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

/// The queues of the batch writers, started on the first append. Dropping the last clone of
/// the store closes them: each writer drains what is queued, then ends.
#[derive(Debug, Default)]
pub(super) struct Writers {
    queues: OnceLock<Vec<mpsc::UnboundedSender<Job>>>,
}

/// One `append` waiting for its batch.
#[derive(Debug)]
struct Job {
    request: Arc<AppendRequest>,
    reply: oneshot::Sender<Reply>,
}

#[derive(Debug)]
pub(super) enum Reply {
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

impl PgEventStore {
    /// Queues the request to its stream's batch writer (starting the writers on first use)
    /// and waits for its answer. A writer that is gone (its runtime shut down) answers
    /// `Alone`: appending again on its own is safe, the idempotency key sees to that.
    pub(super) async fn submit(&self, request: &Arc<AppendRequest>) -> Reply {
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
}

/// Starts a batch writer on a thread of its own, with a runtime and a connection of its own.
///
/// On the process's runtime the writer's replies waited in the run queue behind every request
/// handler, and a batch took several times what PostgreSQL spent on it (BENCHMARKS.md). Its own
/// thread answers the socket at once. If the thread cannot start, the
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
/// its replay), and none that writes a stream another one guards or guards one another writes
/// (a guard is checked against what was committed before the batch). The rest keep their
/// order for the next batch.
fn take_batch(waiting: &mut VecDeque<Job>) -> Vec<Job> {
    let mut streams = HashSet::new();
    let mut guarded = HashSet::new();
    let mut keys = HashSet::new();
    let mut batch = Vec::new();
    let mut deferred = VecDeque::new();
    for job in waiting.drain(..) {
        let request = &job.request;
        let key = (request.metadata.owner, request.metadata.command_id);
        let fits = batch.len() < MAX_BATCH
            && !streams.contains(&request.stream_id)
            && !guarded.contains(&request.stream_id)
            && !keys.contains(&key)
            && request.guards.iter().all(|guard| !streams.contains(&guard.stream_id));
        if fits {
            streams.insert(request.stream_id.clone());
            guarded.extend(request.guards.iter().map(|guard| guard.stream_id.clone()));
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
enum Decided {
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
    let guards: Vec<(i64, &str)> = (1i64..)
        .zip(requests)
        .flat_map(|(ord, request)| request.guards.iter().map(move |guard| (ord, guard.stream_id.as_str())))
        .collect();
    let read = sqlx::query(READ_BATCH)
        .bind(requests.iter().map(|request| request.metadata.owner).collect::<Vec<_>>())
        .bind(requests.iter().map(|request| request.metadata.command_id).collect::<Vec<_>>())
        .bind(requests.iter().map(|request| request.stream_id.as_str()).collect::<Vec<_>>())
        .bind(guards.iter().map(|&(ord, _)| ord).collect::<Vec<_>>())
        .bind(guards.iter().map(|&(_, stream_id)| stream_id).collect::<Vec<_>>())
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
    let decided: Vec<Decided> = requests
        .iter()
        .zip(&read)
        .map(|(request, row)| {
            let planned = claim_of(row).and_then(|claim| plan(request, claim, row, recorded_at)).and_then(|plan| {
                if matches!(plan, Plan::Write(_)) {
                    check_guards(request, row)?;
                }
                Ok(plan)
            });
            match planned {
                Ok(Plan::Replay(outcome)) => Decided::Answered(Ok(outcome)),
                Ok(Plan::Write(sealed)) => {
                    let stream_version = sealed.stream_version();
                    events.extend(sealed.events);
                    Decided::Writes { stream_version, last_ord: events.len() as i64 }
                }
                Err(error) => Decided::Answered(Err(error)),
            }
        })
        .collect();
    let winners: Vec<(usize, u64, i64)> = decided
        .iter()
        .enumerate()
        .filter_map(|(index, decided)| match *decided {
            Decided::Writes { stream_version, last_ord } => Some((index, stream_version, last_ord)),
            Decided::Answered(_) => None,
        })
        .collect();
    let owners: Vec<Uuid> = winners.iter().map(|&(index, _, _)| requests[index].metadata.owner).collect();
    let command_ids: Vec<Uuid> = winners.iter().map(|&(index, _, _)| requests[index].metadata.command_id).collect();
    let stream_ids: Vec<&str> = winners.iter().map(|&(index, _, _)| requests[index].stream_id.as_str()).collect();
    // `plan` checked that every version fits.
    let versions: Vec<i64> =
        winners.iter().map(|&(_, version, _)| i64::try_from(version).unwrap_or(i64::MAX)).collect();
    let count = events.len() as i64;
    // Checked again under the head lock, as the batch commits.
    let (guard_streams, guard_versions): (Vec<&str>, Vec<i64>) = winners
        .iter()
        .flat_map(|&(index, _, _)| &requests[index].guards)
        .map(|guard| (guard.stream_id.as_str(), i64::try_from(guard.version).unwrap_or(i64::MAX)))
        .unzip();

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
            .bind(CHANNEL)
            .bind(guard_streams)
            .bind(guard_versions)
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get::<i64, _>("position"))
            .map_err(BatchError::from_statement)?
    };

    Ok(requests
        .iter()
        .zip(decided)
        .map(|(request, decided)| match decided {
            Decided::Answered(result) => result,
            Decided::Writes { stream_version, last_ord } => Ok(AppendOutcome {
                stream_id: request.stream_id.clone(),
                stream_version,
                position: to_u64(head - count + last_ord)?,
                replayed: false,
            }),
        })
        .collect())
}

/// The request's guards against the versions the batch's read found (`guard_versions`).
fn check_guards(request: &AppendRequest, row: &PgRow) -> Result<(), StoreError> {
    if request.guards.is_empty() {
        return Ok(());
    }
    let versions: Vec<i64> = row.try_get("guard_versions").map_err(corrupt)?;
    if versions.len() != request.guards.len() {
        return Err(StoreError::Corrupt("the batch's read does not match the request's guards".into()));
    }
    for (guard, version) in request.guards.iter().zip(versions) {
        guard.check(to_u64(version)?)?;
    }
    Ok(())
}

/// Who holds a request's key, from its row of the batch's read.
fn claim_of(row: &PgRow) -> Result<Claim, StoreError> {
    if row.try_get::<bool, _>("stored").map_err(corrupt)? {
        Ok(Claim::Lost(stored_outcome(row)?))
    } else {
        Ok(Claim::Won)
    }
}
