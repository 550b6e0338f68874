-- The login limiter's counters, shared by every node: one row per key (`email:<address>` or
-- `ip:<address>`), counting the login attempts made since `window_start`. An attempt is
-- counted before its password is checked, in the row's lock, so concurrent guesses cannot
-- overrun a limit; rows older than the window are reset on their next use and swept.
CREATE TABLE login_limits (
    key text PRIMARY KEY,
    attempts integer NOT NULL CHECK (attempts >= 0),
    window_start timestamptz NOT NULL
);

CREATE INDEX login_limits_window_start ON login_limits (window_start);
