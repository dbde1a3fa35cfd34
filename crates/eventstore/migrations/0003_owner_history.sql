-- A person's history in position order, without scanning everyone's: reports fold it up to the
-- position of their request, and balances as of a day fold it to now (ADR 0022). Appends pay
-- one more B-tree insert per event; owners are random UUIDs, so the index's pages are warm for
-- active people and cold for the rest.
CREATE INDEX IF NOT EXISTS events_owner_position ON events (owner, position);
