-- The refunds read model (projector `refunds`): one row per refund of an order, in the shape
-- of API.md's `refund`. `customer_id` lets an account's closure erase the phone.
CREATE TABLE order_refunds (
    id uuid PRIMARY KEY,
    order_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    amount bigint NOT NULL,
    currency text NOT NULL,
    phone text NOT NULL,
    reason text NOT NULL,
    status text NOT NULL,
    mpesa_receipt text,
    failure_reason text,
    requested_at timestamptz NOT NULL,
    completed_at timestamptz
);
CREATE INDEX order_refunds_order_idx ON order_refunds (order_id, requested_at);
CREATE INDEX order_refunds_customer_idx ON order_refunds (customer_id);
