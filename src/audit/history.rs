//! An order's full history: its own stream, every event correlated with it (the money path
//! sets `correlation_id` = order id on every command about an order), and every event caused
//! by one of those, transitively (reactor commands set `causation_id`), in log order.

use std::collections::HashSet;

use tillroll_events::{RecordedEvent, StreamId};
use uuid::Uuid;

use crate::store::{EventStore, StoreError};

/// Causation is followed this many links deep (a guard against a runaway chain).
const MAX_DEPTH: usize = 16;

/// The order's events and those it caused, in log order; empty for an unknown order.
pub async fn order_history(
    store: &EventStore,
    order_id: Uuid,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut events = store
        .read_stream(StreamId::order(order_id).as_str(), 0)
        .await?;
    events.extend(store.read_correlated(order_id).await?);
    let mut seen = HashSet::new();
    events.retain(|e| seen.insert(e.event_id));
    let mut frontier: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    for _ in 0..MAX_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let caused = store.read_caused_by(&frontier).await?;
        frontier.clear();
        for event in caused {
            if seen.insert(event.event_id) {
                frontier.push(event.event_id);
                events.push(event);
            }
        }
    }
    // An event committed a moment ago may not have its log index yet: it comes last, where
    // the sequencer is about to place it.
    events.sort_by_key(|e| (e.log_index.unwrap_or(i64::MAX), e.position));
    Ok(events)
}
