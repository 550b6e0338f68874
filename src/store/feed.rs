//! The store as the projection runner's source of events, with one shared read of the tail.
//!
//! Every projector follows the log on its own, but at the tail they all want the same events
//! at the same moment. The store keeps the newest events it read in memory (`Tail`), and at
//! the tail one projector reads for all: the others wait for that read and are served from
//! memory. Sequenced events never change (their `log_index` and rows are immutable), so a
//! remembered event is exactly what the database would return — except an event holding
//! personal data, which reads as erased once its person is: the tail keeps only its place,
//! and such an event is always read from the database. A projector far behind (a fresh node,
//! a rebuild) reads the database itself.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use sqlx::PgConnection;
use tillroll_events::{LogPosition, RecordedEvent};
use tillroll_projections::{EventFeed, ProjectionError};

use super::EventStore;

/// Events remembered (a few megabytes; the projectors' batches are at most 1000).
const REMEMBERED: usize = 2048;

/// A remembered place in the log: the event, or `None` for one that holds personal data.
struct Remembered {
    log_index: i64,
    event: Option<RecordedEvent>,
}

#[derive(Default)]
pub(crate) struct Tail {
    /// Consecutive places by `log_index`, the newest read last.
    events: Mutex<VecDeque<Remembered>>,
    /// Held by the one reader that reads past the remembered events for everyone.
    reading: tokio::sync::Mutex<()>,
}

impl Tail {
    /// Up to `limit` remembered events after `after`, when memory holds the next one (and it
    /// holds no personal data); stops before the first that does.
    fn serve(&self, after: LogPosition, limit: i64) -> Option<Vec<RecordedEvent>> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let first = events.front()?.log_index;
        let last = events.back()?.log_index;
        if after.log_index < first - 1 || after.log_index >= last {
            return None;
        }
        let skip = usize::try_from(after.log_index + 1 - first).ok()?;
        let take = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        let served: Vec<RecordedEvent> = events
            .iter()
            .skip(skip)
            .take(take)
            .map_while(|r| r.event.clone())
            .collect();
        (!served.is_empty()).then_some(served)
    }

    /// Whether `after` is at (or past) the newest remembered event: the next read is news.
    fn at_end(&self, after: LogPosition) -> bool {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events.back().is_none_or(|r| after.log_index >= r.log_index)
    }

    /// Remembers what a reader read after `after`, keeping the memory consecutive: a read that
    /// continues it is added, one beyond it starts it anew, one behind it is not kept.
    fn remember(&self, after: LogPosition, read: &[(RecordedEvent, bool)]) {
        let places: Vec<i64> = read
            .iter()
            .map(|(e, _)| e.log_position().log_index)
            .collect();
        let Some(&first_read) = places.first() else {
            return;
        };
        if places.windows(2).any(|w| w[1] != w[0] + 1) {
            // Never expected (the index is dense); memory that is not consecutive would serve
            // the wrong events, so it keeps none.
            debug_assert!(
                false,
                "a read of the log that is not consecutive: {places:?}"
            );
            return;
        }
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        match events.back().map(|r| r.log_index) {
            Some(last) if first_read == last + 1 => {}
            Some(last) if after.log_index > last => events.clear(),
            None => {}
            Some(_) => return,
        }
        events.extend(read.iter().map(|(event, personal)| Remembered {
            log_index: event.log_position().log_index,
            event: (!personal).then(|| event.clone()),
        }));
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
        let read = super::read::read_all_marked(conn, after, limit)
            .await
            .map_err(|e| ProjectionError::Feed(e.to_string()))?;
        self.tail.remember(after, &read);
        Ok(read.into_iter().map(|(event, _)| event).collect())
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
        events.iter().map(|e| e.log_position().log_index).collect()
    }

    fn read(range: std::ops::Range<i64>) -> Vec<(RecordedEvent, bool)> {
        range.map(|i| (event(i), false)).collect()
    }

    #[test]
    fn serves_what_it_remembers_and_nothing_past_it() {
        let tail = Tail::default();
        assert!(tail.serve(after(-1), 10).is_none(), "nothing remembered");
        assert!(tail.at_end(after(-1)));
        tail.remember(after(-1), &read(0..5));
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
        tail.remember(after(9), &read(10..12));
        // Continues: kept.
        tail.remember(after(11), &read(12..14));
        assert_eq!(
            indexes(&tail.serve(after(9), 10).unwrap()),
            [10, 11, 12, 13]
        );
        // Behind (a reader catching up): not kept, nothing broken.
        tail.remember(after(2), &read(3..6));
        assert!(tail.serve(after(2), 10).is_none());
        assert_eq!(indexes(&tail.serve(after(12), 10).unwrap()), [13]);
        // Beyond (the tail moved on without us): starts anew.
        tail.remember(after(19), &read(20..22));
        assert!(tail.serve(after(12), 10).is_none());
        assert_eq!(indexes(&tail.serve(after(19), 10).unwrap()), [20, 21]);
    }

    #[test]
    fn personal_events_are_always_read_from_the_database() {
        let tail = Tail::default();
        let mut events = read(0..4);
        events[2].1 = true;
        tail.remember(after(-1), &events);
        // Served up to the personal one, which is not served from memory…
        assert_eq!(indexes(&tail.serve(after(-1), 10).unwrap()), [0, 1]);
        assert!(tail.serve(after(1), 10).is_none());
        // … and after it, memory serves again.
        assert_eq!(indexes(&tail.serve(after(2), 10).unwrap()), [3]);
        let remembered = tail.events.lock().unwrap();
        assert!(remembered[2].event.is_none(), "no personal data in memory");
    }

    #[test]
    fn forgets_the_oldest_beyond_its_size() {
        let tail = Tail::default();
        tail.remember(after(-1), &read(0..REMEMBERED as i64 + 10));
        assert!(
            tail.serve(after(-1), 10).is_none(),
            "the oldest are forgotten"
        );
        assert_eq!(indexes(&tail.serve(after(9), 1).unwrap()), [10]);
    }
}
