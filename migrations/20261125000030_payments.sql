-- M-Pesa bookkeeping beside the order events (written by the payment commands, not by a
-- projector; the events stay the truth, these rows only route and schedule).

-- One row per STK push Daraja accepted, written in the same transaction as
-- PaymentRequestAccepted: it maps a CheckoutRequestID to its order for the callback, and
-- schedules the reconciler's STK push query (`next_query_at`) until an outcome is recorded.
CREATE TABLE mpesa_requests (
    checkout_request_id text PRIMARY KEY,
    order_id uuid NOT NULL,
    attempt_id uuid NOT NULL,
    accepted_at timestamptz NOT NULL,
    next_query_at timestamptz NOT NULL,
    -- When a success or failure was recorded for this attempt (by callback or query).
    settled_at timestamptz
);
CREATE INDEX mpesa_requests_due_idx ON mpesa_requests (next_query_at) WHERE settled_at IS NULL;
CREATE INDEX mpesa_requests_order_idx ON mpesa_requests (order_id);

-- The callback inbox: every well-formed callback with a valid token, first body kept.
-- `processed_at` is set in the transaction that records its outcome; an entry whose
-- CheckoutRequestID is not (yet) in mpesa_requests waits for the payment reactor or the sweep.
CREATE TABLE mpesa_callbacks (
    checkout_request_id text PRIMARY KEY,
    body jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);
CREATE INDEX mpesa_callbacks_pending_idx ON mpesa_callbacks (received_at) WHERE processed_at IS NULL;
