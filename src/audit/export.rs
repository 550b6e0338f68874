//! The log as NDJSON (`GET /audit/events`, `tillroll audit export`): one API.md `event` a
//! line, in log order, read in batches so any length of log exports in constant memory.

use bytes::Bytes;
use futures_util::Stream;
use tillroll_events::LogPosition;

use crate::store::export::EventView;
use crate::store::{EventStore, StoreError};

const BATCH: i64 = 1000;

/// Which part of the log to export.
#[derive(Debug, Clone)]
pub struct Range {
    /// Export the events after this one.
    pub after: LogPosition,
    /// Stop at this one (the head when the export started, so it ends on a busy log).
    pub until: LogPosition,
    /// At most this many events.
    pub limit: Option<u64>,
    /// Only these event types.
    pub types: Option<Vec<String>>,
}

struct Cursor {
    store: EventStore,
    range: Range,
    sent: u64,
    done: bool,
}

/// One chunk of lines per batch read from the database.
pub fn ndjson(store: EventStore, range: Range) -> impl Stream<Item = Result<Bytes, StoreError>> {
    let cursor = Cursor {
        store,
        range,
        sent: 0,
        done: false,
    };
    futures_util::stream::try_unfold(cursor, |mut c| async move {
        if c.done {
            return Ok(None);
        }
        let left = c.range.limit.map_or(u64::MAX, |l| l - c.sent);
        let batch = BATCH.min(i64::try_from(left).unwrap_or(i64::MAX));
        if batch == 0 {
            return Ok(None);
        }
        let events = match &c.range.types {
            Some(types) => {
                c.store
                    .read_all_of_types(c.range.after, batch, types)
                    .await?
            }
            None => c.store.read_all(c.range.after, batch).await?,
        };
        let until = c.range.until;
        let wanted: Vec<_> = events
            .iter()
            .take_while(|e| e.log_position() <= until)
            .collect();
        c.done = wanted.len() < events.len() || events.len() < batch as usize;
        let Some(last) = wanted.last() else {
            return Ok(None);
        };
        c.range.after = last.log_position();
        c.sent += wanted.len() as u64;
        let mut lines = Vec::with_capacity(wanted.len() * 512);
        for event in wanted {
            serde_json::to_writer(&mut lines, &EventView::from(event))
                .expect("an event view serialises");
            lines.push(b'\n');
        }
        Ok(Some((Bytes::from(lines), c)))
    })
}
