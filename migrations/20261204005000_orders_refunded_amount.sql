-- What completed refunds paid back, kept on the order's own row by the orders projector, so an
-- order reads `refunded` together with its amount (the refunds read model is another
-- projector and may be a moment behind).
ALTER TABLE orders ADD COLUMN refunded_amount bigint NOT NULL DEFAULT 0;
UPDATE orders o SET refunded_amount = r.amount
FROM (SELECT order_id, sum(amount) AS amount FROM order_refunds WHERE status = 'completed'
      GROUP BY order_id) r
WHERE r.order_id = o.id;
