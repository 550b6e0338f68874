//! Events of the address book stream `addressbook-<customer id>`: the delivery addresses a
//! customer keeps. Every text field of an address but the country is personal: sealed with
//! the customer's key at rest, unreadable once the account is closed.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain_event;

/// An address's fields as recorded (`AddressAdded` and `AddressChanged` carry all of them, so
/// one event says what the address is, never only a difference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressFields {
    #[serde(default)]
    pub label: Option<String>,
    pub recipient: String,
    #[serde(default)]
    pub phone: Option<String>,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AddressBookEvent {
    AddressAdded {
        customer_id: Uuid,
        address_id: Uuid,
        #[serde(flatten)]
        address: AddressFields,
    },
    AddressChanged {
        customer_id: Uuid,
        address_id: Uuid,
        #[serde(flatten)]
        address: AddressFields,
    },
    AddressRemoved {
        customer_id: Uuid,
        address_id: Uuid,
    },
    /// The default address is now `address_id` (the one before it no longer is).
    DefaultAddressChanged {
        customer_id: Uuid,
        address_id: Uuid,
    },
}

/// The top-level fields the store seals (the address is flattened into the event's data).
const PERSONAL: &[&str] = &[
    "label",
    "recipient",
    "phone",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
];

fn personal(event: &AddressBookEvent) -> crate::Personal {
    match event {
        AddressBookEvent::AddressAdded { customer_id, .. }
        | AddressBookEvent::AddressChanged { customer_id, .. } => {
            crate::Personal::fields(PERSONAL, Some(*customer_id))
        }
        _ => crate::Personal::default(),
    }
}

domain_event!(
    AddressBookEvent,
    customer_id,
    personal = personal,
    AddressAdded,
    AddressChanged,
    AddressRemoved,
    DefaultAddressChanged,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DomainEvent;

    #[test]
    fn address_fields_are_personal_to_the_customer_and_round_trip() {
        let id = Uuid::from_u128(9);
        let added = AddressBookEvent::AddressAdded {
            customer_id: id,
            address_id: Uuid::from_u128(1),
            address: AddressFields {
                label: Some("Home".into()),
                recipient: "Wanjiru".into(),
                phone: None,
                line1: "Moi Avenue 1".into(),
                line2: None,
                city: "Nairobi".into(),
                region: None,
                postal_code: None,
                country: "KE".into(),
            },
        };
        let encoded = added.encode();
        assert_eq!(encoded.event_type, "AddressAdded");
        assert_eq!(encoded.data["recipient"], "Wanjiru");
        assert_eq!(encoded.personal.fields, PERSONAL);
        assert_eq!(encoded.personal.subject, Some(id));
        let decoded = AddressBookEvent::decode("AddressAdded", 1, &encoded.data).unwrap();
        assert_eq!(decoded, added);
        let removed = AddressBookEvent::AddressRemoved {
            customer_id: id,
            address_id: Uuid::from_u128(1),
        };
        assert_eq!(removed.encode().personal, crate::Personal::default());
    }
}
