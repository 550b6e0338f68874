-- M-Pesa B2C bookkeeping beside the order events (the events stay the truth; these rows route
-- and schedule), owned by `payments::b2c_inbox`.
--
-- b2c_dispatches: every B2C payment (a refund's or a payout's; `id` is its
-- OriginatorConversationID), recorded under the B2C reactor's lease fence before it is sent
-- and never sent again. Daraja's acceptance (`conversation_id`) is kept the moment it comes;
-- `next_query_at` schedules a transaction status query when no result came (after a queue
-- time-out at once); `settled_at` is set in the transaction that records the outcome.
CREATE TABLE b2c_dispatches (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('refund', 'payout')),
    -- A refund's order, or a payout's seller.
    order_id uuid,
    seller_id uuid,
    holder text NOT NULL,
    epoch bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    conversation_id text,
    answered_at timestamptz,
    timed_out_at timestamptz,
    next_query_at timestamptz,
    settled_at timestamptz
);
CREATE INDEX b2c_dispatches_due_idx ON b2c_dispatches (next_query_at) WHERE settled_at IS NULL;

-- Transaction status queries sent about a dispatch: the answer names the query's own id.
CREATE TABLE b2c_status_queries (
    id uuid PRIMARY KEY,
    dispatch_id uuid NOT NULL REFERENCES b2c_dispatches (id),
    sent_at timestamptz NOT NULL DEFAULT now()
);

-- The inbox of B2C results (payment results and status answers), keyed by the
-- OriginatorConversationID they carry: the first body kept, personal data stripped.
-- `processed_at` is set in the transaction that records its outcome.
CREATE TABLE b2c_results (
    originator_conversation_id text PRIMARY KEY,
    body jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);
CREATE INDEX b2c_results_pending_idx ON b2c_results (received_at) WHERE processed_at IS NULL;
