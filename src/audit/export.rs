//! The log as NDJSON (`GET /audit/events`, `tillroll audit export`): one API.md `event` a
//! line, in log order, read in batches so any length of log exports in constant memory.
//!
//! Each line also carries what the event's leaf covers beyond the `event` shape, so the export
//! can be checked offline against a signed tree head (`tillroll audit verify-export`):
//! `pii_subject` and, for personal fields, `sealed` — their stored, sealed form (the plaintext,
//! or `[erased]`, is in `data`).

use bytes::Bytes;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::Row;
use tillroll_events::{LogPosition, Metadata};
use uuid::Uuid;

use super::leaf::{COLUMNS, StoredEvent};
use crate::http::views::event::{EventMetadataView, EventView};
use crate::store::{EventStore, StoreError, vault};

const BATCH: i64 = 1000;

/// One line of the export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedEvent {
    #[serde(flatten)]
    pub event: EventView,
    /// The person whose key sealed the event's personal fields.
    #[serde(default)]
    pub pii_subject: Option<Uuid>,
    /// The personal fields as stored (sealed), by field name.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub sealed: Map<String, Value>,
}

impl ExportedEvent {
    /// The line for a stored event, its personal fields opened with `key` (or erased).
    pub fn new(stored: &StoredEvent, key: Option<&[u8]>) -> Result<Self, StoreError> {
        let mut data = stored.data.clone();
        vault::unseal(&mut data, stored.event_id, key);
        let metadata: Metadata = serde_json::from_value(stored.metadata.clone())
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?;
        Ok(Self {
            event: EventView {
                position: stored.position,
                log_index: Some(stored.log_index),
                stream_id: stored.stream_id.clone(),
                version: stored.version,
                event_id: stored.event_id,
                event_type: stored.event_type.clone(),
                schema_version: stored.schema_version,
                data,
                metadata: EventMetadataView::from(&metadata),
                recorded_at: stored.recorded_at,
                hash: hex::encode(&stored.hash),
            },
            pii_subject: stored.pii_subject,
            sealed: stored.sealed_fields(),
        })
    }

    /// The event as stored, rebuilt from the line (what its leaf covers); `None` when the line
    /// lacks a log index or has a malformed hash.
    pub fn stored(&self) -> Option<StoredEvent> {
        let e = &self.event;
        let mut data = e.data.clone();
        if let Some(object) = data.as_object_mut() {
            for (field, sealed) in &self.sealed {
                object.insert(field.clone(), sealed.clone());
            }
        }
        let metadata = serde_json::to_value(Metadata::from(&e.metadata)).ok()?;
        Some(StoredEvent {
            log_index: e.log_index?,
            position: e.position,
            event_id: e.event_id,
            stream_id: e.stream_id.clone(),
            version: e.version,
            event_type: e.event_type.clone(),
            schema_version: e.schema_version,
            data,
            metadata,
            recorded_at: e.recorded_at,
            pii_subject: self.pii_subject,
            hash: hex::decode(&e.hash).ok()?,
        })
    }
}

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

async fn read_batch(
    store: &EventStore,
    after: i64,
    until: i64,
    limit: i64,
    types: Option<&[String]>,
) -> Result<Vec<ExportedEvent>, StoreError> {
    let type_filter = if types.is_some() {
        "AND e.event_type = ANY($4)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS}, pii_keys.key AS pii_key \
         FROM event_log l JOIN events e USING (global_position) \
         LEFT JOIN pii_keys ON pii_keys.customer_id = e.pii_subject \
         WHERE l.log_index > $1 AND l.log_index <= $2 {type_filter} \
         ORDER BY l.log_index LIMIT $3"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(until)
        .bind(limit);
    if let Some(types) = types {
        query = query.bind(types);
    }
    let rows = query.fetch_all(store.pool()).await?;
    rows.iter()
        .map(|row| {
            let stored = StoredEvent::from_row(row)?;
            let key: Option<Vec<u8>> = row.try_get("pii_key")?;
            ExportedEvent::new(&stored, key.as_deref())
        })
        .collect()
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
        let events = read_batch(
            &c.store,
            c.range.after.log_index,
            c.range.until.log_index,
            batch,
            c.range.types.as_deref(),
        )
        .await?;
        c.done = events.len() < batch as usize;
        let Some(last) = events.last() else {
            return Ok(None);
        };
        c.range.after = LogPosition {
            log_index: last.event.log_index.unwrap_or_default(),
            position: last.event.position,
        };
        c.sent += events.len() as u64;
        let mut lines = Vec::with_capacity(events.len() * 512);
        for event in &events {
            serde_json::to_writer(&mut lines, event).expect("an event line serialises");
            lines.push(b'\n');
        }
        Ok(Some((Bytes::from(lines), c)))
    })
}
