-- Tickets for Server-Sent Events (a browser's EventSource cannot send Authorization): one row
-- per ticket, by the SHA-256 of its text (the ticket itself is never stored), bound to the
-- account that asked for it. Using one deletes its row, so in a cluster of nodes a ticket
-- works once whichever node it reaches; expired rows are swept when new tickets are issued.
CREATE TABLE sse_tickets (
    ticket_hash bytea PRIMARY KEY,
    account_id uuid NOT NULL,
    role text NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX sse_tickets_expires_at ON sse_tickets (expires_at);
