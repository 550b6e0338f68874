-- Audit: crypto-shredding keys, causation lookups, and signed checkpoints of the stream heads.

-- One data key per person. Personal fields of events are stored sealed with it (the hash
-- chain covers the sealed form). Closing the account sets `key` to NULL in the same
-- transaction as `AccountClosed`: the fields then read as "[erased]" for good, and the row
-- stays as a tombstone so no new key is ever made for that person.
CREATE TABLE pii_keys (
    customer_id uuid PRIMARY KEY,
    -- 32 random bytes (XChaCha20-Poly1305); NULL once erased.
    key bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at timestamptz
);

-- The person whose key sealed this event's personal fields (none for most events). Not part
-- of the hash: it only finds the key; the sealed fields themselves are hashed.
ALTER TABLE events ADD COLUMN pii_subject uuid;
CREATE INDEX events_pii_subject_idx ON events (pii_subject) WHERE pii_subject IS NOT NULL;

-- An order's history follows causation links from its events (reactor commands).
CREATE INDEX events_causation_idx ON events (((metadata ->> 'causation_id')::uuid));

-- The stream heads covered by the latest checkpoint (older checkpoints keep only their Merkle
-- root, in their `CheckpointRecorded` event). `verify` recomputes the root from these rows and
-- reports any stream whose current head is behind (truncated) or gone (dropped).
CREATE TABLE audit_checkpoint_heads (
    checkpoint_id uuid NOT NULL,
    stream_id text NOT NULL,
    stream_version bigint NOT NULL,
    hash bytea NOT NULL,
    PRIMARY KEY (checkpoint_id, stream_id)
);
