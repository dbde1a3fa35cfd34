-- Each projection's last applied global position, written in the same transaction as the
-- read model's rows, so a batch and its checkpoint commit together.
-- Identical to cashflow-bus's migration 0002, which created this table before it moved here
-- (ADR 0009): on a database that ran that one, this does nothing.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
    name       TEXT PRIMARY KEY,
    position   BIGINT NOT NULL CHECK (position >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
