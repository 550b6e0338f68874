//! An event as read back from the log, and positions in the log.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{DecodeError, DomainEvent, Metadata};

/// A point in the log. The log's order is `(transaction_id, position)`: `position` comes from a
/// sequence and is unique, `transaction_id` is the appending transaction's id, which is what
/// makes the order gap-safe (see the store). Clients only ever see `position`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    pub transaction_id: i64,
    pub position: i64,
}

impl LogPosition {
    pub const START: Self = Self {
        transaction_id: 0,
        position: 0,
    };
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub position: i64,
    pub transaction_id: i64,
    pub stream_id: String,
    pub version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub data: Value,
    pub metadata: Metadata,
    pub recorded_at: DateTime<Utc>,
    pub hash: Vec<u8>,
}

impl RecordedEvent {
    pub fn log_position(&self) -> LogPosition {
        LogPosition {
            transaction_id: self.transaction_id,
            position: self.position,
        }
    }

    pub fn decode<E: DomainEvent>(&self) -> Result<E, DecodeError> {
        E::decode(&self.event_type, self.schema_version, &self.data)
    }

    /// Decodes the event if it is one of `E`'s types; `None` for other aggregates' events.
    pub fn try_decode<E: DomainEvent>(&self) -> Option<Result<E, DecodeError>> {
        E::event_types()
            .contains(&self.event_type.as_str())
            .then(|| self.decode())
    }
}
