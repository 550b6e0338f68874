//! Accounts and authentication primitives: password hashing, access tokens (JWT),
//! opaque refresh tokens, a login rate limiter, and image sniffing for avatars.
//!
//! Everything here is pure and synchronous; the HTTP handlers and SQL that use
//! these primitives live elsewhere. Password hashing is CPU- and memory-heavy: the
//! account commands run [`password::hash_password`], [`password::verify_password`] and
//! [`password::dummy_verify`] on blocking threads, one per core at a time, never on a runtime
//! worker.

pub mod image;
pub mod image_dimensions;
pub mod jwt;
mod jwt_crypto;
pub mod password;
pub mod rate_limit;
pub mod refresh;

/// Roles are a domain concept; authentication carries them in tokens.
pub use crate::domain::validate::Role;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_str_and_serde() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
    }

    #[test]
    fn rejects_unknown_and_wrong_case() {
        assert!("root".parse::<Role>().is_err());
        assert!("Admin".parse::<Role>().is_err());
        assert!("".parse::<Role>().is_err());
        assert!(serde_json::from_str::<Role>("\"superuser\"").is_err());
    }

    #[test]
    fn default_is_customer() {
        assert_eq!(Role::default(), Role::Customer);
    }
}
