//! An order's state as of a moment, replayed from its own stream through the domain's
//! `evolve` (never from a read model).

use chrono::{DateTime, Utc};
use tillroll_events::{OrderEvent, StreamId};
use uuid::Uuid;

use crate::domain::Aggregate;
use crate::domain::order::Order;
use crate::store::{EventStore, StoreError};

/// The order as of `at`, with the version of the last event applied; `None` if it did not
/// exist yet.
pub async fn order_at(
    store: &EventStore,
    order_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<(Order, i64)>, StoreError> {
    let recorded = store
        .read_stream(StreamId::order(order_id).as_str(), 0)
        .await?;
    let mut state = Order::default();
    let mut version = 0;
    // A prefix of the stream: the state of a moment is never missing an earlier event.
    for event in recorded.iter().take_while(|e| e.recorded_at <= at) {
        state.evolve(&event.decode::<OrderEvent>()?);
        version = event.version;
    }
    Ok(state.exists.then_some((state, version)))
}
