-- The check of an append's stream guards inside a batch's write (ADR 0028): every named stream
-- must still be at its version. VOLATILE, so that under READ COMMITTED its query takes a fresh
-- snapshot rather than the calling statement's: called after the statement has taken the head
-- lock, it sees every event committed before that lock was granted, and no event can commit
-- after it until the caller does. A guard that moved raises, which refuses the whole batch;
-- its requests are then appended one by one, each learning its own outcome.
CREATE OR REPLACE FUNCTION event_store_check_guards(stream_ids TEXT[], versions BIGINT[])
RETURNS BOOLEAN LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    moved TEXT;
BEGIN
    SELECT g.stream_id INTO moved
    FROM UNNEST(stream_ids, versions) AS g (stream_id, version)
    WHERE COALESCE((SELECT max(e.version) FROM events e WHERE e.stream_id = g.stream_id), 0) <> g.version
    LIMIT 1;
    IF moved IS NOT NULL THEN
        RAISE EXCEPTION 'stream % moved past its guarded version', moved USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN TRUE;
END;
$$;
