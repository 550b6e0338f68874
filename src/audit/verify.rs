//! The whole audit check (`GET /audit/verify`, `tillroll audit verify`): every hash chain,
//! then the log against the latest signed checkpoint.

use chrono::SecondsFormat;
use serde::Serialize;
use sqlx::PgConnection;
use tillroll_events::audit::audit_stream;
use uuid::Uuid;

use super::checkpoint::{
    Checkpoint, fold_heads, latest, signature_valid, signed_message, signing_key,
};
use crate::store::verify::ChainFailure;
use crate::store::{EventStore, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditReport {
    pub ok: bool,
    pub streams_checked: u64,
    pub events_checked: u64,
    /// The first broken link of each broken chain, then what the checkpoint check found.
    pub failures: Vec<ChainFailure>,
    /// The latest checkpoint the log was checked against; `null` before the first one.
    pub checkpoint: Option<CheckpointCheck>,
}

pub async fn verify(store: &EventStore) -> Result<AuditReport, StoreError> {
    let chains = store.verify_chains().await?;
    let (checkpoint, checkpoint_failures) = check(store).await?;
    let mut failures = chains.failures;
    failures.extend(checkpoint_failures);
    Ok(AuditReport {
        ok: failures.is_empty(),
        streams_checked: chains.streams_checked,
        events_checked: chains.events_checked,
        failures,
        checkpoint,
    })
}

/// The latest checkpoint and what checking the log against it found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CheckpointCheck {
    pub checkpoint: Checkpoint,
    pub signature_valid: bool,
    pub root_valid: bool,
}

/// Checks the log against the latest checkpoint: its signature, its root against the heads
/// table, and every checkpointed head against the stream's current events.
pub async fn check(
    store: &EventStore,
) -> Result<(Option<CheckpointCheck>, Vec<ChainFailure>), StoreError> {
    let Some(checkpoint) = latest(store).await? else {
        return Ok((None, orphan_heads(store).await?));
    };
    let key = signing_key(store.pool()).await?;
    let mut failures = Vec::new();
    let at_checkpoint = |reason: String| ChainFailure {
        stream_id: checkpoint.stream_id.clone(),
        version: checkpoint.version,
        reason,
    };
    let signature_valid =
        signature_valid(&key, &signed_message(&checkpoint), &checkpoint.signature);
    if !signature_valid {
        failures.push(at_checkpoint(
            "the checkpoint's signature does not match its content".into(),
        ));
    }
    let mut conn = store.pool().acquire().await?;
    let (root, streams, events) = fold_heads(&mut conn, checkpoint.checkpoint_id).await?;
    let root_valid = hex::encode(root) == checkpoint.merkle_root
        && streams == checkpoint.streams
        && events == checkpoint.events;
    if !root_valid {
        failures.push(at_checkpoint(format!(
            "the stored heads ({streams} streams, {events} events) do not give the \
             checkpoint's Merkle root ({} streams, {} events)",
            checkpoint.streams, checkpoint.events
        )));
    }
    failures.extend(behind_heads(&mut conn, &checkpoint).await?);
    Ok((
        Some(CheckpointCheck {
            checkpoint,
            signature_valid,
            root_valid,
        }),
        failures,
    ))
}

/// Stored heads without any checkpoint event: the audit stream itself was deleted.
async fn orphan_heads(store: &EventStore) -> Result<Vec<ChainFailure>, StoreError> {
    let orphan: Option<(Uuid,)> =
        sqlx::query_as("SELECT checkpoint_id FROM audit_checkpoint_heads LIMIT 1")
            .fetch_optional(store.pool())
            .await?;
    Ok(orphan
        .map(|(checkpoint_id,)| ChainFailure {
            stream_id: audit_stream().to_string(),
            version: 1,
            reason: format!(
                "the heads of checkpoint {checkpoint_id} are stored but the audit stream holds \
                 no checkpoint: it was deleted"
            ),
        })
        .into_iter()
        .collect())
}

/// Streams whose current events no longer reach, or no longer hold, their checkpointed head.
async fn behind_heads(
    conn: &mut PgConnection,
    checkpoint: &Checkpoint,
) -> Result<Vec<ChainFailure>, sqlx::Error> {
    let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT h.stream_id, h.stream_version, cur.version \
         FROM audit_checkpoint_heads h \
         LEFT JOIN LATERAL (SELECT max(stream_version) AS version FROM events \
                            WHERE events.stream_id = h.stream_id) cur ON true \
         LEFT JOIN events e ON e.stream_id = h.stream_id AND e.stream_version = h.stream_version \
         WHERE h.checkpoint_id = $1 \
           AND (cur.version IS NULL OR cur.version < h.stream_version \
                OR e.hash IS DISTINCT FROM h.hash) \
         ORDER BY h.stream_id",
    )
    .bind(checkpoint.checkpoint_id)
    .fetch_all(conn)
    .await?;
    let at = checkpoint
        .recorded_at
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    Ok(rows
        .into_iter()
        .map(|(stream_id, version, now)| match now {
            None => ChainFailure {
                stream_id,
                version: 1,
                reason: format!(
                    "stream dropped: the checkpoint of {at} recorded it at version {version}, \
                     no event of it is left"
                ),
            },
            Some(now) if now < version => ChainFailure {
                stream_id,
                version: now + 1,
                reason: format!(
                    "stream truncated: it ends at version {now}, the checkpoint of {at} \
                     recorded version {version}"
                ),
            },
            Some(_) => ChainFailure {
                stream_id,
                version,
                reason: format!(
                    "version {version} is not the event the checkpoint of {at} recorded"
                ),
            },
        })
        .collect())
}
