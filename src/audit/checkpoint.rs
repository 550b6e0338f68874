//! Checkpoints: the head (version and hash) of every stream at one moment, kept in
//! `audit_checkpoint_heads`, summed up in a Merkle root that a `CheckpointRecorded` event in
//! the audit stream carries, HMAC-signed with the server's checkpoint key (`settings`).
//!
//! Hash chains alone cannot tell a stream whose last events were deleted, or a stream deleted
//! whole, from one that never had them. The checkpoint can (see `verify`): the root is
//! recomputed from the heads table, the signature checked, and every stream whose current
//! head is behind its checkpointed head (truncated), missing (dropped), or holds another event
//! there (rewritten) is reported. Publishing each root elsewhere (anchoring) also makes the checkpoints
//! themselves tamper-evident to someone who can rewrite the whole database.

use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::TryStreamExt;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use sqlx::{PgConnection, PgPool};
use tillroll_events::audit::audit_stream;
use tillroll_events::{AuditEvent, DomainEvent, Metadata};
use uuid::Uuid;

use super::merkle::{self, RootBuilder};
use crate::store::{EventStore, ExpectedVersion, NewEvent, StoreError, StreamAppend};

pub const ALGORITHM: &str = "HMAC-SHA256";
const KEY_SETTING: &str = "audit_checkpoint_key";
/// Serialises checkpoint recording across processes.
const LOCK: i64 = 0x7469_6c6c_6175_6469; // "tillaudi"

/// A recorded checkpoint, as the API shows it (and as it can be published).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Checkpoint {
    pub checkpoint_id: Uuid,
    /// Hex SHA-256 Merkle root over the heads (RFC 6962 tree, heads ordered by stream id).
    pub merkle_root: String,
    pub streams: i64,
    pub events: i64,
    pub log_position: i64,
    pub recorded_at: DateTime<Utc>,
    pub algorithm: String,
    /// Hex HMAC-SHA256 of [`signed_message`] with the server's checkpoint key.
    pub signature: String,
    /// The checkpoint event's place in the audit stream.
    pub stream_id: String,
    pub version: i64,
}

/// What the signature covers, one field a line.
pub fn signed_message(c: &Checkpoint) -> String {
    format!(
        "tillroll-checkpoint-v1\n{}\n{}\n{}\n{}\n{}\n{}",
        c.checkpoint_id,
        c.merkle_root,
        c.streams,
        c.events,
        c.log_position,
        c.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
}

fn sign(key: &[u8], message: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub(super) fn signature_valid(key: &[u8], message: &str, signature: &str) -> bool {
    let Ok(signature) = hex::decode(signature) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message.as_bytes());
    mac.verify_slice(&signature).is_ok()
}

/// The server's checkpoint key, generated on first use and kept in `settings`.
pub async fn signing_key(pool: &PgPool) -> Result<Vec<u8>, sqlx::Error> {
    use base64::Engine;
    let fresh = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(KEY_SETTING)
        .bind(fresh)
        .execute(pool)
        .await?;
    let (value,): (String,) = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
        .bind(KEY_SETTING)
        .fetch_one(pool)
        .await?;
    Ok(value.into_bytes())
}

/// The heads of `checkpoint_id`, in tree order, folded into (root, streams, events).
pub(super) async fn fold_heads(
    conn: &mut PgConnection,
    checkpoint_id: Uuid,
) -> Result<(merkle::Hash, i64, i64), sqlx::Error> {
    let mut rows = sqlx::query_as::<_, (String, i64, Vec<u8>)>(
        "SELECT stream_id, stream_version, hash FROM audit_checkpoint_heads \
         WHERE checkpoint_id = $1 ORDER BY stream_id COLLATE \"C\"",
    )
    .bind(checkpoint_id)
    .fetch(conn);
    let mut builder = RootBuilder::default();
    let mut events = 0i64;
    while let Some((stream_id, version, hash)) = rows.try_next().await? {
        builder.push(merkle::leaf(&stream_id, version, &hash));
        events += version;
    }
    Ok((builder.root(), builder.leaves() as i64, events))
}

/// Records a checkpoint of every stream's current head (`metadata` says who asked); returns it
/// with the position of its event.
pub async fn record(
    store: &EventStore,
    metadata: Metadata,
) -> Result<(Checkpoint, i64), StoreError> {
    let key = signing_key(store.pool()).await?;
    let checkpoint_id = Uuid::now_v7();
    let mut tx = store.pool().begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK)
        .execute(&mut *tx)
        .await?;
    // One statement, one snapshot: the heads are those of one moment.
    sqlx::query(
        "INSERT INTO audit_checkpoint_heads (checkpoint_id, stream_id, stream_version, hash) \
         SELECT DISTINCT ON (stream_id) $1, stream_id, stream_version, hash FROM events \
         ORDER BY stream_id, stream_version DESC",
    )
    .bind(checkpoint_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM audit_checkpoint_heads WHERE checkpoint_id <> $1")
        .bind(checkpoint_id)
        .execute(&mut *tx)
        .await?;
    let (log_position,): (Option<i64>,) = sqlx::query_as(
        "SELECT max(e.global_position) FROM audit_checkpoint_heads h \
         JOIN events e ON e.stream_id = h.stream_id AND e.stream_version = h.stream_version \
         WHERE h.checkpoint_id = $1",
    )
    .bind(checkpoint_id)
    .fetch_one(&mut *tx)
    .await?;
    let (root, streams, events) = fold_heads(&mut tx, checkpoint_id).await?;
    let mut checkpoint = Checkpoint {
        checkpoint_id,
        merkle_root: hex::encode(root),
        streams,
        events,
        log_position: log_position.unwrap_or(0),
        recorded_at: crate::store::hash::truncate_to_micros(Utc::now()),
        algorithm: ALGORITHM.into(),
        signature: String::new(),
        stream_id: audit_stream().to_string(),
        version: 0,
    };
    checkpoint.signature = sign(&key, &signed_message(&checkpoint));
    let event = AuditEvent::CheckpointRecorded {
        checkpoint_id,
        merkle_root: checkpoint.merkle_root.clone(),
        streams,
        events,
        log_position: checkpoint.log_position,
        recorded_at: checkpoint.recorded_at,
        algorithm: ALGORITHM.into(),
        signature: checkpoint.signature.clone(),
    };
    let appended = store
        .append_in_tx(
            &mut tx,
            &[StreamAppend {
                stream_id: audit_stream(),
                expected: ExpectedVersion::Any,
                events: vec![NewEvent::new(
                    event.encode(),
                    metadata.correlated(checkpoint_id),
                )],
            }],
        )
        .await?;
    tx.commit().await?;
    store.committed(&appended);
    checkpoint.version = appended.version_of(&audit_stream()).unwrap_or_default();
    Ok((checkpoint, appended.last))
}

/// The checkpoint reactor: every `every`, records a checkpoint if any event was appended
/// outside the audit stream since the last one, until `stop` turns true. Safe to run in every
/// process (recording is serialised by an advisory lock; a redundant checkpoint is harmless).
pub fn spawn_periodic(
    store: EventStore,
    every: std::time::Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(periodic(store, every, stop))
}

/// The loop of [`spawn_periodic`], for a worker that runs it under its lease.
pub async fn periodic(
    store: EventStore,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(every) => {}
        }
        if let Err(error) = record_if_advanced(&store).await {
            tracing::warn!(%error, "checkpoint not recorded");
        }
    }
}

/// Records a checkpoint unless nothing but checkpoints was appended since the last one.
pub async fn record_if_advanced(store: &EventStore) -> Result<Option<Checkpoint>, StoreError> {
    let (newest,): (Option<i64>,) =
        sqlx::query_as("SELECT max(global_position) FROM events WHERE stream_id <> $1")
            .bind(audit_stream().as_str())
            .fetch_one(store.pool())
            .await?;
    let covered = latest(store).await?.map_or(0, |c| c.log_position);
    if newest.unwrap_or(0) <= covered {
        return Ok(None);
    }
    let metadata = Metadata::system(Uuid::now_v7());
    Ok(Some(record(store, metadata).await?.0))
}

/// The latest checkpoint in the audit stream, if any.
pub async fn latest(store: &EventStore) -> Result<Option<Checkpoint>, StoreError> {
    let stream = audit_stream();
    let (head,): (Option<i64>,) =
        sqlx::query_as("SELECT max(stream_version) FROM events WHERE stream_id = $1")
            .bind(stream.as_str())
            .fetch_one(store.pool())
            .await?;
    let Some(head) = head else {
        return Ok(None);
    };
    let Some(recorded) = store.read_stream(stream.as_str(), head - 1).await?.pop() else {
        return Ok(None);
    };
    let AuditEvent::CheckpointRecorded {
        checkpoint_id,
        merkle_root,
        streams,
        events,
        log_position,
        recorded_at,
        algorithm,
        signature,
    } = recorded.decode()?;
    Ok(Some(Checkpoint {
        checkpoint_id,
        merkle_root,
        streams,
        events,
        log_position,
        recorded_at,
        algorithm,
        signature,
        stream_id: recorded.stream_id,
        version: recorded.version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of the checkpoint but its place in the audit stream (`stream_id`,
    /// `version`) and the algorithm's name, which are not part of what was attested.
    #[test]
    fn the_signature_covers_every_field() {
        let c = Checkpoint {
            checkpoint_id: Uuid::nil(),
            merkle_root: "00".into(),
            streams: 2,
            events: 5,
            log_position: 9,
            recorded_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            algorithm: ALGORITHM.into(),
            signature: String::new(),
            stream_id: "audit-x".into(),
            version: 1,
        };
        let signature = sign(b"key", &signed_message(&c));
        assert!(signature_valid(b"key", &signed_message(&c), &signature));
        assert!(!signature_valid(b"other", &signed_message(&c), &signature));
        for changed in [
            Checkpoint {
                streams: 3,
                ..c.clone()
            },
            Checkpoint {
                events: 4,
                ..c.clone()
            },
            Checkpoint {
                log_position: 8,
                ..c.clone()
            },
            Checkpoint {
                merkle_root: "01".into(),
                ..c.clone()
            },
            Checkpoint {
                checkpoint_id: Uuid::max(),
                ..c.clone()
            },
            Checkpoint {
                recorded_at: c.recorded_at + chrono::TimeDelta::microseconds(1),
                ..c.clone()
            },
        ] {
            assert!(!signature_valid(
                b"key",
                &signed_message(&changed),
                &signature
            ));
        }
    }
}
