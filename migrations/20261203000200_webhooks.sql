-- Webhook subscriptions (integration settings, not shop facts: their secrets must never enter
-- an event) and every delivery attempt. See src/webhooks.
CREATE TABLE webhooks (
    id uuid PRIMARY KEY,
    url text NOT NULL,
    -- Event types, or {'*'} for all.
    event_types text[] NOT NULL,
    description text,
    -- The Standard Webhooks secret, sealed (XChaCha20-Poly1305) under TILLROLL_WEBHOOKS_KEY.
    secret_sealed bytea NOT NULL,
    disabled boolean NOT NULL DEFAULT false,
    -- Why it was disabled by the system (null when by an admin, or enabled).
    disabled_reason text,
    created_at timestamptz NOT NULL,
    -- Bumped by every change: the delivery worker restarts the subscription's loop.
    updated_at timestamptz NOT NULL,
    -- The last event delivered (or the log's end when the subscription was made): deliveries
    -- resume after it, in log order.
    cursor_index bigint NOT NULL,
    cursor_position bigint NOT NULL,
    -- Failed attempts at the event after the cursor, and since when it has been failing.
    attempts integer NOT NULL DEFAULT 0,
    failing_since timestamptz,
    next_attempt_at timestamptz
);

CREATE TABLE webhook_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id uuid NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    -- The event's id (the webhook-id header), or a test message's.
    event_id uuid NOT NULL,
    log_index bigint,
    attempt integer NOT NULL,
    -- Recorded before the request is sent; the answer fills status_code or error.
    at timestamptz NOT NULL,
    status_code integer,
    error text,
    next_attempt_at timestamptz
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id DESC);
