//! An event as read back from the log, and positions in the log.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{DecodeError, DomainEvent, Metadata};

/// A point in the log. The log's order is `log_index`: dense (0, 1, 2, …), given by the
/// store's sequencer to committed events only, so a reader that has read index n will never
/// see an event appear at or below n. `position` is the event's unique number from the
/// appending statement (what `X-Log-Position` carries); it is not the log's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    pub log_index: i64,
    pub position: i64,
}

impl LogPosition {
    /// Before the first event (whose index is 0).
    pub const START: Self = Self {
        log_index: -1,
        position: 0,
    };
}

impl Default for LogPosition {
    fn default() -> Self {
        Self::START
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub position: i64,
    /// The event's place in the log; `None` while it awaits the sequencer (stream reads only:
    /// reads of the whole log return sequenced events alone).
    pub log_index: Option<i64>,
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
            log_index: self
                .log_index
                .expect("events read in log order carry their log index"),
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
