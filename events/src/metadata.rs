//! Who, why and when: the metadata every event carries.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The user who issued the command; `None` for the system (reactors, expiry, Daraja).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    /// `customer`, `seller`, `admin`, `auditor`, or `system`.
    pub actor_role: String,
    /// The id shared by every event that one business flow caused (an order's id for checkout
    /// and everything that follows from it).
    pub correlation_id: Uuid,
    /// The event (or request) that directly caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Metadata {
    pub fn system(correlation_id: Uuid) -> Self {
        Self {
            actor_id: None,
            actor_role: "system".into(),
            correlation_id,
            ..Self::default()
        }
    }

    pub fn caused_by(mut self, causation_id: Uuid) -> Self {
        self.causation_id = Some(causation_id);
        self
    }

    pub fn correlated(mut self, correlation_id: Uuid) -> Self {
        self.correlation_id = correlation_id;
        self
    }
}
