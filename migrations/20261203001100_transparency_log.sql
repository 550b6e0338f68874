-- The audit log as a transparency log (RFC 9162 / RFC 6962; API.md "Audit", DESIGN §6).
--
-- A Merkle tree over every event in `event_log` order, grown after commit by one fenced sealer
-- (lease `audit:sealer`), never inside an append. The tree is stored as the hashes of its
-- complete perfect subtrees: node (level, idx) covers leaves [idx * 2^level, (idx + 1) * 2^level).
-- A node is written once, when its last leaf arrives, and never changes; the root of any size
-- and every inclusion or consistency proof is a fold of O(log n) of them.

CREATE TABLE audit_tree_nodes (
    level smallint NOT NULL CHECK (level BETWEEN 0 AND 62),
    idx bigint NOT NULL CHECK (idx >= 0),
    -- SHA-256: a leaf hash (level 0) or an RFC 6962 node hash.
    hash bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- How many leaves the stored tree holds. The sealer moves it with a compare-and-set under its
-- lease's fence, so two sealers can never both extend the tree.
CREATE TABLE audit_tree (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    size bigint NOT NULL CHECK (size >= 0)
);
INSERT INTO audit_tree (size) VALUES (0);

-- The public halves of every signing key that ever signed a tree head (rotation: a head names
-- its key). The private key is never here: it comes from TILLROLL_AUDIT_SIGNING_KEY, else it is
-- generated on first start and kept in `settings`.
CREATE TABLE audit_signing_keys (
    key_id text PRIMARY KEY,
    -- Raw 32-byte Ed25519 public key.
    public_key bytea NOT NULL CHECK (length(public_key) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Every signed tree head ever made, none deleted: one per TILLROLL_AUDIT_TREE_HEAD_EVERY when
-- the log grew, so their sizes strictly increase.
CREATE TABLE audit_tree_heads (
    tree_size bigint PRIMARY KEY CHECK (tree_size > 0),
    root_hash bytea NOT NULL CHECK (length(root_hash) = 32),
    -- The `position` of the event at log index tree_size - 1.
    log_position bigint NOT NULL,
    signed_at timestamptz NOT NULL,
    key_id text NOT NULL REFERENCES audit_signing_keys (key_id),
    -- The size of the head signed before this one (0 for the first): a signed chain of heads.
    previous_tree_size bigint NOT NULL CHECK (previous_tree_size >= 0 AND previous_tree_size < tree_size),
    -- Ed25519 over the signed byte string (src/audit/heads.rs, README "Tree heads").
    signature bytea NOT NULL CHECK (length(signature) = 64)
);

-- As immutable as the events: what was signed stays.
CREATE TRIGGER audit_tree_nodes_no_update BEFORE UPDATE ON audit_tree_nodes
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER audit_tree_nodes_no_delete BEFORE DELETE ON audit_tree_nodes
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER audit_tree_heads_no_update BEFORE UPDATE ON audit_tree_heads
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER audit_tree_heads_no_delete BEFORE DELETE ON audit_tree_heads
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER audit_tree_heads_no_truncate BEFORE TRUNCATE ON audit_tree_heads
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER audit_tree_nodes_no_truncate BEFORE TRUNCATE ON audit_tree_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();

-- The signed tree heads supersede the HMAC checkpoints of stream heads (their key lived in the
-- same database, so no one outside could check them). Past `CheckpointRecorded` events stay
-- in the log, and in the tree, like every event.
DROP TABLE audit_checkpoint_heads;
DELETE FROM settings WHERE name = 'audit_checkpoint_key';
