-- The log's order no longer depends on one cluster's transaction counter (DESIGN §8).
--
-- Every committed event gets a dense `log_index` (0, 1, 2, …) from the sequencer, in the
-- order it sees events commit. Appends only queue their events (a statement trigger, so no
-- writer can forget to); a sequencer pass, holding the one `log_head` row, moves committed
-- queue entries into `event_log` in queue order. Readers of the whole log (projectors,
-- reactors, the export, the live feed) follow `log_index`, which survives `pg_dump` and
-- restore, logical replication, and a cluster whose transaction counter is behind the old one.
--
-- Why nothing is skipped: an index is given only to committed events, by one transaction at
-- a time (the `log_head` row lock), always above every index given before; a reader that has
-- read index n has read everything that will ever get an index ≤ n. An appending transaction
-- that commits late simply gets a later index. Per-stream order holds: version n + 1 of a
-- stream is appended only after version n committed, so its queue entry has a larger id.

CREATE TABLE event_log (
    log_index bigint PRIMARY KEY CHECK (log_index >= 0),
    -- One index per event, ever.
    global_position bigint NOT NULL UNIQUE
);

CREATE TABLE log_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The events one INSERT statement appended, in append order.
    positions bigint[] NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE log_head (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    -- The index the next sequenced event gets (= the number of sequenced events).
    next_index bigint NOT NULL CHECK (next_index >= 0)
);

-- Events already in the log keep the order readers saw them in.
INSERT INTO event_log (log_index, global_position)
SELECT row_number() OVER (ORDER BY transaction_id, global_position) - 1, global_position
FROM events;
INSERT INTO log_head (next_index) SELECT count(*) FROM event_log;

-- Checkpoints move to the index: the last event at or before the old (transaction, position).
ALTER TABLE checkpoints ADD COLUMN log_index bigint NOT NULL DEFAULT -1;
UPDATE checkpoints c SET log_index = coalesce((
    SELECT max(l.log_index) FROM event_log l JOIN events e USING (global_position)
    WHERE (e.transaction_id, e.global_position) <= (c.transaction_id, c.position)
), -1);

CREATE FUNCTION events_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO log_queue (positions)
    SELECT array_agg(global_position ORDER BY global_position) FROM new_events
    HAVING count(*) > 0;
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_enqueue AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION events_enqueue();

-- The index is as immutable as the events it orders.
CREATE TRIGGER event_log_no_update BEFORE UPDATE ON event_log
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER event_log_no_delete BEFORE DELETE ON event_log
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER event_log_no_truncate BEFORE TRUNCATE ON event_log
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();

-- Nothing orders by the transaction id any more: two fewer indexes for every append to keep.
DROP INDEX events_log_order_idx;
DROP INDEX events_type_idx;
