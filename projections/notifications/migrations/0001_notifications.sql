-- A person's inbox: one row per notification raised, newest first by position.
CREATE TABLE IF NOT EXISTS notifications (
    id          uuid PRIMARY KEY,
    owner       uuid NOT NULL,
    topic       text NOT NULL,
    title       text NOT NULL,
    body        text NOT NULL,
    subject_id  text NOT NULL,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    position    bigint NOT NULL,
    read        boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS notifications_owner_newest ON notifications (owner, position DESC, id DESC);
CREATE INDEX IF NOT EXISTS notifications_owner_unread ON notifications (owner, position DESC, id DESC) WHERE NOT read;

-- Where a person's notifications go. Removed channels stay, so their delivery log does.
CREATE TABLE IF NOT EXISTS notification_channels (
    id              uuid PRIMARY KEY,
    owner           uuid NOT NULL,
    kind            text NOT NULL,
    target          text NOT NULL,
    -- Empty: every topic.
    topics          text[] NOT NULL,
    signing_secret  text,
    added_position  bigint NOT NULL,
    removed         boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS notification_channels_owner ON notification_channels (owner) WHERE NOT removed;

CREATE TABLE IF NOT EXISTS notification_preferences (
    owner                    uuid PRIMARY KEY,
    large_expense_threshold  numeric,
    monthly_report           boolean NOT NULL
);

-- The delivery outbox: one row per notification and channel, written in the same transaction
-- as the notification (so none is lost), then worked by the dispatcher (ADR 0021). Not part
-- of the projection's reset: a rebuild must not deliver anything again.
CREATE TABLE IF NOT EXISTS notification_deliveries (
    notification_id  uuid NOT NULL,
    channel_id       uuid NOT NULL,
    owner            uuid NOT NULL,
    -- pending, delivered or failed.
    status           text NOT NULL DEFAULT 'pending',
    -- Attempts begun; a claim counts one before the receiver is called.
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    created_at       timestamptz NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    delivered_at     timestamptz,
    traceparent      text,
    PRIMARY KEY (notification_id, channel_id)
);
CREATE INDEX IF NOT EXISTS notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS notification_deliveries_channel ON notification_deliveries (channel_id, status);
