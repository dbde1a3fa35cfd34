-- The relay's last acknowledged position per JetStream stream. Only an optimisation: on start
-- the relay resumes after max(this, the position of the stream's last message).
CREATE TABLE IF NOT EXISTS relay_checkpoint (
    stream     TEXT PRIMARY KEY,
    position   BIGINT NOT NULL CHECK (position >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
