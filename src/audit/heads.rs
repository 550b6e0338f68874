//! Signed tree heads: the Ed25519 key that signs them, the signed byte string, and the table
//! that keeps every head ever made.
//!
//! A head is `{tree_size, root_hash, log_position, timestamp, key_id, previous_tree_size,
//! signature}`; the signature is Ed25519 over [`TreeHead::message`]:
//! `tillroll-tree-head-v1\n<tree_size>\n<root_hash hex>\n<log_position>\n<timestamp>\n<key_id>\n<previous_tree_size>\n`
//! (decimal integers, lowercase hex, the timestamp RFC 3339 UTC with microseconds and `Z`).
//! `previous_tree_size` is the size of the head signed before it (0 for the first), so the
//! heads form a signed chain and a deleted one leaves a visible gap.
//! `key_id` is the first 16 hex digits of SHA-256 of the raw public key, so a rotated key is
//! told apart and every old head still names the key that checks it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{PgExecutor, PgPool};

use super::merkle::Hash;

pub const ALGORITHM: &str = "Ed25519";
/// Where a generated private key is kept when none is configured.
const KEY_SETTING: &str = "audit_signing_key";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TreeHead {
    pub tree_size: i64,
    /// Hex SHA-256 RFC 6962 root of the first `tree_size` events in log order.
    pub root_hash: String,
    /// The `position` of the event at log index `tree_size - 1`.
    pub log_position: i64,
    /// When it was signed (UTC, microseconds).
    #[serde(with = "micros")]
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: DateTime<Utc>,
    pub key_id: String,
    /// The size of the head signed before this one; 0 for the first.
    pub previous_tree_size: i64,
    /// Base64 Ed25519 signature over the signed byte string (README, "Audit and tamper
    /// evidence").
    pub signature: String,
}

/// RFC 3339 with microseconds always, as the signed bytes have it.
mod micros {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(d)
    }
}

/// The public key that checks tree heads (`GET /audit/public-key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicKey {
    pub key_id: String,
    /// `Ed25519`.
    pub algorithm: String,
    /// Base64 of the raw 32-byte public key.
    pub public_key: String,
}

impl TreeHead {
    /// The bytes the signature covers: every other field.
    pub fn message(&self) -> Vec<u8> {
        format!(
            "tillroll-tree-head-v1\n{}\n{}\n{}\n{}\n{}\n{}\n",
            self.tree_size,
            self.root_hash,
            self.log_position,
            self.timestamp.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.key_id,
            self.previous_tree_size
        )
        .into_bytes()
    }

    pub fn root(&self) -> Option<Hash> {
        hex::decode(&self.root_hash).ok()?.try_into().ok()
    }

    /// Whether the signature is `key`'s over this head's fields (and the head names `key`).
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = STANDARD.decode(&self.signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.key_id == key_id(key) && key.verify(&self.message(), &signature).is_ok()
    }
}

pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// A public key from its base64 form (raw 32 bytes), or from the JSON that
/// `GET /audit/public-key` answers.
pub fn parse_public_key(text: &str) -> Option<VerifyingKey> {
    let text = text.trim();
    let encoded = match serde_json::from_str::<PublicKey>(text) {
        Ok(key) => key.public_key,
        Err(_) => text.to_owned(),
    };
    let bytes: [u8; 32] = STANDARD.decode(encoded).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// The server's signing key. Its `Debug` shows only the key id.
#[derive(Clone)]
pub struct TreeSigner {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for TreeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("TILLROLL_AUDIT_SIGNING_KEY: expected the base64 of a 32-byte Ed25519 private key")]
    Malformed,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl TreeSigner {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(&key.verifying_key());
        Self { key, key_id }
    }

    /// The configured key (base64 of the 32-byte seed), else the one generated on first
    /// start and kept in `settings`; its public half is registered in `audit_signing_keys`.
    pub async fn load(pool: &PgPool, configured: Option<&str>) -> Result<Self, KeyError> {
        let seed = match configured {
            Some(text) => decode_seed(text)?,
            None => {
                let fresh = || STANDARD.encode(rand::random::<[u8; 32]>());
                let value = crate::db::shared_setting(pool, KEY_SETTING, fresh).await?;
                decode_seed(&value)?
            }
        };
        let signer = Self::from_seed(seed);
        sqlx::query(
            "INSERT INTO audit_signing_keys (key_id, public_key) VALUES ($1, $2) \
             ON CONFLICT (key_id) DO NOTHING",
        )
        .bind(&signer.key_id)
        .bind(signer.public().as_bytes().as_slice())
        .execute(pool)
        .await?;
        Ok(signer)
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key_id: self.key_id.clone(),
            algorithm: ALGORITHM.into(),
            public_key: STANDARD.encode(self.public().as_bytes()),
        }
    }

    /// A head over `root` for the first `tree_size` events, signed now, following the head of
    /// `previous_tree_size`.
    pub fn sign(
        &self,
        tree_size: i64,
        root: &Hash,
        log_position: i64,
        previous_tree_size: i64,
    ) -> TreeHead {
        let mut head = TreeHead {
            tree_size,
            root_hash: hex::encode(root),
            log_position,
            timestamp: crate::store::hash::truncate_to_micros(Utc::now()),
            key_id: self.key_id.clone(),
            previous_tree_size,
            signature: String::new(),
        };
        head.signature = STANDARD.encode(self.key.sign(&head.message()).to_bytes());
        head
    }
}

fn decode_seed(text: &str) -> Result<[u8; 32], KeyError> {
    let text = text.trim();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(KeyError::Malformed)
}

#[derive(sqlx::FromRow)]
struct HeadRow {
    tree_size: i64,
    root_hash: Vec<u8>,
    log_position: i64,
    signed_at: DateTime<Utc>,
    key_id: String,
    previous_tree_size: i64,
    signature: Vec<u8>,
}

const HEAD_COLUMNS: &str =
    "tree_size, root_hash, log_position, signed_at, key_id, previous_tree_size, signature";

fn from_row(row: HeadRow) -> TreeHead {
    TreeHead {
        tree_size: row.tree_size,
        root_hash: hex::encode(row.root_hash),
        log_position: row.log_position,
        timestamp: row.signed_at,
        key_id: row.key_id,
        previous_tree_size: row.previous_tree_size,
        signature: STANDARD.encode(row.signature),
    }
}

pub async fn latest<'e>(executor: impl PgExecutor<'e>) -> Result<Option<TreeHead>, sqlx::Error> {
    let sql =
        format!("SELECT {HEAD_COLUMNS} FROM audit_tree_heads ORDER BY tree_size DESC LIMIT 1");
    let row: Option<HeadRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_optional(executor)
        .await?;
    Ok(row.map(from_row))
}

/// Up to `limit` heads below `before` (a tree size; `None`: from the newest), newest first.
pub async fn page<'e>(
    executor: impl PgExecutor<'e>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<TreeHead>, sqlx::Error> {
    let sql = format!(
        "SELECT {HEAD_COLUMNS} FROM audit_tree_heads WHERE tree_size < $1 \
         ORDER BY tree_size DESC LIMIT $2"
    );
    let rows: Vec<HeadRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(executor)
        .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Up to `limit` heads above `after` (a tree size), oldest first.
pub async fn ascending<'e>(
    executor: impl PgExecutor<'e>,
    after: i64,
    limit: i64,
) -> Result<Vec<TreeHead>, sqlx::Error> {
    let sql = format!(
        "SELECT {HEAD_COLUMNS} FROM audit_tree_heads WHERE tree_size > $1 \
         ORDER BY tree_size LIMIT $2"
    );
    let rows: Vec<HeadRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(limit)
        .fetch_all(executor)
        .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Every registered public key, by key id.
pub async fn public_keys<'e>(
    executor: impl PgExecutor<'e>,
) -> Result<std::collections::HashMap<String, VerifyingKey>, sqlx::Error> {
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT key_id, public_key FROM audit_signing_keys")
            .fetch_all(executor)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, bytes)| {
            let bytes: [u8; 32] = bytes.try_into().ok()?;
            Some((id, VerifyingKey::from_bytes(&bytes).ok()?))
        })
        .collect())
}

/// One registered public key.
pub async fn public_key<'e>(
    executor: impl PgExecutor<'e>,
    key_id: &str,
) -> Result<Option<PublicKey>, sqlx::Error> {
    let row: Option<(Vec<u8>,)> =
        sqlx::query_as("SELECT public_key FROM audit_signing_keys WHERE key_id = $1")
            .bind(key_id)
            .fetch_optional(executor)
            .await?;
    Ok(row.map(|(bytes,)| PublicKey {
        key_id: key_id.to_owned(),
        algorithm: ALGORITHM.into(),
        public_key: STANDARD.encode(bytes),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_verifies_with_the_public_key_only_and_covers_every_field() {
        let signer = TreeSigner::from_seed([7; 32]);
        let head = signer.sign(5, &[1; 32], 42, 3);
        let public = parse_public_key(&signer.public_key().public_key).unwrap();
        assert!(head.verify(&public));
        let json = serde_json::to_string(&signer.public_key()).unwrap();
        assert!(head.verify(&parse_public_key(&json).unwrap()));
        let other = TreeSigner::from_seed([8; 32]).public();
        assert!(!head.verify(&other));
        for changed in [
            TreeHead {
                tree_size: 6,
                ..head.clone()
            },
            TreeHead {
                root_hash: hex::encode([2; 32]),
                ..head.clone()
            },
            TreeHead {
                log_position: 43,
                ..head.clone()
            },
            TreeHead {
                timestamp: head.timestamp + chrono::TimeDelta::microseconds(1),
                ..head.clone()
            },
            TreeHead {
                key_id: "0000000000000000".into(),
                ..head.clone()
            },
            TreeHead {
                previous_tree_size: 4,
                ..head.clone()
            },
        ] {
            assert!(!changed.verify(&public), "{changed:?}");
        }
        assert!(!format!("{signer:?}").contains("key:"));
    }
}
