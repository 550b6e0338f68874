//! Address book commands (stream `addressbook-<customer id>`): add, change, remove, and the
//! address an order copies. Answers are built from the aggregate, so the writer reads its own
//! write.

use tillroll_events::{AddressFields, StreamId};
use uuid::Uuid;

use super::{CommandContext, CommandError, Commands, Outcome, UnitOfWork};
use crate::domain::address_book::{self, Address, AddressBook};

/// An address as a command answers it: the address and whether it is the default.
#[derive(Debug, Clone)]
pub struct BookEntry {
    pub address: Address,
    pub default: bool,
}

/// What a PATCH sets: `None` leaves a field, `Some(None)` clears an optional one. The values
/// are already parsed (`address_book::fields`).
#[derive(Debug, Clone, Default)]
pub struct AddressPatch {
    pub label: Option<Option<String>>,
    pub recipient: Option<String>,
    pub phone: Option<Option<String>>,
    pub line1: Option<String>,
    pub line2: Option<Option<String>>,
    pub city: Option<String>,
    pub region: Option<Option<String>>,
    pub postal_code: Option<Option<String>>,
    pub country: Option<String>,
    pub default: Option<bool>,
}

impl AddressPatch {
    fn apply(&self, current: &AddressFields) -> AddressFields {
        let pick = |new: &Option<Option<String>>, old: &Option<String>| {
            new.clone().unwrap_or_else(|| old.clone())
        };
        AddressFields {
            label: pick(&self.label, &current.label),
            recipient: self.recipient.clone().unwrap_or(current.recipient.clone()),
            phone: pick(&self.phone, &current.phone),
            line1: self.line1.clone().unwrap_or(current.line1.clone()),
            line2: pick(&self.line2, &current.line2),
            city: self.city.clone().unwrap_or(current.city.clone()),
            region: pick(&self.region, &current.region),
            postal_code: pick(&self.postal_code, &current.postal_code),
            country: self.country.clone().unwrap_or(current.country.clone()),
        }
    }
}

fn entry(book: &AddressBook, id: Uuid) -> Result<BookEntry, CommandError> {
    let address = book
        .get(id)
        .cloned()
        .ok_or(address_book::AddressError::NotFound)?;
    Ok(BookEntry {
        default: book.is_default(id),
        address,
    })
}

impl Commands {
    pub async fn add_address(
        &self,
        ctx: &CommandContext,
        customer_id: Uuid,
        fields: AddressFields,
        make_default: bool,
    ) -> Result<Outcome<BookEntry>, CommandError> {
        let stream = StreamId::address_book(customer_id);
        let address_id = Uuid::now_v7();
        let lock = [stream.clone()];
        self.run(ctx, &lock, async move |uow| {
            let (book, _) = uow.load::<AddressBook>(&stream).await?;
            let command = address_book::AddAddress {
                customer_id,
                address_id,
                fields: fields.clone(),
                make_default,
            };
            let events = address_book::add(&book, &command)?;
            uow.append::<AddressBook>(&stream, events);
            let (book, _) = uow.load::<AddressBook>(&stream).await?;
            entry(&book, address_id)
        })
        .await
    }

    pub async fn change_address(
        &self,
        ctx: &CommandContext,
        customer_id: Uuid,
        address_id: Uuid,
        patch: AddressPatch,
    ) -> Result<Outcome<BookEntry>, CommandError> {
        let stream = StreamId::address_book(customer_id);
        let lock = [stream.clone()];
        self.run(ctx, &lock, async move |uow| {
            let (book, _) = uow.load::<AddressBook>(&stream).await?;
            let current = entry(&book, address_id)?;
            let command = address_book::ChangeAddress {
                address_id,
                fields: patch.apply(&current.address.fields),
                make_default: patch.default,
            };
            let events = address_book::change(&book, &command)?;
            uow.append::<AddressBook>(&stream, events);
            let (book, _) = uow.load::<AddressBook>(&stream).await?;
            entry(&book, address_id)
        })
        .await
    }

    pub async fn remove_address(
        &self,
        ctx: &CommandContext,
        customer_id: Uuid,
        address_id: Uuid,
    ) -> Result<Outcome<()>, CommandError> {
        let stream = StreamId::address_book(customer_id);
        let lock = [stream.clone()];
        self.run(ctx, &lock, async move |uow| {
            let (book, _) = uow.load::<AddressBook>(&stream).await?;
            let events = address_book::remove(&book, &address_book::RemoveAddress { address_id })?;
            uow.append::<AddressBook>(&stream, events);
            Ok(())
        })
        .await
    }
}

/// The address to copy into an order placed in `uow`: `address_id`'s, or the customer's
/// default when none is named; `None` when the book is empty. Read from the aggregate (never
/// the read model), so an address changed a moment ago is the one copied, and the order's
/// append is checked against the book's version like any stream the decision read.
/// Someone else's (or a removed) address is `AddressError::NotFound` (404).
pub async fn address_for_order(
    uow: &mut UnitOfWork<'_>,
    customer_id: Uuid,
    address_id: Option<Uuid>,
) -> Result<Option<Address>, CommandError> {
    let (book, _) = uow
        .load::<AddressBook>(&StreamId::address_book(customer_id))
        .await?;
    Ok(address_book::for_order(&book, address_id)?.cloned())
}
