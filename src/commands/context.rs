//! Who is issuing a command, why, and when.

use chrono::{DateTime, SubsecRound, Utc};
use tillroll_events::Metadata;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct CommandContext {
    pub actor_id: Option<Uuid>,
    pub actor_role: String,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub idempotency_key: Option<String>,
    pub request_id: Option<String>,
    pub now: DateTime<Utc>,
}

impl CommandContext {
    /// A command issued by the system itself (a reactor, the expiry timer, Daraja's callback).
    pub fn system(correlation_id: Uuid, now: DateTime<Utc>) -> Self {
        Self {
            actor_id: None,
            actor_role: "system".into(),
            correlation_id,
            causation_id: None,
            idempotency_key: None,
            request_id: None,
            // Postgres keeps microseconds: cut here, once, so a command's answer and the read
            // models give the same instant.
            now: now.trunc_subsecs(6),
        }
    }

    pub fn user(actor_id: Uuid, role: &str, now: DateTime<Utc>) -> Self {
        Self {
            actor_id: Some(actor_id),
            actor_role: role.into(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            idempotency_key: None,
            request_id: None,
            // Postgres keeps microseconds: cut here, once, so a command's answer and the read
            // models give the same instant.
            now: now.trunc_subsecs(6),
        }
    }

    pub fn correlated(mut self, correlation_id: Uuid) -> Self {
        self.correlation_id = correlation_id;
        self
    }

    pub fn caused_by(mut self, causation_id: Uuid) -> Self {
        self.causation_id = Some(causation_id);
        self
    }

    pub fn metadata(&self) -> Metadata {
        Metadata {
            actor_id: self.actor_id,
            actor_role: self.actor_role.clone(),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            idempotency_key: self.idempotency_key.clone(),
            request_id: self.request_id.clone(),
        }
    }
}
