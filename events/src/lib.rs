//! The facts of tillroll: one event enum per aggregate, event metadata, stream naming and
//! schema versions. Plain data and serde; no IO.

pub mod address;
pub mod audit;
pub mod cart;
pub mod codec;
pub mod customer;
pub mod metadata;
pub mod money;
pub mod order;
pub mod product;
pub mod recorded;
pub mod seller;
pub mod stock;
pub mod stream;

pub use address::{AddressBookEvent, AddressFields};
pub use audit::AuditEvent;
pub use cart::CartEvent;
pub use codec::{DecodeError, DomainEvent, EncodedEvent, Personal};
pub use customer::CustomerEvent;
pub use metadata::Metadata;
pub use money::Currency;
pub use order::OrderEvent;
pub use product::ProductEvent;
pub use recorded::{LogPosition, RecordedEvent};
pub use seller::SellerEvent;
pub use stock::StockEvent;
pub use stream::StreamId;

/// Every event type of every aggregate (webhook subscriptions name them).
pub fn all_event_types() -> Vec<&'static str> {
    [
        AddressBookEvent::event_types(),
        AuditEvent::event_types(),
        CartEvent::event_types(),
        CustomerEvent::event_types(),
        OrderEvent::event_types(),
        ProductEvent::event_types(),
        SellerEvent::event_types(),
        StockEvent::event_types(),
    ]
    .concat()
}
