-- Leases for the work that must run once in the cluster (projectors, reactors, the
-- checkpointer), and each node's presence (`node:<holder>`). See projections/src/lease.rs.
CREATE TABLE leases (
    name text PRIMARY KEY,
    -- `<host>:<pid>:<8 hex>`, one per process.
    holder text NOT NULL,
    -- Bumped at every change of holder: every fenced write names the epoch it runs under.
    epoch bigint NOT NULL,
    expires_at timestamptz NOT NULL,
    renewed_at timestamptz NOT NULL
);

-- External effects recorded before they are sent (DESIGN §8): an STK push goes out only after
-- its row is committed, under the lease of the reactor that sends it, and never again for the
-- same attempt. A row without an answer after a crash is an attempt of unknown fate: it is
-- settled by an STK query when a CheckoutRequestID was kept, else it expires.
CREATE TABLE stk_dispatches (
    attempt_id uuid PRIMARY KEY,
    order_id uuid NOT NULL,
    holder text NOT NULL,
    epoch bigint NOT NULL,
    dispatched_at timestamptz NOT NULL DEFAULT now()
);
