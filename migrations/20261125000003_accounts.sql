-- Secrets and uniqueness guards written by command transactions beside their events.
-- They hold no facts of their own: secrets stay out of the event log by design.

-- One account per email, case-insensitively, even under concurrent registrations.
CREATE TABLE account_emails (
    email_lower text PRIMARY KEY,
    customer_id uuid NOT NULL UNIQUE
);

CREATE TABLE credentials (
    customer_id uuid PRIMARY KEY,
    -- argon2id PHC string.
    password_hash text NOT NULL
);

-- Opaque refresh tokens, stored as SHA-256 only. A family is the chain of tokens rotated
-- from one login; presenting a spent token revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY,
    family_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    issued_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    spent_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_customer_idx ON refresh_tokens (customer_id);

-- Accounts whose access tokens must stop working (disabled or closed) before they expire.
CREATE TABLE account_blocks (
    customer_id uuid PRIMARY KEY,
    blocked_at timestamptz NOT NULL DEFAULT now()
);

-- Image bytes, stored once by content hash outside the events (which carry the hash).
CREATE TABLE images (
    id text PRIMARY KEY,
    content_type text NOT NULL,
    bytes bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Daraja's CheckoutRequestID of each accepted STK push: how a callback finds its order.
CREATE TABLE mpesa_requests (
    checkout_request_id text PRIMARY KEY,
    order_id uuid NOT NULL,
    attempt_id uuid NOT NULL
);
