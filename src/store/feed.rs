//! The store as the projection runner's source of events, with one shared read of the tail.
//!
//! Every projector follows the log on its own, but at the tail they all want the same events
//! at the same moment. The store keeps the newest events it read in memory (`Tail`), and at
//! the tail one projector reads for all: the others wait for that read and are served from
//! memory. Sequenced events never change (their `log_index` and rows are immutable), so a
//! remembered event is exactly what the database would return. A projector far behind (a
//! fresh node, a rebuild) reads the database itself.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use sqlx::PgConnection;
use tillroll_events::{LogPosition, RecordedEvent};
use tillroll_projections::{EventFeed, ProjectionError};

use super::EventStore;

/// Events remembered (a few megabytes; the projectors' batches are at most 1000).
const REMEMBERED: usize = 2048;

#[derive(Default)]
pub(crate) struct Tail {
    /// Consecutive events by `log_index`, the newest read last.
    events: Mutex<VecDeque<RecordedEvent>>,
    /// Held by the one reader that reads past the remembered events for everyone.
    reading: tokio::sync::Mutex<()>,
}

fn index(event: &RecordedEvent) -> i64 {
    event.log_position().log_index
}

impl Tail {
    /// Up to `limit` remembered events after `after`, when memory holds the next one.
    fn serve(&self, after: LogPosition, limit: i64) -> Option<Vec<RecordedEvent>> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let first = index(events.front()?);
        let last = index(events.back()?);
        if after.log_index < first - 1 || after.log_index >= last {
            return None;
        }
        let skip = usize::try_from(after.log_index + 1 - first).ok()?;
        let take = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        Some(events.iter().skip(skip).take(take).cloned().collect())
    }

    /// Whether `after` is at (or past) the newest remembered event: the next read is news.
    fn at_end(&self, after: LogPosition) -> bool {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events.back().is_none_or(|e| after.log_index >= index(e))
    }

    /// Remembers what a reader read after `after`, keeping the memory consecutive: a read that
    /// continues it is added, one beyond it starts it anew, one behind it is not kept.
    fn remember(&self, after: LogPosition, read: &[RecordedEvent]) {
        let Some(first_read) = read.first() else {
            return;
        };
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let last = events.back().map(index);
        match last {
            Some(last) if index(first_read) == last + 1 => {}
            Some(last) if after.log_index > last => events.clear(),
            None => {}
            Some(_) => return,
        }
        events.extend(read.iter().cloned());
        while events.len() > REMEMBERED {
            events.pop_front();
        }
    }
}

#[async_trait]
impl EventFeed for EventStore {
    async fn read_batch(
        &self,
        conn: &mut PgConnection,
        after: LogPosition,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, ProjectionError> {
        if let Some(events) = self.tail.serve(after, limit) {
            return Ok(events);
        }
        // At the tail, one reader at a time reads the news; the others then find it here.
        let _turn = if self.tail.at_end(after) {
            let turn = self.tail.reading.lock().await;
            if let Some(events) = self.tail.serve(after, limit) {
                return Ok(events);
            }
            Some(turn)
        } else {
            None
        };
        let read = super::read::read_all(conn, after, limit, None)
            .await
            .map_err(|e| ProjectionError::Feed(e.to_string()))?;
        self.tail.remember(after, &read);
        Ok(read)
    }

    fn wake_handle(&self) -> std::sync::Arc<tokio::sync::Notify> {
        EventStore::wake_handle(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(log_index: i64) -> RecordedEvent {
        RecordedEvent {
            position: log_index + 100,
            log_index: Some(log_index),
            stream_id: "test-1".into(),
            version: 1,
            event_id: uuid::Uuid::nil(),
            event_type: "TestHappened".into(),
            schema_version: 1,
            data: serde_json::json!({}),
            metadata: tillroll_events::Metadata::system(uuid::Uuid::nil()),
            recorded_at: chrono::Utc::now(),
            hash: Vec::new(),
        }
    }

    fn after(log_index: i64) -> LogPosition {
        LogPosition {
            log_index,
            position: log_index + 100,
        }
    }

    fn indexes(events: &[RecordedEvent]) -> Vec<i64> {
        events.iter().map(index).collect()
    }

    #[test]
    fn serves_what_it_remembers_and_nothing_past_it() {
        let tail = Tail::default();
        assert!(tail.serve(after(-1), 10).is_none(), "nothing remembered");
        assert!(tail.at_end(after(-1)));
        tail.remember(after(-1), &(0..5).map(event).collect::<Vec<_>>());
        assert_eq!(
            indexes(&tail.serve(after(-1), 10).unwrap()),
            [0, 1, 2, 3, 4]
        );
        assert_eq!(indexes(&tail.serve(after(1), 2).unwrap()), [2, 3]);
        assert!(tail.serve(after(4), 10).is_none(), "the news is read");
        assert!(tail.at_end(after(4)));
        assert!(!tail.at_end(after(3)));
    }

    #[test]
    fn stays_consecutive() {
        let tail = Tail::default();
        tail.remember(after(9), &(10..12).map(event).collect::<Vec<_>>());
        // Continues: kept.
        tail.remember(after(11), &(12..14).map(event).collect::<Vec<_>>());
        assert_eq!(
            indexes(&tail.serve(after(9), 10).unwrap()),
            [10, 11, 12, 13]
        );
        // Behind (a reader catching up): not kept, nothing broken.
        tail.remember(after(2), &(3..6).map(event).collect::<Vec<_>>());
        assert!(tail.serve(after(2), 10).is_none());
        assert_eq!(indexes(&tail.serve(after(12), 10).unwrap()), [13]);
        // Beyond (the tail moved on without us): starts anew.
        tail.remember(after(19), &(20..22).map(event).collect::<Vec<_>>());
        assert!(tail.serve(after(12), 10).is_none());
        assert_eq!(indexes(&tail.serve(after(19), 10).unwrap()), [20, 21]);
    }

    #[test]
    fn forgets_the_oldest_beyond_its_size() {
        let tail = Tail::default();
        let many: Vec<_> = (0..REMEMBERED as i64 + 10).map(event).collect();
        tail.remember(after(-1), &many);
        assert!(
            tail.serve(after(-1), 10).is_none(),
            "the oldest are forgotten"
        );
        assert_eq!(indexes(&tail.serve(after(9), 1).unwrap()), [10]);
    }
}
