-- Read models. Each table belongs to one projector (see projections/), is written only by it,
-- and holds nothing that does not come from events, so a rebuild reproduces it exactly.
-- No foreign keys and no identity columns: rebuilds copy these tables with LIKE and swap.

-- catalog: products with their stock embedded.
CREATE TABLE products (
    id uuid PRIMARY KEY,
    seller_id uuid NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    category text NOT NULL,
    price bigint NOT NULL,
    currency text NOT NULL,
    image_id text,
    image_content_type text,
    payout_phone text,
    on_hand bigint NOT NULL DEFAULT 0,
    reserved bigint NOT NULL DEFAULT 0,
    available bigint GENERATED ALWAYS AS (on_hand - reserved) STORED,
    withdrawn boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, name), 'A')
        || setweight(to_tsvector('english'::regconfig, description), 'B')
    ) STORED
);
CREATE INDEX products_search_idx ON products USING gin (search);
CREATE INDEX products_newest_idx ON products (created_at DESC, id DESC) WHERE NOT withdrawn;
CREATE INDEX products_price_idx ON products (price, id) WHERE NOT withdrawn;
CREATE INDEX products_name_idx ON products (name, id) WHERE NOT withdrawn;
CREATE INDEX products_category_idx ON products (category, created_at DESC, id DESC) WHERE NOT withdrawn;
CREATE INDEX products_seller_idx ON products (seller_id);

-- catalog: every category slug ever used, with its display name.
CREATE TABLE categories (
    slug text PRIMARY KEY,
    name text NOT NULL
);

-- customers: one row per account; personal fields are NULL once erased.
CREATE TABLE customers (
    id uuid PRIMARY KEY,
    email text,
    name text,
    phone text,
    gender text,
    avatar_image_id text,
    role text NOT NULL,
    disabled boolean NOT NULL DEFAULT false,
    closed boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX customers_created_idx ON customers (created_at, id);

-- carts: the open cart of each customer, and the carts projector's own copy of the catalog
-- (names and current prices), so it needs no other projector's tables.
CREATE TABLE carts (
    customer_id uuid PRIMARY KEY,
    cart_id uuid NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX carts_updated_idx ON carts (updated_at DESC, customer_id);
CREATE TABLE cart_items (
    customer_id uuid NOT NULL,
    product_id uuid NOT NULL,
    quantity bigint NOT NULL,
    -- Keeps lines in the order they were first added.
    line_no bigint NOT NULL,
    PRIMARY KEY (customer_id, product_id)
);
CREATE TABLE cart_products (
    product_id uuid PRIMARY KEY,
    name text NOT NULL,
    price bigint NOT NULL,
    currency text NOT NULL,
    withdrawn boolean NOT NULL DEFAULT false
);

-- orders and their tracking history.
CREATE TABLE orders (
    id uuid PRIMARY KEY,
    customer_id uuid NOT NULL,
    status text NOT NULL,
    items jsonb NOT NULL,
    total bigint NOT NULL,
    currency text NOT NULL,
    phone text NOT NULL,
    payment_status text NOT NULL,
    payment_attempts integer NOT NULL DEFAULT 0,
    checkout_request_id text,
    mpesa_receipt text,
    paid_amount bigint,
    paid_at timestamptz,
    failure_reason text,
    refund_due boolean NOT NULL DEFAULT false,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX orders_customer_idx ON orders (customer_id, created_at DESC, id DESC);
CREATE INDEX orders_newest_idx ON orders (created_at DESC, id DESC);
CREATE INDEX orders_status_idx ON orders (status, created_at DESC, id DESC);
CREATE TABLE order_tracking (
    order_id uuid NOT NULL,
    seq integer NOT NULL,
    status text NOT NULL,
    at timestamptz NOT NULL,
    note text,
    PRIMARY KEY (order_id, seq)
);
