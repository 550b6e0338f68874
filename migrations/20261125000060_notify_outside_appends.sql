-- Appends no longer NOTIFY from inside their transaction: Postgres takes a database-wide lock
-- for a notifying commit and holds it through the commit's WAL flush, so every append queued
-- behind the one before it. Each process now sends one NOTIFY per burst of its own commits,
-- from a transaction of its own (see `EventStore::spawn_listener`).
DROP TRIGGER events_notify ON events;
DROP FUNCTION events_notify();
