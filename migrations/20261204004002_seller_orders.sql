-- GET /seller/orders: one row per (seller, order holding their products), with only that
-- seller's lines and their sum. The order's status, phone and shipment are read from the
-- orders read model and the buyer's name from customers, so they are never copied here.
CREATE TABLE seller_orders (
    seller_id uuid NOT NULL,
    order_id uuid NOT NULL,
    customer_id uuid NOT NULL,
    items jsonb NOT NULL,
    total int8 NOT NULL,
    currency text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (seller_id, order_id)
);
CREATE INDEX seller_orders_newest_idx ON seller_orders (seller_id, created_at DESC, order_id DESC);
