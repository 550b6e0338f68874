-- Daraja's answer to a dispatched STK push, kept beside the dispatch the moment it arrives,
-- before the acceptance event is appended: a crash in between leaves an attempt whose
-- CheckoutRequestID is known, which the next payment reactor records (and an STK query or
-- the callback in the inbox settles) instead of leaving it to expire.
ALTER TABLE stk_dispatches
    ADD COLUMN checkout_request_id text UNIQUE,
    ADD COLUMN merchant_request_id text,
    ADD COLUMN answered_at timestamptz,
    -- Set when such an answer could no longer be recorded (the attempt was settled otherwise).
    ADD COLUMN abandoned_at timestamptz;
CREATE INDEX stk_dispatches_answered_idx ON stk_dispatches (answered_at)
    WHERE abandoned_at IS NULL;
