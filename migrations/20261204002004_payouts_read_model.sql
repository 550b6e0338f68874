-- The payouts read model (projector `payouts`): each payout in the shape of API.md's
-- `payout`, and each seller's balance per payout phone (negative after a refund of lines
-- already paid out). The payout reactor reads its candidates from seller_balances.
CREATE TABLE payouts (
    id uuid PRIMARY KEY,
    seller_id uuid NOT NULL,
    phone text NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    order_ids uuid[] NOT NULL,
    status text NOT NULL,
    mpesa_receipt text,
    failure_reason text,
    requested_at timestamptz NOT NULL,
    completed_at timestamptz
);
CREATE INDEX payouts_seller_idx ON payouts (seller_id, requested_at DESC, id DESC);
CREATE INDEX payouts_newest_idx ON payouts (requested_at DESC, id DESC);

CREATE TABLE seller_balances (
    seller_id uuid NOT NULL,
    phone text NOT NULL,
    balance bigint NOT NULL,
    PRIMARY KEY (seller_id, phone)
);
