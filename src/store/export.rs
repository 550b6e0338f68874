//! The public shape of an event (API.md `event`), shared by the audit endpoints, the live
//! feed and `tillroll audit export`.

use serde::Serialize;
use tillroll_events::RecordedEvent;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventMetadataView {
    pub actor_id: Option<Uuid>,
    pub actor_role: String,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub position: i64,
    /// The event's place in the log (0, 1, 2, … in the order readers see it); null only for
    /// an event not yet sequenced (never in the export or the feed).
    pub log_index: Option<i64>,
    pub stream_id: String,
    pub version: i64,
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: i32,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub metadata: EventMetadataView,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    /// Hex SHA-256 of the hash chain link.
    pub hash: String,
}

impl From<&RecordedEvent> for EventView {
    fn from(e: &RecordedEvent) -> Self {
        Self {
            position: e.position,
            log_index: e.log_index,
            stream_id: e.stream_id.clone(),
            version: e.version,
            event_id: e.event_id,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            data: e.data.clone(),
            metadata: EventMetadataView {
                actor_id: e.metadata.actor_id,
                actor_role: e.metadata.actor_role.clone(),
                correlation_id: e.metadata.correlation_id,
                causation_id: e.metadata.causation_id,
            },
            recorded_at: e.recorded_at,
            hash: hex::encode(&e.hash),
        }
    }
}
