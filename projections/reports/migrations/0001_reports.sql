-- One row per report a person asked for; the file itself is in blob storage under blob_key.
CREATE TABLE IF NOT EXISTS reports (
    id             UUID        PRIMARY KEY,
    owner          UUID        NOT NULL,
    status         TEXT        NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
    format         TEXT        NOT NULL CHECK (format IN ('pdf', 'csv')),
    period_from    DATE        NOT NULL,
    period_to      DATE        NOT NULL,
    account_ids    UUID[]      NOT NULL,
    -- The store position the report stands at.
    as_of_position BIGINT      NOT NULL,
    -- The position of its ReportRequested: the list's order.
    position       BIGINT      NOT NULL,
    size_bytes     BIGINT,
    sha256         TEXT,
    blob_key       TEXT,
    failure_reason TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    ready_at       TIMESTAMPTZ
);

CREATE INDEX IF NOT EXISTS reports_owner_position ON reports (owner, position DESC, id DESC);
