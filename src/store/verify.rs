//! Recomputing every stream's hash chain (`tillroll audit verify`, `GET /audit/verify`).
//! Streams are read in one ordered pass, in constant memory.

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::Row;

use super::hash::{self, GENESIS, HashInput};
use super::{EventStore, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChainFailure {
    /// The stream of the event concerned; `log` for a failure of the log as a whole (a tree
    /// head, a missing index).
    pub stream_id: String,
    /// The event's version in its stream (0 when the event is unknown).
    pub version: i64,
    pub reason: String,
    /// The event's place in the log, for failures found by the transparency log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_index: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    pub streams_checked: u64,
    pub events_checked: u64,
    /// The first broken link of each broken stream.
    pub failures: Vec<ChainFailure>,
}

struct Cursor {
    stream_id: String,
    version: i64,
    previous: Vec<u8>,
    broken: bool,
}

/// The stored columns as they are: a tampered row must be reported, not fail to decode.
struct RawEvent {
    stream_id: String,
    version: i64,
    event_type: String,
    schema_version: i32,
    data: serde_json::Value,
    metadata: serde_json::Value,
    recorded_at: chrono::DateTime<chrono::Utc>,
    hash: Vec<u8>,
}

impl RawEvent {
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            stream_id: row.try_get("stream_id")?,
            version: row.try_get("stream_version")?,
            event_type: row.try_get("event_type")?,
            schema_version: row.try_get("schema_version")?,
            data: row.try_get("data")?,
            metadata: row.try_get("metadata")?,
            recorded_at: row.try_get("recorded_at")?,
            hash: row.try_get("hash")?,
        })
    }
}

impl EventStore {
    pub async fn verify_chains(&self) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        let mut conn = self.pool().acquire().await?;
        let mut rows = sqlx::query(
            "SELECT stream_id, stream_version, event_type, schema_version, data, metadata, \
                    recorded_at, hash \
             FROM events ORDER BY stream_id, stream_version",
        )
        .fetch(&mut *conn);
        let mut cursor: Option<Cursor> = None;
        while let Some(row) = rows.try_next().await? {
            let event = RawEvent::from_row(&row)?;
            report.events_checked += 1;
            if cursor
                .as_ref()
                .is_none_or(|c| c.stream_id != event.stream_id)
            {
                report.streams_checked += 1;
                cursor = Some(Cursor {
                    stream_id: event.stream_id.clone(),
                    version: 0,
                    previous: GENESIS.to_vec(),
                    broken: false,
                });
            }
            let c = cursor.as_mut().expect("set above");
            if c.broken {
                continue;
            }
            let failure = |reason: String| ChainFailure {
                stream_id: event.stream_id.clone(),
                version: event.version,
                reason,
                log_index: None,
            };
            if event.version != c.version + 1 {
                report.failures.push(failure(format!(
                    "version {} follows {}: {} missing",
                    event.version,
                    c.version,
                    if event.version > c.version + 1 {
                        "events are"
                    } else {
                        "order is broken, events are"
                    }
                )));
                c.broken = true;
                continue;
            }
            let expected = hash::event_hash(
                &c.previous,
                &HashInput {
                    stream_id: &event.stream_id,
                    version: event.version,
                    event_type: &event.event_type,
                    schema_version: event.schema_version,
                    data: &event.data,
                    metadata: &event.metadata,
                    recorded_at: event.recorded_at,
                },
            );
            if expected != event.hash {
                report.failures.push(failure(
                    "hash does not match the event's content or its predecessor".into(),
                ));
                c.broken = true;
                continue;
            }
            c.version = event.version;
            c.previous = event.hash;
        }
        report.ok = report.failures.is_empty();
        Ok(report)
    }
}
