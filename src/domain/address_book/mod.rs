//! A customer's address book (stream `addressbook-<customer id>`): the delivery addresses
//! they keep and which one is the default. The first address becomes the default; at most one
//! is; setting `default` on one moves it there; removing the default makes the oldest
//! remaining address the default.
//!
//! Its own stream rather than the customer's: the book changes far more often than the
//! account, the account aggregate (loaded by every authenticated command that needs the user)
//! stays small, and address edits never conflict with profile or role changes. Its events'
//! personal fields are sealed under the customer's key all the same, so closing the account
//! erases them with the rest of the person.

use serde::{Deserialize, Serialize};
use tillroll_events::{AddressBookEvent, AddressFields};
use uuid::Uuid;

use crate::domain::Aggregate;

pub mod fields;

/// How many addresses one book may hold (a customer's homes, offices and relatives, not a
/// mailing list).
pub const MAX_ADDRESSES: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub id: Uuid,
    pub fields: AddressFields,
}

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct AddressBook {
    pub customer_id: Uuid,
    /// In the order they were added (oldest first).
    pub addresses: Vec<Address>,
    pub default: Option<Uuid>,
}

impl AddressBook {
    pub fn get(&self, id: Uuid) -> Option<&Address> {
        self.addresses.iter().find(|a| a.id == id)
    }

    pub fn is_default(&self, id: Uuid) -> bool {
        self.default == Some(id)
    }

    pub fn default_address(&self) -> Option<&Address> {
        self.default.and_then(|id| self.get(id))
    }
}

impl Aggregate for AddressBook {
    type Event = AddressBookEvent;

    fn evolve(&mut self, event: &AddressBookEvent) {
        self.customer_id = event.customer_id();
        match event {
            AddressBookEvent::AddressAdded {
                address_id,
                address,
                ..
            } => self.addresses.push(Address {
                id: *address_id,
                fields: address.clone(),
            }),
            AddressBookEvent::AddressChanged {
                address_id,
                address,
                ..
            } => {
                if let Some(a) = self.addresses.iter_mut().find(|a| a.id == *address_id) {
                    a.fields = address.clone();
                }
            }
            AddressBookEvent::AddressRemoved { address_id, .. } => {
                self.addresses.retain(|a| a.id != *address_id);
                if self.default == Some(*address_id) {
                    self.default = None;
                }
            }
            AddressBookEvent::DefaultAddressChanged { address_id, .. } => {
                self.default = Some(*address_id);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// 404: no such address in this customer's book (someone else's is not theirs).
    #[error("address not found")]
    NotFound,
    /// 409.
    #[error("an address book holds at most {MAX_ADDRESSES} addresses")]
    Full,
}

#[derive(Debug, Clone)]
pub struct AddAddress {
    pub customer_id: Uuid,
    pub address_id: Uuid,
    pub fields: AddressFields,
    pub make_default: bool,
}

/// The address's fields after the PATCH (the handler merges the request into the current
/// ones), and whether to make it the default.
#[derive(Debug, Clone)]
pub struct ChangeAddress {
    pub address_id: Uuid,
    pub fields: AddressFields,
    /// `Some(true)` moves the default here; `Some(false)` or `None` leaves the default where it
    /// is (there is always one while the book has addresses: it moves, it is never unset).
    pub make_default: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct RemoveAddress {
    pub address_id: Uuid,
}

pub fn add(state: &AddressBook, cmd: &AddAddress) -> Result<Vec<AddressBookEvent>, AddressError> {
    if state.addresses.len() >= MAX_ADDRESSES {
        return Err(AddressError::Full);
    }
    let mut events = vec![AddressBookEvent::AddressAdded {
        customer_id: cmd.customer_id,
        address_id: cmd.address_id,
        address: cmd.fields.clone(),
    }];
    if cmd.make_default || state.default.is_none() {
        events.push(AddressBookEvent::DefaultAddressChanged {
            customer_id: cmd.customer_id,
            address_id: cmd.address_id,
        });
    }
    Ok(events)
}

pub fn change(
    state: &AddressBook,
    cmd: &ChangeAddress,
) -> Result<Vec<AddressBookEvent>, AddressError> {
    let current = state.get(cmd.address_id).ok_or(AddressError::NotFound)?;
    let mut events = Vec::new();
    if current.fields != cmd.fields {
        events.push(AddressBookEvent::AddressChanged {
            customer_id: state.customer_id,
            address_id: cmd.address_id,
            address: cmd.fields.clone(),
        });
    }
    if cmd.make_default == Some(true) && !state.is_default(cmd.address_id) {
        events.push(AddressBookEvent::DefaultAddressChanged {
            customer_id: state.customer_id,
            address_id: cmd.address_id,
        });
    }
    Ok(events)
}

pub fn remove(
    state: &AddressBook,
    cmd: &RemoveAddress,
) -> Result<Vec<AddressBookEvent>, AddressError> {
    state.get(cmd.address_id).ok_or(AddressError::NotFound)?;
    let mut events = vec![AddressBookEvent::AddressRemoved {
        customer_id: state.customer_id,
        address_id: cmd.address_id,
    }];
    if state.is_default(cmd.address_id) {
        let oldest = state.addresses.iter().find(|a| a.id != cmd.address_id);
        if let Some(next) = oldest {
            events.push(AddressBookEvent::DefaultAddressChanged {
                customer_id: state.customer_id,
                address_id: next.id,
            });
        }
    }
    Ok(events)
}

/// The address an order copies: `id`'s, or the default when none is named.
pub fn for_order(state: &AddressBook, id: Option<Uuid>) -> Result<Option<&Address>, AddressError> {
    match id {
        Some(id) => state.get(id).map(Some).ok_or(AddressError::NotFound),
        None => Ok(state.default_address()),
    }
}

#[cfg(test)]
mod tests;
