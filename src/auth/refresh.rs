//! Opaque refresh tokens: generation and hashing. Storage and rotation live in
//! the application's SQL; this module only provides the primitives.
//!
//! # Rotation scheme
//!
//! The client receives the plaintext token (43 base64url characters encoding
//! 32 random bytes); the database stores only its SHA-256 hash. Each row is
//! `(hash PRIMARY KEY, family_id, user_id, expires_at, spent_at NULL, revoked)`.
//!
//! * **Login / register** start a new family: [`new_family_id`] plus
//!   [`new_refresh_token`], insert a row.
//! * **Refresh** hashes the presented token with [`hash_refresh_token`] and
//!   looks the row up, in one transaction with the row locked (`FOR UPDATE`):
//!   - no row, expired, or family revoked: 401;
//!   - `spent_at` already set: the token is being **reused**, so a copy leaked;
//!     revoke the whole family (`UPDATE ... SET revoked = true WHERE family_id
//!     = $1`) and answer 401: both the thief and the user must log in again;
//!   - otherwise set `spent_at = now()`, insert a new token in the **same**
//!     family, and return the new pair.
//! * **Logout** revokes the presented token's family.
//! * Disabling or deleting a user revokes all their families.
//!
//! Hashes need no salt or slow KDF: the token already has 256 bits of entropy,
//! so a fast hash is enough, and a plain equality lookup by hash is safe.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Random bytes in a refresh token.
pub const REFRESH_TOKEN_BYTES: usize = 32;

/// Length of the plaintext token: 32 bytes in base64url without padding.
pub const REFRESH_TOKEN_LEN: usize = 43;

/// The SHA-256 of a refresh token, as stored in the database.
pub type RefreshTokenHash = [u8; 32];

/// Generates a refresh token from 32 bytes of a cryptographically secure RNG
/// (`rand::rng()`, ChaCha seeded from the OS), encoded base64url without
/// padding. Returns `(plaintext, hash)`: give the plaintext to the client once
/// (never store or log it) and store the hash (`bytea`).
pub fn new_refresh_token() -> (String, RefreshTokenHash) {
    let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let plaintext = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&plaintext);
    (plaintext, hash)
}

/// SHA-256 of the token as presented by the client (over its UTF-8 text).
/// Any string hashes; an invalid token simply matches no row.
pub fn hash_refresh_token(token: &str) -> RefreshTokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Cheap shape check to refuse obvious garbage before touching the database:
/// exactly 43 base64url characters.
pub fn looks_like_refresh_token(token: &str) -> bool {
    token.len() == REFRESH_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new token family id (random UUID v4), one per login session.
pub fn new_family_id() -> Uuid {
    Uuid::new_v4()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn tokens_are_43_url_safe_chars_of_32_bytes() {
        let (plaintext, _) = new_refresh_token();
        assert_eq!(plaintext.len(), REFRESH_TOKEN_LEN);
        assert!(looks_like_refresh_token(&plaintext));
        assert!(!plaintext.contains('='));
        let raw = URL_SAFE_NO_PAD.decode(&plaintext).unwrap();
        assert_eq!(raw.len(), REFRESH_TOKEN_BYTES);
    }

    #[test]
    fn hash_matches_and_is_sha256_of_text() {
        let (plaintext, hash) = new_refresh_token();
        assert_eq!(hash_refresh_token(&plaintext), hash);
        assert_ne!(hash_refresh_token(&format!("{plaintext}x")), hash);
        // Known vector: SHA-256("abc").
        assert_eq!(
            hex::encode(hash_refresh_token("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn tokens_and_families_are_unique() {
        let tokens: HashSet<String> = (0..1000).map(|_| new_refresh_token().0).collect();
        assert_eq!(tokens.len(), 1000);
        assert_ne!(new_family_id(), new_family_id());
    }

    #[test]
    fn shape_check_rejects_garbage() {
        assert!(!looks_like_refresh_token(""));
        assert!(!looks_like_refresh_token(&"a".repeat(42)));
        assert!(!looks_like_refresh_token(&"a".repeat(44)));
        assert!(!looks_like_refresh_token(&format!("{}=", "a".repeat(42))));
        assert!(!looks_like_refresh_token(&format!("{}+", "a".repeat(42))));
        assert!(looks_like_refresh_token(&format!("{}-_", "a".repeat(41))));
    }
}
