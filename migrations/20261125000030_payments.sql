-- M-Pesa bookkeeping beside the order events (written by the payment commands in the same
-- transaction as the events they go with; the events stay the truth, these rows only route
-- and schedule).

-- mpesa_requests (one row per accepted STK push, written with PaymentRequestAccepted) also
-- schedules the reconciler's STK push query: `next_query_at` (accepted + reconcile_after, or
-- at once after a 1037 callback) until an outcome is recorded (`settled_at`).
ALTER TABLE mpesa_requests
    ADD COLUMN accepted_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN next_query_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN settled_at timestamptz;
CREATE INDEX mpesa_requests_due_idx ON mpesa_requests (next_query_at) WHERE settled_at IS NULL;
CREATE INDEX mpesa_requests_order_idx ON mpesa_requests (order_id);

-- The callback inbox: every well-formed callback under the right token, first body kept (a
-- real outcome replaces a 1037/4999). `processed_at` is set in the transaction that records
-- its outcome; an entry whose CheckoutRequestID is not (yet) in mpesa_requests waits for the
-- payment reactor or the sweep, or stays as the record of an unknown callback.
CREATE TABLE mpesa_callbacks (
    checkout_request_id text PRIMARY KEY,
    body jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);
CREATE INDEX mpesa_callbacks_pending_idx ON mpesa_callbacks (received_at) WHERE processed_at IS NULL;

-- The expiry reactor's candidates: pending orders by deadline (rebuilds keep it: LIKE
-- INCLUDING ALL).
CREATE INDEX orders_pending_expiry_idx ON orders (expires_at) WHERE status = 'pending_payment';
