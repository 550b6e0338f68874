//! An event's leaf in the transparency log: its canonical bytes (README, "The leaf"), the
//! same whether computed by the sealer from the stored row or offline from an export line.
//!
//! `leaf = "tillroll-leaf-v1" ‖ field…`, every field (the tag too) written as its length (u64
//! big-endian) and its bytes: log index (i64 BE), event id (16 bytes), stream id (UTF-8),
//! version (i64 BE), type (UTF-8), schema version (i32 BE), data and metadata as stored
//! (canonical JSON: keys sorted by their UTF-8 bytes at every level, no whitespace; sealed
//! personal fields in their sealed form), recorded_at (RFC 3339, UTC, microseconds, `Z`), the
//! personal-data subject (16 bytes, or none), and the hash-chain link (32 bytes). The leaf hash
//! is RFC 6962's `SHA-256(0x00 ‖ leaf)`. Crypto-shredding deletes a key, never a stored byte,
//! so it changes no leaf.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::merkle::{self, Hash};
use crate::store::hash::canonical_json;

const TAG: &[u8] = b"tillroll-leaf-v1";

/// An event exactly as stored: what its leaf covers.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub log_index: i64,
    pub position: i64,
    pub event_id: Uuid,
    pub stream_id: String,
    pub version: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub data: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
    pub pii_subject: Option<Uuid>,
    pub hash: Vec<u8>,
}

/// The columns [`StoredEvent::from_row`] reads, for `event_log l JOIN events e`.
pub const COLUMNS: &str = "l.log_index, e.global_position, e.event_id, e.stream_id, \
                           e.stream_version, e.event_type, e.schema_version, e.data, \
                           e.metadata, e.recorded_at, e.pii_subject, e.hash";

impl StoredEvent {
    pub fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            log_index: row.try_get("log_index")?,
            position: row.try_get("global_position")?,
            event_id: row.try_get("event_id")?,
            stream_id: row.try_get("stream_id")?,
            version: row.try_get("stream_version")?,
            event_type: row.try_get("event_type")?,
            schema_version: row.try_get("schema_version")?,
            data: row.try_get("data")?,
            metadata: row.try_get("metadata")?,
            recorded_at: row.try_get("recorded_at")?,
            pii_subject: row.try_get("pii_subject")?,
            hash: row.try_get("hash")?,
        })
    }

    pub fn leaf_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let mut field = |bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        field(TAG);
        field(&self.log_index.to_be_bytes());
        field(self.event_id.as_bytes());
        field(self.stream_id.as_bytes());
        field(&self.version.to_be_bytes());
        field(self.event_type.as_bytes());
        field(&self.schema_version.to_be_bytes());
        field(canonical_json(&self.data).as_bytes());
        field(canonical_json(&self.metadata).as_bytes());
        field(
            self.recorded_at
                .to_rfc3339_opts(SecondsFormat::Micros, true)
                .as_bytes(),
        );
        field(self.pii_subject.as_ref().map_or(&[][..], |s| s.as_bytes()));
        field(&self.hash);
        out
    }

    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.leaf_bytes())
    }

    /// The sealed personal fields of `data` (`{"sealed": …, "alg": …}` values), which an
    /// export carries beside the plaintext so the stored form can be rebuilt offline.
    pub fn sealed_fields(&self) -> Map<String, Value> {
        self.data
            .as_object()
            .map(|object| {
                object
                    .iter()
                    .filter(|(_, v)| crate::store::vault::is_sealed(v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event() -> StoredEvent {
        StoredEvent {
            log_index: 7,
            position: 12,
            event_id: Uuid::from_u128(1),
            stream_id: "order-1".into(),
            version: 2,
            event_type: "OrderPlaced".into(),
            schema_version: 1,
            data: json!({"b": 1, "a": {"sealed": "x", "alg": "y"}}),
            metadata: json!({"actor_role": "system"}),
            recorded_at: DateTime::from_timestamp(1_800_000_000, 5_000).unwrap(),
            pii_subject: Some(Uuid::from_u128(9)),
            hash: vec![3; 32],
        }
    }

    /// Every field the leaf covers changes its hash; the position (a per-cluster sequence
    /// number, not part of the log's order) does not.
    #[test]
    fn the_leaf_covers_every_field_that_matters() {
        let base = event();
        let h = base.leaf_hash();
        let changed = [
            StoredEvent {
                log_index: 8,
                ..base.clone()
            },
            StoredEvent {
                event_id: Uuid::from_u128(2),
                ..base.clone()
            },
            StoredEvent {
                stream_id: "order-2".into(),
                ..base.clone()
            },
            StoredEvent {
                version: 3,
                ..base.clone()
            },
            StoredEvent {
                event_type: "OrderPaid".into(),
                ..base.clone()
            },
            StoredEvent {
                schema_version: 2,
                ..base.clone()
            },
            StoredEvent {
                data: json!({"b": 2, "a": {"sealed": "x", "alg": "y"}}),
                ..base.clone()
            },
            StoredEvent {
                metadata: json!({"actor_role": "admin"}),
                ..base.clone()
            },
            StoredEvent {
                recorded_at: base.recorded_at + chrono::TimeDelta::microseconds(1),
                ..base.clone()
            },
            StoredEvent {
                pii_subject: None,
                ..base.clone()
            },
            StoredEvent {
                hash: vec![4; 32],
                ..base.clone()
            },
        ];
        for (i, c) in changed.iter().enumerate() {
            assert_ne!(c.leaf_hash(), h, "field {i}");
        }
        assert_eq!(
            StoredEvent {
                position: 99,
                ..base.clone()
            }
            .leaf_hash(),
            h
        );
        assert_eq!(base.sealed_fields().len(), 1);
    }
}
