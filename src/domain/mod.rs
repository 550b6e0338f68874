//! The business rules, one module per aggregate. Each holds its state, `evolve` (state +
//! event → state) and its deciders (command + state → events or a rejection). Pure: no IO and
//! no clock; time comes in with the command.

pub mod address_book;
pub mod cart;
pub mod customer;
pub mod money;
pub mod order;
pub mod payment;
pub mod phone;
pub mod product;
pub mod seller;
pub mod stock;
pub mod validate;

use serde::{Serialize, de::DeserializeOwned};

pub use address_book::AddressError;
pub use cart::CartError;
pub use customer::CustomerError;
pub use order::OrderError;
pub use product::ProductError;
pub use stock::StockError;
use tillroll_events::DomainEvent;

/// An aggregate's state, rebuilt by folding its stream's events.
pub trait Aggregate:
    Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
    type Event: DomainEvent;

    /// Bump when the state's shape changes: older snapshots are then ignored.
    const STATE_VERSION: i32 = 1;

    fn evolve(&mut self, event: &Self::Event);

    fn from_events<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self {
        let mut state = Self::default();
        for event in events {
            state.evolve(event);
        }
        state
    }
}

/// A business rule of one aggregate said no. The HTTP layer maps each to its status in one
/// place (`http::error::domain`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error(transparent)]
    Cart(#[from] CartError),
    #[error(transparent)]
    Stock(#[from] StockError),
    #[error(transparent)]
    Product(#[from] ProductError),
    #[error(transparent)]
    Customer(#[from] CustomerError),
    #[error(transparent)]
    Address(#[from] AddressError),
}
