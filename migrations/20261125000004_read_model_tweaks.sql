-- orders: the payment attempt the order waits on (that of the last PaymentRequested). The
-- orders projector uses it so that a late failure of an earlier attempt is kept in the
-- tracking history without overwriting the payment status of the attempt in flight.
ALTER TABLE orders ADD COLUMN payment_attempt_id uuid;
