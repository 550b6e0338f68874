//! tillroll's read models and the projection runner: each projector turns the log, in order,
//! into tables shaped for the queries that read them, committing its checkpoint in the same
//! transaction as its writes.

pub mod addresses;
mod batch;
pub mod carts;
pub mod catalog;
pub mod customers;
pub mod lease;
pub mod orders;
pub mod payouts;
mod rebuild;
pub mod refunds;
mod runner;
pub mod seller_orders;

use async_trait::async_trait;
use sqlx::PgConnection;
use tillroll_events::{LogPosition, RecordedEvent};

pub use rebuild::{RebuildProgress, rebuild, rebuild_all};
pub use runner::{
    Progress, Runner, lease_name, load_checkpoint, store_checkpoint_fenced, wait_for,
};

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("event {position} cannot be decoded: {source}")]
    Decode {
        position: i64,
        source: tillroll_events::DecodeError,
    },
    #[error("reading the log: {0}")]
    Feed(String),
    /// The worker's lease moved to another holder: its write was refused.
    #[error("the lease {0} is no longer held")]
    LeaseLost(String),
}

/// Where projectors read the log from; the event store implements it.
#[async_trait]
pub trait EventFeed: Send + Sync {
    /// Up to `limit` events after `after`, in gap-safe log order, read on `conn` (so a
    /// projector reads and writes in one transaction).
    async fn read_batch(
        &self,
        conn: &mut PgConnection,
        after: LogPosition,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, ProjectionError>;

    /// Notified whenever new events may have become readable: after a local append commits,
    /// on another process's notification, and after a projector's batch commits (an open
    /// transaction holds back what every reader may read).
    fn wake_handle(&self) -> std::sync::Arc<tokio::sync::Notify>;

    /// How long an idle reader waits for a wake-up before it reads again anyway.
    fn idle_poll(&self) -> std::time::Duration {
        std::time::Duration::from_millis(500)
    }
}

/// One read model. `apply` must depend on nothing but the events (no clock, no other
/// projector's tables) so that a rebuild gives exactly the live result.
#[async_trait]
pub trait Projector: Send + Sync {
    fn name(&self) -> &'static str;

    /// The tables this projector owns, in creation order (rebuilds copy and swap them).
    fn tables(&self) -> &'static [&'static str];

    /// Whether events of this type can change this read model. Others are read past
    /// without a transaction (`apply` is never asked to handle a batch of only those).
    fn handles(&self, event_type: &str) -> bool;

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError>;
}

/// Every read model of tillroll.
pub fn all() -> Vec<std::sync::Arc<dyn Projector>> {
    vec![
        std::sync::Arc::new(catalog::CatalogProjector),
        std::sync::Arc::new(customers::CustomersProjector),
        std::sync::Arc::new(carts::CartsProjector),
        std::sync::Arc::new(orders::OrdersProjector),
        std::sync::Arc::new(refunds::RefundsProjector),
        std::sync::Arc::new(payouts::PayoutsProjector),
        std::sync::Arc::new(addresses::AddressesProjector),
        std::sync::Arc::new(seller_orders::SellerOrdersProjector),
    ]
}

pub(crate) fn decode<E: tillroll_events::DomainEvent>(
    event: &RecordedEvent,
) -> Option<Result<E, ProjectionError>> {
    event.try_decode::<E>().map(|r| {
        r.map_err(|source| ProjectionError::Decode {
            position: event.position,
            source,
        })
    })
}
