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

fn personal(event: &CustomerEvent) -> crate::Personal {
    use crate::Personal;
    match event {
        CustomerEvent::CustomerRegistered { customer_id, .. } => {
            Personal::fields(&["email", "name", "phone"], Some(*customer_id))
        }
        CustomerEvent::ProfileUpdated { customer_id, .. } => {
            Personal::fields(&["name", "phone", "gender"], Some(*customer_id))
        }
        CustomerEvent::AccountClosed { customer_id, .. } => Personal::erasing(*customer_id),
        _ => Personal::default(),
    }
}

domain_event!(
    CustomerEvent,
    customer_id,
    personal = personal,
    CustomerRegistered,
    ProfileUpdated,
    AvatarChanged,
    RoleGranted,
    AccountDisabled,
    AccountEnabled,
    AccountClosed,
);

#[cfg(test)]
mod personal_tests {
    use super::*;
    use crate::DomainEvent;

    #[test]
    fn customer_events_declare_their_personal_fields_and_subject() {
        let id = Uuid::from_u128(7);
        let registered = CustomerEvent::CustomerRegistered {
            customer_id: id,
            email: "a@b.c".into(),
            name: "A".into(),
            phone: None,
            role: "customer".into(),
            registered_at: DateTime::from_timestamp(0, 0).unwrap(),
        }
        .encode();
        assert_eq!(registered.personal.fields, ["email", "name", "phone"]);
        assert_eq!(registered.personal.subject, Some(id));
        let closed = CustomerEvent::AccountClosed {
            customer_id: id,
            closed_at: DateTime::from_timestamp(0, 0).unwrap(),
        }
        .encode();
        assert!(closed.personal.erases);
        assert_eq!(closed.personal.subject, Some(id));
        let role = CustomerEvent::RoleGranted {
            customer_id: id,
            role: "admin".into(),
        }
        .encode();
        assert_eq!(role.personal, crate::Personal::default());
    }
}
