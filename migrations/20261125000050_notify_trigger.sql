-- Wake subscribers on commit from a statement trigger, so an append is one statement (and
-- one round trip) instead of an INSERT followed by a separate pg_notify call. NOTIFY is
-- delivered at commit and only a hint: readers always re-read from their own position.
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tillroll_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();
