-- The current role of accounts whose role changed after they were created, written in the
-- transaction that appends the `RoleGranted` event. An access token carries the role it was
-- issued with; where a row here says otherwise, the row wins, so a demotion or a grant
-- applies to tokens already issued on their next request.
CREATE TABLE account_roles (
    customer_id uuid PRIMARY KEY,
    role text NOT NULL,
    changed_at timestamptz NOT NULL
);

-- Accounts changed before this table existed: their current role, as projected.
INSERT INTO account_roles (customer_id, role, changed_at)
SELECT id, role, now() FROM customers WHERE role <> 'customer';
