-- A chain over global positions, beside the per-stream chains: each event also stores
-- SHA-256(previous position's global hash ‖ position as 8 big-endian bytes ‖ its stream hash),
-- so deleting or renumbering events breaks it where the per-stream chains cannot see it.
--
-- Events written before this migration have no global hash: the global chain starts at the
-- first position that has one, chaining from 32 zero bytes, and every later position must
-- have one (ADR 0016).

-- NOT VALID: every existing row is NULL, which passes, so there is nothing to scan for.
ALTER TABLE events
    ADD COLUMN global_hash BYTEA,
    ADD CONSTRAINT events_global_hash_length CHECK (octet_length(global_hash) = 32) NOT VALID;

-- The global hash at `position`, the chain's tip (NULL until the first event written with
-- one), and the tip before the last append: the appending statement sets both in its one
-- UPDATE, which sees the latest head even when its snapshot is older, and chains its events
-- from the value it returns.
ALTER TABLE event_store_head ADD COLUMN global_hash BYTEA, ADD COLUMN previous_global_hash BYTEA;

-- The global hashes of `hashes`, the stream hashes of the events at `first_position`,
-- `first_position + 1`, … in order, following the tip `previous` (NULL: the chain starts here).
CREATE FUNCTION event_store_global_chain(previous BYTEA, first_position BIGINT, hashes BYTEA[])
RETURNS BYTEA[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    link BYTEA := COALESCE(previous, '\x0000000000000000000000000000000000000000000000000000000000000000'::BYTEA);
    chained BYTEA[] := '{}';
BEGIN
    FOR i IN 1 .. COALESCE(array_length(hashes, 1), 0) LOOP
        link := sha256(link || int8send(first_position + i - 1) || hashes[i]);
        chained := chained || link;
    END LOOP;
    RETURN chained;
END
$$;
