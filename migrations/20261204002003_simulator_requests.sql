-- The M-Pesa simulator's memory (no Daraja credentials configured): every STK push, B2C
-- payment and status query it took, what a query about it answers, and the callback still to
-- deliver. In the database so that what was in flight when the server stopped is still
-- answered and called back after a restart; `claimed_until` keeps two nodes from both
-- delivering a callback.
CREATE TABLE simulator_requests (
    id text PRIMARY KEY,
    kind text NOT NULL,
    result_code text NOT NULL,
    result_desc text NOT NULL,
    receipt text,
    url text,
    body jsonb,
    due_at timestamptz NOT NULL,
    claimed_until timestamptz,
    delivered_at timestamptz,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX simulator_requests_undelivered_idx ON simulator_requests (due_at)
    WHERE delivered_at IS NULL AND body IS NOT NULL;
