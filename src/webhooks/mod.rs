//! Webhooks: subscriptions an admin keeps (`/webhooks`), each delivered its events in log order
//! as Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`), retried with
//! exponential backoff for 24 h, then disabled; re-enabled, it resumes from its first
//! undelivered event (API.md, "Events out").
//!
//! Subscriptions are integration settings, not shop facts: they live in `webhooks` (with each
//! one's delivery cursor) and `webhook_deliveries` (every attempt, recorded before it is
//! sent), not in the event log, so that their secrets never enter an event.
//!
//! Secrets are stored sealed (XChaCha20-Poly1305) under the key `TILLROLL_WEBHOOKS_KEY`, kept
//! outside the database; a database dump alone does not reveal them. Without that variable
//! the key is generated and stored in `settings` (a dump then holds both: the README says to
//! set it).
//!
//! Outbound calls time out, follow no redirect, and never reach loopback, private, link-local
//! or other internal addresses (checked when a URL is given and again on every connection,
//! after DNS) unless `TILLROLL_WEBHOOKS_ALLOW_PRIVATE=true`.

pub mod deliver;
mod guard;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

pub use guard::{UrlError, check_url};

const NONCE_LEN: usize = 24;
const SECRET_BYTES: usize = 32;

/// What the webhooks need at run time: the sealing key, the outbound client and the rules.
pub struct Webhooks {
    key: [u8; 32],
    pub http: reqwest::Client,
    pub allow_private: bool,
    pub first_retry: Duration,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

/// A subscription as stored (its secret sealed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subscription {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const COLUMNS: &str = "id, url, event_types, description, disabled, created_at, updated_at";

/// How long a failing subscription is retried before it is disabled.
pub const RETRY_FOR: Duration = Duration::from_secs(24 * 3600);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

impl Webhooks {
    /// `key`: `TILLROLL_WEBHOOKS_KEY` (32 bytes, base64), else generated once and kept in
    /// `settings`.
    pub async fn new(
        pool: &PgPool,
        key: Option<&str>,
        allow_private: bool,
        first_retry: Duration,
    ) -> Result<Self, String> {
        let encoded = match key {
            Some(key) => key.trim().to_owned(),
            None => {
                let fresh = || URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
                crate::db::shared_setting(pool, "webhooks_key", fresh)
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded.trim_end_matches('='))
            .or_else(|_| STANDARD.decode(&encoded))
            .map_err(|_| "TILLROLL_WEBHOOKS_KEY: expected 32 bytes in base64".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "TILLROLL_WEBHOOKS_KEY: expected 32 bytes in base64".to_owned())?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the host itself, past the guard's resolver.
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .dns_resolver(Arc::new(guard::GuardedResolver { allow_private }))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            key,
            http,
            allow_private,
            first_retry,
        })
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new_from_slice(&self.key).expect("a 32-byte key")
    }

    /// A fresh Standard Webhooks secret, `whsec_<base64 of 32 random bytes>`.
    pub fn new_secret() -> String {
        format!(
            "whsec_{}",
            STANDARD.encode(rand::random::<[u8; SECRET_BYTES]>())
        )
    }

    /// Seals a secret for the subscription `id` (bound to it: a sealed secret moved to another
    /// row does not open).
    pub fn seal(&self, id: Uuid, secret: &str) -> Vec<u8> {
        let nonce = XNonce::generate();
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: id.as_bytes(),
                },
            )
            .expect("a secret is far below the AEAD's limit");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        bytes
    }

    pub fn open(&self, id: Uuid, sealed: &[u8]) -> Option<String> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).ok()?;
        let plain = self
            .cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: id.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

/// The Standard Webhooks signature header value: `v1,<base64 HMAC-SHA256(key, id.ts.body)>`,
/// the key being the base64 part of `whsec_…`.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The wait before attempt `n + 1` after `n` failed ones: `first · 2^(n−1)`, at most an hour.
pub fn backoff(first: Duration, failed: u32) -> Duration {
    let factor = 2u32.saturating_pow(failed.saturating_sub(1).min(20));
    first.saturating_mul(factor).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        // The example of the Standard Webhooks specification (and its reference libraries).
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let signed = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(
            signed.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let first = Duration::from_secs(5);
        assert_eq!(backoff(first, 1), Duration::from_secs(5));
        assert_eq!(backoff(first, 2), Duration::from_secs(10));
        assert_eq!(backoff(first, 4), Duration::from_secs(40));
        assert_eq!(backoff(first, 30), MAX_BACKOFF);
    }

    #[tokio::test]
    async fn a_sealed_secret_opens_only_for_its_own_subscription() {
        let webhooks = Webhooks {
            key: [7; 32],
            http: reqwest::Client::new(),
            allow_private: false,
            first_retry: Duration::from_secs(1),
        };
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let secret = Webhooks::new_secret();
        let sealed = webhooks.seal(a, &secret);
        assert!(
            !sealed
                .windows(8)
                .any(|w| secret.as_bytes().windows(8).any(|s| s == w))
        );
        assert_eq!(webhooks.open(a, &sealed), Some(secret));
        assert_eq!(webhooks.open(b, &sealed), None);
    }
}
