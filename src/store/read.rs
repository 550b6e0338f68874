//! Reading a stream, and reading the whole log in its order.
//!
//! The log's order is `log_index`, which the sequencer (`sequencer.rs`) gives committed events
//! only, densely and always above every index given before: a reader that has read index n
//! can never see anything appear at or below n, however late a transaction commits, and no
//! open transaction anywhere holds readers back.

use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use tillroll_events::{LogPosition, Metadata, RecordedEvent};

use super::{EventStore, StoreError, vault};

const COLUMNS: &str = "global_position, event_log.log_index, stream_id, stream_version, \
                       event_id, event_type, schema_version, data, metadata, recorded_at, hash, \
                       pii_keys.key AS pii_key, events.pii_subject IS NOT NULL AS personal";

/// Every read joins the key of the event's person, so personal fields are unsealed (or read as
/// erased) on the way out: code above the store only ever sees plaintext. Reads of the whole
/// log start from the index; reads by stream or metadata find the index if it is given yet.
const FROM_LOG: &str = "event_log JOIN events USING (global_position) \
                        LEFT JOIN pii_keys ON pii_keys.customer_id = events.pii_subject";
const FROM: &str = "events LEFT JOIN event_log USING (global_position) \
                    LEFT JOIN pii_keys ON pii_keys.customer_id = events.pii_subject";

const RESOLVE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Where a client-facing position stands in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Located {
    At(LogPosition),
    /// The event is committed and waits for the sequencer.
    Unsequenced,
    /// No event has this position.
    Unknown,
}

/// The last readable position of the log, and how many transactions hold it back.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogHead {
    pub last: LogPosition,
}

pub(crate) fn recorded_from_row(row: &PgRow) -> Result<RecordedEvent, sqlx::Error> {
    let metadata: serde_json::Value = row.try_get("metadata")?;
    let event_id = row.try_get("event_id")?;
    let mut data = row.try_get("data")?;
    let key: Option<Vec<u8>> = row.try_get("pii_key")?;
    vault::unseal(&mut data, event_id, key.as_deref());
    Ok(RecordedEvent {
        position: row.try_get("global_position")?,
        log_index: row.try_get("log_index")?,
        stream_id: row.try_get("stream_id")?,
        version: row.try_get("stream_version")?,
        event_id,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        data,
        metadata: serde_json::from_value::<Metadata>(metadata)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        recorded_at: row.try_get("recorded_at")?,
        hash: row.try_get("hash")?,
    })
}

impl EventStore {
    /// Events of one stream with a version above `after_version`, in version order.
    pub async fn read_stream(
        &self,
        stream_id: &str,
        after_version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read_stream(self.pool(), stream_id, after_version).await
    }

    /// Up to `limit` events after `after`, in log order (sequenced events only).
    pub async fn read_all(
        &self,
        after: LogPosition,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read_all(self.pool(), after, limit, None).await
    }

    /// As [`EventStore::read_all`], only events of the given types.
    pub async fn read_all_of_types(
        &self,
        after: LogPosition,
        limit: i64,
        types: &[String],
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read_all(self.pool(), after, limit, Some(types)).await
    }

    /// The last sequenced event's place (everything up to it is final).
    pub async fn head(&self) -> Result<LogPosition, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT log_index, global_position FROM event_log ORDER BY log_index DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(
            row.map_or(LogPosition::START, |(log_index, position)| LogPosition {
                log_index,
                position,
            }),
        )
    }

    /// Resolves a client-facing position (an event's `position`) to its place in the log.
    /// Position 0 is the start.
    pub async fn locate(&self, position: i64) -> Result<Located, StoreError> {
        if position <= 0 {
            return Ok(Located::At(LogPosition::START));
        }
        let row: Option<(Option<i64>,)> = sqlx::query_as(
            "SELECT l.log_index FROM events e LEFT JOIN event_log l USING (global_position) \
             WHERE e.global_position = $1",
        )
        .bind(position)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some((Some(log_index),)) => Located::At(LogPosition {
                log_index,
                position,
            }),
            Some((None,)) => Located::Unsequenced,
            None => Located::Unknown,
        })
    }

    /// As [`EventStore::locate`], waiting (until `deadline`) for the sequencer to place an
    /// event that is committed but not yet in the log's order. `None` for a position no event
    /// has; [`StoreError::Unsequenced`] for one still waiting at the deadline.
    pub async fn locate_by(
        &self,
        position: i64,
        deadline: tokio::time::Instant,
    ) -> Result<Option<LogPosition>, StoreError> {
        loop {
            match self.locate(position).await? {
                Located::At(at) => return Ok(Some(at)),
                Located::Unknown => return Ok(None),
                Located::Unsequenced if tokio::time::Instant::now() >= deadline => {
                    return Err(StoreError::Unsequenced);
                }
                Located::Unsequenced => {
                    self.sequencer_kick();
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            }
        }
    }

    /// [`EventStore::locate_by`] with a 5 s deadline.
    pub async fn resolve(&self, position: i64) -> Result<Option<LogPosition>, StoreError> {
        self.locate_by(position, tokio::time::Instant::now() + RESOLVE_WAIT)
            .await
    }

    /// Events whose metadata names `correlation_id`, in log order.
    pub async fn read_correlated(
        &self,
        correlation_id: uuid::Uuid,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} \
             WHERE (metadata ->> 'correlation_id')::uuid = $1 \
             ORDER BY event_log.log_index NULLS LAST, global_position"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(correlation_id)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(recorded_from_row)
            .collect::<Result<_, _>>()?)
    }
}

impl EventStore {
    /// Events whose metadata names one of `causes` as their causation, in log order.
    pub async fn read_caused_by(
        &self,
        causes: &[uuid::Uuid],
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} \
             WHERE (metadata ->> 'causation_id')::uuid = ANY($1) \
             ORDER BY event_log.log_index NULLS LAST, global_position"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(causes)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(recorded_from_row)
            .collect::<Result<_, _>>()?)
    }
}

pub(crate) async fn read_stream<'e>(
    executor: impl PgExecutor<'e>,
    stream_id: &str,
    after_version: i64,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE stream_id = $1 AND stream_version > $2 \
         ORDER BY stream_version"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(after_version)
        .fetch_all(executor)
        .await?;
    Ok(rows
        .iter()
        .map(recorded_from_row)
        .collect::<Result<_, _>>()?)
}

pub(crate) async fn read_all<'e>(
    executor: impl PgExecutor<'e>,
    after: LogPosition,
    limit: i64,
    types: Option<&[String]>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = read_log(executor, after, limit, types).await?;
    Ok(rows
        .iter()
        .map(recorded_from_row)
        .collect::<Result<_, _>>()?)
}

/// As [`read_all`], each event with whether it holds personal data (sealed at rest, unsealed
/// here with its person's key while the key exists).
pub(crate) async fn read_all_marked<'e>(
    executor: impl PgExecutor<'e>,
    after: LogPosition,
    limit: i64,
) -> Result<Vec<(RecordedEvent, bool)>, StoreError> {
    let rows = read_log(executor, after, limit, None).await?;
    Ok(rows
        .iter()
        .map(|row| Ok((recorded_from_row(row)?, row.try_get("personal")?)))
        .collect::<Result<_, sqlx::Error>>()?)
}

async fn read_log<'e>(
    executor: impl PgExecutor<'e>,
    after: LogPosition,
    limit: i64,
    types: Option<&[String]>,
) -> Result<Vec<PgRow>, StoreError> {
    let type_filter = if types.is_some() {
        "AND event_type = ANY($3)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM_LOG} \
         WHERE event_log.log_index > $1 {type_filter} \
         ORDER BY event_log.log_index LIMIT $2"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after.log_index)
        .bind(limit);
    if let Some(types) = types {
        query = query.bind(types);
    }
    Ok(query.fetch_all(executor).await?)
}
