-- The event log: the single source of truth. Rows are never updated or deleted.
CREATE TABLE events (
    -- Unique, from a sequence; NOT commit order on its own (see transaction_id).
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The appending transaction's id (xid8 as bigint). Readers of the whole log order by
    -- (transaction_id, global_position) and only read transactions below the snapshot's xmin,
    -- which are all finished: that makes the global order gap-safe.
    transaction_id bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    stream_id text NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version >= 1),
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL,
    recorded_at timestamptz NOT NULL,
    -- SHA-256 over the previous event's hash of the same stream and this event's content.
    hash bytea NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

CREATE INDEX events_log_order_idx ON events (transaction_id, global_position);
CREATE INDEX events_type_idx ON events (event_type, transaction_id, global_position);
CREATE INDEX events_correlation_idx ON events (((metadata ->> 'correlation_id')::uuid));

CREATE FUNCTION events_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable (% rejected)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();

-- The latest state of a long stream at a version, so loading does not grow with history.
CREATE TABLE snapshots (
    stream_id text PRIMARY KEY,
    stream_version bigint NOT NULL,
    -- Bumped when the aggregate's state shape changes; older snapshots are then ignored.
    state_version integer NOT NULL,
    state jsonb NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now()
);

-- First result of a command per (actor, key); a repeat replays it.
CREATE TABLE idempotency_keys (
    actor text NOT NULL,
    key text NOT NULL,
    -- SHA-256 of method, path and body: the same key with another request is a 409.
    request_hash bytea NOT NULL,
    -- NULL while the first request is still running.
    status smallint,
    headers jsonb,
    body bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, key)
);

-- Per-projector (and per-reactor) position; written in the same transaction as its effects.
CREATE TABLE checkpoints (
    name text PRIMARY KEY,
    transaction_id bigint NOT NULL DEFAULT 0,
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Settings generated on first start (JWT secret, callback token). Never logged.
CREATE TABLE settings (
    name text PRIMARY KEY,
    value text NOT NULL
);
