//! The statements on the event store's tables, and the `NOTIFY` channel they share with the
//! follower.

/// The `LISTEN`/`NOTIFY` channel; each notification's payload is the transaction's last position.
/// Bound as a parameter by both writing statements and listened to by the follower.
pub const CHANNEL: &str = "cashflow_events";

/// The columns [`event_from_row`](super::rows::event_from_row) reads, as a literal for `concat!`.
macro_rules! event_columns {
    () => {
        "position, event_id, stream_id, version, event_type, schema_version, payload, owner, command_id, \
         correlation_id, causation_id, traceparent, recorded_at, hash"
    };
}

/// The start of [`WRITE`] and [`WRITE_BATCH`]: take `$1` positions (the head row's lock, held
/// until commit), chain the events' stream hashes (the array parameter `$hashes`) onto the
/// global chain from the head's tip and move the tip, then insert events at the positions
/// taken, from the rows the statement then selects followed by each one's global hash
/// (`(SELECT hashes FROM chained)[ord]`).
///
/// The `UPDATE` evaluates its `SET` on the latest committed head even when this statement's
/// snapshot is older, so position and tip always come from the same head; it returns the tip
/// it replaced (`previous_global_hash`) for the events' hashes. `chained` is read through a
/// scalar subquery, never joined: the planner guesses ~1,000 rows for the head table, and
/// joins of such guesses cost enough to switch JIT compilation on (0.7 s a statement).
macro_rules! take_positions_and_insert_events {
    ($hashes:literal) => {
        concat!(
            "WITH head AS (\n    UPDATE event_store_head SET position = position + $1, ",
            "previous_global_hash = global_hash,\n        global_hash = ",
            "(event_store_global_chain(global_hash, position + 1, ",
            $hashes,
            "::bytea[]))[$1]\n    RETURNING position, previous_global_hash\n), ",
            "chained AS (\n    SELECT event_store_global_chain(previous_global_hash, position - $1 + 1, ",
            $hashes,
            "::bytea[]) AS hashes\n    FROM head\n), ",
            "inserted AS (\n    INSERT INTO events (",
            event_columns!(),
            ", global_hash)\n"
        )
    };
}

pub(super) const READ_STREAM: &str =
    concat!("SELECT ", event_columns!(), " FROM events WHERE stream_id = $1 ORDER BY version");

pub(super) const READ_ALL: &str =
    concat!("SELECT ", event_columns!(), " FROM events WHERE position > $1 ORDER BY position LIMIT $2");

/// One owner's events in a position range, oldest first (index `events_owner_position`).
pub(super) const READ_OWNER: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM events WHERE owner = $1 AND position > $2 AND position <= $3 ORDER BY position LIMIT $4"
);

/// Every event with its global hash, in position order, for the audit.
pub(super) const AUDIT_SCAN: &str = concat!("SELECT ", event_columns!(), ", global_hash FROM events ORDER BY position");

pub(super) const READ_HEAD: &str = "SELECT position FROM event_store_head";

pub(super) const STREAM_VERSION: &str = "SELECT COALESCE(MAX(version), 0) AS version FROM events WHERE stream_id = $1";

/// Claims the idempotency key and reads the stream's tail in one round trip.
pub(super) const CLAIM: &str = "\
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

/// Takes `$1` positions (the head row lock, held until commit), inserts the events with their
/// global hashes, stores the command's outcome and notifies readers on channel `$15`, in one
/// round trip.
pub(super) const WRITE: &str = concat!(
    take_positions_and_insert_events!("$14"),
    "\
    SELECT head.position - $1 + e.ord, e.event_id, $2, $3 + e.ord, e.event_type, e.schema_version, e.payload,
           $4, $5, $6, $7, $8, $9, e.hash, (SELECT hashes FROM chained)[e.ord]
    FROM head, UNNEST($10::uuid[], $11::text[], $12::int4[], $13::jsonb[], $14::bytea[])
        WITH ORDINALITY AS e (event_id, event_type, schema_version, payload, hash, ord)
), command AS (
    UPDATE commands SET stream_version = $3 + $1, position = head.position
    FROM head
    WHERE commands.owner = $4 AND commands.command_id = $5
)
SELECT head.position, pg_notify($15, head.position::text)::text AS notified FROM head"
);

/// Stores the outcome of an append of no events: the stream's version and the current head.
pub(super) const REMEMBER_EMPTY: &str = "\
UPDATE commands SET stream_version = $3, position = (SELECT position FROM event_store_head)
WHERE owner = $1 AND command_id = $2
RETURNING position";

/// A key's stored outcome, under the column names [`READ_BATCH`] gives it too, so that one
/// function maps both (see `rows::stored_outcome`).
pub(super) const FIND_COMMAND: &str = "\
SELECT stream_id AS stored_stream_id, stream_version AS stored_version, position AS stored_position
FROM commands
WHERE owner = $1 AND command_id = $2 AND stream_version IS NOT NULL AND position IS NOT NULL";

/// The last version of each stream in `$1`, in order (0 for one that does not exist).
pub(super) const GUARD_VERSIONS: &str = "\
SELECT COALESCE((SELECT max(version) FROM events WHERE events.stream_id = g.stream_id), 0) AS version
FROM UNNEST($1::text[]) WITH ORDINALITY AS g (stream_id, ord)
ORDER BY g.ord";

/// A batch's first statement, outside any transaction: every key's stored outcome, if any,
/// every stream's tail, and the versions of the streams each request guards (`$4` the
/// request's ordinal, `$5` the stream, in the request's order).
pub(super) const READ_BATCH: &str = "\
SELECT input.ord, commands.owner IS NOT NULL AS stored, commands.stream_id AS stored_stream_id,
       commands.stream_version AS stored_version, commands.position AS stored_position, last.version, last.hash,
       ARRAY(
           SELECT COALESCE((SELECT max(version) FROM events WHERE events.stream_id = g.stream_id), 0)
           FROM UNNEST($4::int8[], $5::text[]) WITH ORDINALITY AS g (request, stream_id, n)
           WHERE g.request = input.ord ORDER BY g.n
       ) AS guard_versions
FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) WITH ORDINALITY AS input (owner, command_id, stream_id, ord)
LEFT JOIN commands ON commands.owner = input.owner AND commands.command_id = input.command_id
LEFT JOIN LATERAL (
    SELECT version, hash FROM events WHERE events.stream_id = input.stream_id ORDER BY version DESC LIMIT 1
) AS last ON TRUE
ORDER BY input.ord";

/// A batch's second and last statement, committed on its own: takes `$1` positions under the
/// head lock (held until its commit), inserts every winner's events (with their global hashes,
/// chained in batch order) and its idempotency key
/// with its outcome (position = first new position - 1 + `last_ord`), and notifies readers
/// once on channel `$20`. A version or a key taken since the first statement fails it whole
/// (unique indexes), and so does a guarded stream (`$21`, at version `$22`) that moved:
/// `event_store_check_guards` runs after the head lock is taken (it reads `head`).
pub(super) const WRITE_BATCH: &str = concat!(
    take_positions_and_insert_events!("$14"),
    "\
    SELECT head.position - $1 + e.ord, e.event_id, e.stream_id, e.version, e.event_type, e.schema_version,
           e.payload, e.owner, e.command_id, e.correlation_id, e.causation_id, e.traceparent, $2, e.hash,
           (SELECT hashes FROM chained)[e.ord]
    FROM head, UNNEST($3::uuid[], $4::text[], $5::int8[], $6::text[], $7::int4[], $8::jsonb[], $9::uuid[],
                      $10::uuid[], $11::uuid[], $12::uuid[], $13::text[], $14::bytea[])
        WITH ORDINALITY AS e (event_id, stream_id, version, event_type, schema_version, payload, owner,
                              command_id, correlation_id, causation_id, traceparent, hash, ord)
), claimed AS (
    INSERT INTO commands (owner, command_id, stream_id, recorded_at, stream_version, position)
    SELECT c.owner, c.command_id, c.stream_id, $2, c.stream_version, head.position - $1 + c.last_ord
    FROM head, UNNEST($15::uuid[], $16::uuid[], $17::text[], $18::int8[], $19::int8[])
        AS c (owner, command_id, stream_id, stream_version, last_ord)
), guarded AS (
    SELECT event_store_check_guards($21::text[], $22::int8[]) AS held FROM head
)
SELECT head.position, pg_notify($20, head.position::text)::text AS notified, (SELECT held FROM guarded) AS guarded
FROM head"
);

/// The last statement of a batch whose winners append no events: no head lock, no
/// notification; their position is the head.
pub(super) const REMEMBER_BATCH: &str = "\
WITH head AS (
    SELECT position FROM event_store_head
), claimed AS (
    INSERT INTO commands (owner, command_id, stream_id, recorded_at, stream_version, position)
    SELECT c.owner, c.command_id, c.stream_id, $1, c.stream_version, head.position
    FROM head, UNNEST($2::uuid[], $3::uuid[], $4::text[], $5::int8[]) AS c (owner, command_id, stream_id, stream_version)
)
SELECT head.position FROM head";
