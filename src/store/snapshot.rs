//! Snapshots: an aggregate's state at a stream version, so loading a long stream (stock
//! grows with every sale) reads only the tail.

use serde::{Serialize, de::DeserializeOwned};
use sqlx::PgExecutor;

use super::StoreError;

/// Take a snapshot once a stream has grown this many events past the last one.
pub const EVERY: i64 = 100;

pub async fn load<'e, S: DeserializeOwned>(
    executor: impl PgExecutor<'e>,
    stream_id: &str,
    state_version: i32,
) -> Result<Option<(i64, S)>, StoreError> {
    let row: Option<(i64, serde_json::Value)> = sqlx::query_as(
        "SELECT stream_version, state FROM snapshots WHERE stream_id = $1 AND state_version = $2",
    )
    .bind(stream_id)
    .bind(state_version)
    .fetch_optional(executor)
    .await?;
    // A snapshot that no longer decodes is ignored: the stream is the truth.
    Ok(row.and_then(|(version, state)| {
        serde_json::from_value(state)
            .ok()
            .map(|state| (version, state))
    }))
}

pub async fn save<'e, S: Serialize>(
    executor: impl PgExecutor<'e>,
    stream_id: &str,
    stream_version: i64,
    state_version: i32,
    state: &S,
) -> Result<(), StoreError> {
    let state = serde_json::to_value(state).expect("aggregate state serialises");
    sqlx::query(
        "INSERT INTO snapshots (stream_id, stream_version, state_version, state) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (stream_id) DO UPDATE SET stream_version = excluded.stream_version, \
             state_version = excluded.state_version, state = excluded.state, taken_at = now() \
         WHERE snapshots.stream_version < excluded.stream_version \
            OR snapshots.state_version <> excluded.state_version",
    )
    .bind(stream_id)
    .bind(stream_version)
    .bind(state_version)
    .bind(state)
    .execute(executor)
    .await?;
    Ok(())
}
