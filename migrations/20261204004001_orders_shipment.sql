-- order.shipment: {carrier, tracking_number, shipped_at, delivered_at}, null until shipped.
-- One jsonb value, as the view shows it; rows of orders shipped before the column get theirs
-- on a rebuild of the orders read model.
ALTER TABLE orders ADD COLUMN shipment jsonb;
