-- Who placed an order: the customer, or an admin on the customer's behalf (OrderPlaced v2).
-- Orders placed before were all placed by their customer.
ALTER TABLE orders ADD COLUMN placed_by uuid;
UPDATE orders SET placed_by = customer_id WHERE placed_by IS NULL;
ALTER TABLE orders ALTER COLUMN placed_by SET NOT NULL;
