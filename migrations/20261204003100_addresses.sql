-- The address book read model: one row per kept address, serving GET /me/addresses.
-- `added_position` (the AddressAdded event's log position) orders a customer's addresses
-- oldest first, the same on every rebuild.
CREATE TABLE addresses (
    id uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    added_position bigint NOT NULL,
    label text,
    recipient text NOT NULL,
    phone text,
    line1 text NOT NULL,
    line2 text,
    city text NOT NULL,
    region text,
    postal_code text,
    country text NOT NULL,
    is_default boolean NOT NULL DEFAULT false
);

CREATE INDEX addresses_by_customer ON addresses (customer_id, added_position);
