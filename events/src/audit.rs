//! Events of the audit stream `audit-<AUDIT_STREAM_ID>`: signed checkpoints of the log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{DomainEvent, StreamId, event_types};

/// What a personal field reads as once its person was erased (crypto-shredding: the store
/// deleted the key that sealed it). A string, so every event still deserialises.
pub const ERASED: &str = "[erased]";

/// The one audit stream's id (fixed, so every process appends to the same chain).
pub const AUDIT_STREAM_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);

pub fn audit_stream() -> StreamId {
    StreamId::new("audit", AUDIT_STREAM_ID)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AuditEvent {
    /// The heads (stream, version, hash) of every stream at one moment, summed up in a Merkle
    /// root and signed (HMAC-SHA256 with the server's checkpoint key), so the root can be
    /// published elsewhere and a later truncation or dropped stream detected.
    CheckpointRecorded {
        checkpoint_id: Uuid,
        /// Hex SHA-256 Merkle root over the heads, ordered by stream id (bytewise).
        merkle_root: String,
        streams: i64,
        /// The number of events the heads cover (the sum of their versions).
        events: i64,
        /// The largest event position the heads cover.
        log_position: i64,
        recorded_at: DateTime<Utc>,
        /// `HMAC-SHA256`.
        algorithm: String,
        /// Hex HMAC over the fields above (see `tillroll::audit::checkpoint`).
        signature: String,
    },
}

impl DomainEvent for AuditEvent {
    event_types!(CheckpointRecorded);
}
