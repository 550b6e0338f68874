//! Reading a stream, and reading the whole log in its gap-safe order.
//!
//! The log's order is `(transaction_id, global_position)`. A reader only reads events whose
//! transaction id is below `pg_snapshot_xmin(pg_current_snapshot())`: every such transaction
//! has finished, and every transaction that has not yet appended will get a larger id, so
//! nothing can ever appear behind a reader's position. The bound is computed by the same
//! statement that reads (one snapshot), so it never goes backwards or skips.

use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use tillroll_events::{LogPosition, Metadata, RecordedEvent};

use super::{EventStore, StoreError, vault};

const COLUMNS: &str = "global_position, transaction_id, stream_id, stream_version, event_id, \
                       event_type, schema_version, data, metadata, recorded_at, hash, \
                       pii_keys.key AS pii_key";

/// Every read joins the key of the event's person, so personal fields are unsealed (or read as
/// erased) on the way out: code above the store only ever sees plaintext.
const FROM: &str = "events LEFT JOIN pii_keys ON pii_keys.customer_id = events.pii_subject";

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
        transaction_id: row.try_get("transaction_id")?,
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

    /// Up to `limit` events after `after`, in log order, none of which can later be preceded
    /// by an event that commits afterwards.
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

    /// The last readable position (everything up to it is final).
    pub async fn head(&self) -> Result<LogPosition, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT transaction_id, global_position FROM events \
             WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
             ORDER BY transaction_id DESC, global_position DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(
            row.map_or(LogPosition::START, |(transaction_id, position)| {
                LogPosition {
                    transaction_id,
                    position,
                }
            }),
        )
    }

    /// Resolves a client-facing position (an event's `position`) to its place in the log.
    /// Position 0 is the start; an unknown position is `None`.
    pub async fn locate(&self, position: i64) -> Result<Option<LogPosition>, StoreError> {
        if position <= 0 {
            return Ok(Some(LogPosition::START));
        }
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT transaction_id FROM events WHERE global_position = $1")
                .bind(position)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(transaction_id,)| LogPosition {
            transaction_id,
            position,
        }))
    }

    /// Events whose metadata names `correlation_id`, in log order.
    pub async fn read_correlated(
        &self,
        correlation_id: uuid::Uuid,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} \
             WHERE (metadata ->> 'correlation_id')::uuid = $1 \
             ORDER BY transaction_id, global_position"
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
             ORDER BY transaction_id, global_position"
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
    let type_filter = if types.is_some() {
        "AND event_type = ANY($4)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM {FROM} \
         WHERE (transaction_id, global_position) > ($1, $2) \
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
           {type_filter} \
         ORDER BY transaction_id, global_position LIMIT $3"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after.transaction_id)
        .bind(after.position)
        .bind(limit);
    if let Some(types) = types {
        query = query.bind(types);
    }
    let rows = query.fetch_all(executor).await?;
    Ok(rows
        .iter()
        .map(recorded_from_row)
        .collect::<Result<_, _>>()?)
}
