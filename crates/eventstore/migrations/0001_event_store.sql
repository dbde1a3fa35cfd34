-- The event store: events, the head counter that orders commits, and idempotency keys.

-- Every event ever appended. `position` is dense and in commit order because each
-- appending transaction takes it from `event_store_head`, whose row lock it holds until
-- commit.
CREATE TABLE events (
    position       BIGINT      PRIMARY KEY CHECK (position >= 1),
    event_id       UUID        NOT NULL,
    stream_id      TEXT        NOT NULL,
    version        BIGINT      NOT NULL CHECK (version >= 1),
    event_type     TEXT        NOT NULL,
    schema_version INT         NOT NULL,
    payload        JSONB       NOT NULL,
    owner          UUID        NOT NULL,
    command_id     UUID        NOT NULL,
    correlation_id UUID        NOT NULL,
    causation_id   UUID,
    traceparent    TEXT,
    recorded_at    TIMESTAMPTZ NOT NULL,
    hash           BYTEA       NOT NULL CHECK (octet_length(hash) = 32),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    -- Two writers racing for one version: the loser fails here and gets a conflict.
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

-- The highest committed position. One row, updated by every appending transaction.
CREATE TABLE event_store_head (
    id       BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    position BIGINT  NOT NULL CHECK (position >= 0)
) WITH (fillfactor = 50);

INSERT INTO event_store_head (id, position) VALUES (TRUE, 0);

-- Idempotency keys. `stream_version` and `position` are NULL only inside the appending
-- transaction, which fills them in before it commits.
CREATE TABLE commands (
    owner          UUID        NOT NULL,
    command_id     UUID        NOT NULL,
    stream_id      TEXT        NOT NULL,
    stream_version BIGINT,
    position       BIGINT,
    recorded_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (owner, command_id)
);
