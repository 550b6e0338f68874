//! Events of the customer (account) stream `customer-<id>`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain_event;

/// Personal fields (`email`, `name`, `phone`, `gender`) are the ones erased when the account
/// is closed; the store seals them with the customer's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CustomerEvent {
    CustomerRegistered {
        customer_id: Uuid,
        email: String,
        name: String,
        #[serde(default)]
        phone: Option<String>,
        role: String,
        registered_at: DateTime<Utc>,
    },
    ProfileUpdated {
        customer_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phone: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gender: Option<String>,
    },
    AvatarChanged {
        customer_id: Uuid,
        image_id: String,
    },
    RoleGranted {
        customer_id: Uuid,
        role: String,
    },
    AccountDisabled {
        customer_id: Uuid,
    },
    AccountEnabled {
        customer_id: Uuid,
    },
    AccountClosed {
        customer_id: Uuid,
        closed_at: DateTime<Utc>,
    },
}

domain_event!(
    CustomerEvent,
    customer_id,
    CustomerRegistered,
    ProfileUpdated,
    AvatarChanged,
    RoleGranted,
    AccountDisabled,
    AccountEnabled,
    AccountClosed,
);
