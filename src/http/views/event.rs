//! The public shape of an event (API.md `event`), shared by the audit endpoints, the live
//! feed, the webhooks and NATS publisher, and `tillroll audit export`.

use serde::{Deserialize, Serialize};
use tillroll_events::{Metadata, RecordedEvent};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventMetadataView {
    pub actor_id: Option<Uuid>,
    pub actor_role: String,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    /// The command's `Idempotency-Key`, when it carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The id of the HTTP request that appended the event, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl From<&Metadata> for EventMetadataView {
    fn from(m: &Metadata) -> Self {
        Self {
            actor_id: m.actor_id,
            actor_role: m.actor_role.clone(),
            correlation_id: m.correlation_id,
            causation_id: m.causation_id,
            idempotency_key: m.idempotency_key.clone(),
            request_id: m.request_id.clone(),
        }
    }
}

impl From<&EventMetadataView> for Metadata {
    fn from(m: &EventMetadataView) -> Self {
        Self {
            actor_id: m.actor_id,
            actor_role: m.actor_role.clone(),
            correlation_id: m.correlation_id,
            causation_id: m.causation_id,
            idempotency_key: m.idempotency_key.clone(),
            request_id: m.request_id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventView {
    pub position: i64,
    /// The event's place in the log (0, 1, 2, … in the order readers see it, the leaf index
    /// of the transparency log); null only for an event not yet sequenced (never in the export
    /// or the feed).
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
            metadata: EventMetadataView::from(&e.metadata),
            recorded_at: e.recorded_at,
            hash: hex::encode(&e.hash),
        }
    }
}
