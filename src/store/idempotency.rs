//! Idempotency records: a command with an `Idempotency-Key` runs once per (actor, key); a
//! repeat with the same request gets the first response back, another request is refused.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::StoreError;

/// A claim left unfinished this long (its process died mid-request) may be taken over.
const ABANDONED_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, PartialEq)]
pub enum Claim {
    /// First time: run the command, then [`complete`] or [`release`].
    Acquired,
    Replay(StoredResponse),
    /// The key was used with another request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

pub fn request_hash(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), body] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

pub async fn claim(
    pool: &PgPool,
    actor: &str,
    key: &str,
    request_hash: &[u8],
) -> Result<Claim, StoreError> {
    let acquired = sqlx::query(
        "INSERT INTO idempotency_keys (actor, key, request_hash) VALUES ($1, $2, $3) \
         ON CONFLICT (actor, key) DO UPDATE SET created_at = now() \
         WHERE idempotency_keys.status IS NULL \
           AND idempotency_keys.request_hash = excluded.request_hash \
           AND idempotency_keys.created_at < now() - make_interval(secs => $4)",
    )
    .bind(actor)
    .bind(key)
    .bind(request_hash)
    .bind(ABANDONED_AFTER.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    if acquired {
        return Ok(Claim::Acquired);
    }
    let (hash, status, headers, body): (
        Vec<u8>,
        Option<i16>,
        Option<serde_json::Value>,
        Option<Vec<u8>>,
    ) = sqlx::query_as(
        "SELECT request_hash, status, headers, body FROM idempotency_keys \
         WHERE actor = $1 AND key = $2",
    )
    .bind(actor)
    .bind(key)
    .fetch_one(pool)
    .await?;
    if hash != request_hash {
        return Ok(Claim::Mismatch);
    }
    let Some(status) = status else {
        return Ok(Claim::InProgress);
    };
    let headers = headers
        .and_then(|h| serde_json::from_value(h).ok())
        .unwrap_or_default();
    Ok(Claim::Replay(StoredResponse {
        status: status as u16,
        headers,
        body: body.unwrap_or_default(),
    }))
}

pub async fn complete(
    pool: &PgPool,
    actor: &str,
    key: &str,
    response: &StoredResponse,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $3, headers = $4, body = $5 \
         WHERE actor = $1 AND key = $2",
    )
    .bind(actor)
    .bind(key)
    .bind(response.status as i16)
    .bind(serde_json::to_value(&response.headers).expect("headers serialise"))
    .bind(&response.body)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets a claim whose command failed for a reason worth retrying (a 5xx).
pub async fn release(pool: &PgPool, actor: &str, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM idempotency_keys WHERE actor = $1 AND key = $2 AND status IS NULL")
        .bind(actor)
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}
