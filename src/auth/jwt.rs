//! Short-lived access tokens: JWTs signed with HS256 only.
//!
//! Wire claims: `{"sub": "<user uuid>", "role": "customer|seller|admin|auditor",
//! "iat": <unix s>, "exp": <unix s>, "jti": "<uuid>"}`. Verification pins the
//! algorithm to HS256 (the header is checked before anything else, so `none`,
//! `HS384`, `HS512`, `RS256`... are refused), requires `exp`, `iat`, `sub` and
//! `role`, and checks expiry against the caller's clock with zero leeway.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use super::Role;

/// Recommended minimum secret length in bytes (256 bits, the HS256 block
/// strength). [`JwtKeys::new`] does not enforce it; configuration should.
pub const MIN_SECRET_LEN: usize = 32;

/// How far in the future `iat` may be (clock skew between server processes).
pub const MAX_IAT_SKEW_SECS: i64 = 60;

/// The verified contents of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds; the token is invalid from this second on.
    pub exp: i64,
    /// Token id (always set by [`JwtKeys::issue`]; optional when verifying).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<Uuid>,
}

/// Why a token was refused. Every variant should answer 401; the messages are
/// for logs, not for clients.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    /// Not three base64url segments of JSON.
    #[error("malformed token")]
    Malformed,
    /// The header names an algorithm other than HS256 (or none).
    #[error("token algorithm is not HS256")]
    Algorithm,
    /// The signature does not match (tampered, or another key).
    #[error("invalid token signature")]
    Signature,
    /// `exp` is not after the verification time.
    #[error("token expired")]
    Expired,
    /// A claim is missing or has an invalid value.
    #[error("invalid token claim: {0}")]
    Claim(&'static str),
    /// Signing failed while issuing (should not happen with an HMAC key).
    #[error("could not sign token: {0}")]
    Signing(String),
}

/// Claims as they arrive, before each one is checked.
#[derive(Deserialize)]
struct RawClaims {
    sub: Option<String>,
    exp: Option<i64>,
    role: Option<String>,
    iat: Option<i64>,
    jti: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
}

/// The HS256 signing and verification keys derived from one shared secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys").finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Builds keys from the raw secret bytes (use at least [`MIN_SECRET_LEN`]).
    pub fn new(secret: &[u8]) -> Self {
        super::jwt_crypto::install();
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked in `verify` against the caller's clock, leeway 0;
        // the library still insists `exp` and `sub` are present.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret).expect("an HMAC key of any length"),
            decoding: DecodingKey::from_secret(secret).expect("an HMAC key of any length"),
            validation,
        }
    }

    /// Issues an access token for `user_id` valid from `now` for `ttl`
    /// (whole seconds), with a fresh random `jti`.
    pub fn issue(
        &self,
        user_id: Uuid,
        role: Role,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        let iat = now.timestamp();
        let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user_id,
            role,
            iat,
            exp: iat.saturating_add(ttl_secs),
            jti: Some(Uuid::new_v4()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Signing(e.to_string()))
    }

    /// Verifies `token` at time `now` (pass `Utc::now()` in handlers) and
    /// returns its claims. The token is expired when `now >= exp`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        check_header_alg(token)?;
        let raw = jsonwebtoken::decode::<RawClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| map_jwt_error(e.kind()))?
            .claims;

        let exp = raw.exp.ok_or(TokenError::Claim("exp is required"))?;
        let iat = raw.iat.ok_or(TokenError::Claim("iat is required"))?;
        let now = now.timestamp();
        if now >= exp {
            return Err(TokenError::Expired);
        }
        if iat > exp {
            return Err(TokenError::Claim("iat is after exp"));
        }
        if iat > now.saturating_add(MAX_IAT_SKEW_SECS) {
            return Err(TokenError::Claim("iat is in the future"));
        }
        let sub = raw
            .sub
            .and_then(|s| Uuid::parse_str(&s).ok())
            .ok_or(TokenError::Claim("sub must be a UUID"))?;
        let role = raw
            .role
            .as_deref()
            .and_then(|r| r.parse::<Role>().ok())
            .ok_or(TokenError::Claim(
                "role must be customer, seller, admin or auditor",
            ))?;
        let jti = raw
            .jti
            .map(|j| Uuid::parse_str(&j))
            .transpose()
            .map_err(|_| TokenError::Claim("jti must be a UUID"))?;
        Ok(Claims {
            sub,
            role,
            iat,
            exp,
            jti,
        })
    }
}

/// Refuses any token whose header `alg` is not exactly `HS256`, before the
/// library sees it.
fn check_header_alg(token: &str) -> Result<(), TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    let header: RawHeader = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
    if header.alg == "HS256" {
        Ok(())
    } else {
        Err(TokenError::Algorithm)
    }
}

fn map_jwt_error(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => TokenError::Algorithm,
        ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::InvalidAudience
        | ErrorKind::InvalidIssuer
        | ErrorKind::InvalidSubject
        | ErrorKind::ImmatureSignature => {
            TokenError::Claim("exp or sub missing, or aud/iss/nbf set")
        }
        _ => TokenError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::{Value, json};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const TTL: Duration = Duration::from_secs(900);

    fn t0() -> DateTime<Utc> {
        Utc.timestamp_opt(1_750_000_000, 0).unwrap()
    }
    fn secs(n: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::seconds(n)
    }
    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }
    fn sign(alg: Algorithm, claims: &Value) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap()
    }
    fn good_claims() -> Value {
        let iat = t0().timestamp();
        json!({"sub": Uuid::new_v4(), "role": "seller", "iat": iat, "exp": iat + 900})
    }

    #[test]
    fn round_trip_then_expiry_with_zero_leeway() {
        let keys = JwtKeys::new(SECRET);
        let user = Uuid::new_v4();
        let token = keys.issue(user, Role::Admin, t0(), TTL).unwrap();
        let claims = keys.verify(&token, t0()).unwrap();
        assert_eq!((claims.sub, claims.role), (user, Role::Admin));
        assert_eq!(
            (claims.iat, claims.exp),
            (t0().timestamp(), t0().timestamp() + 900)
        );
        assert!(claims.jti.is_some());
        assert!(keys.verify(&token, secs(899)).is_ok());
        assert_eq!(keys.verify(&token, secs(900)), Err(TokenError::Expired));
        assert_eq!(keys.verify(&token, secs(86_400)), Err(TokenError::Expired));
        assert!(!format!("{keys:?}").contains("0123"));
    }

    #[test]
    fn alg_none_rejected() {
        let header = b64(&json!({"alg": "none", "typ": "JWT"}));
        let token = format!("{header}.{}.", b64(&good_claims()));
        assert_eq!(
            JwtKeys::new(SECRET).verify(&token, t0()),
            Err(TokenError::Algorithm)
        );
    }

    #[test]
    fn tampered_payload_and_wrong_key_rejected() {
        let keys = JwtKeys::new(SECRET);
        let token = keys
            .issue(Uuid::new_v4(), Role::Customer, t0(), TTL)
            .unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["role"] = json!("admin");
        let forged = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert_eq!(keys.verify(&forged, t0()), Err(TokenError::Signature));

        let other = JwtKeys::new(b"another secret of thirty-two bytes!");
        let token = other
            .issue(Uuid::new_v4(), Role::Customer, t0(), TTL)
            .unwrap();
        assert_eq!(keys.verify(&token, t0()), Err(TokenError::Signature));
    }

    #[test]
    fn other_algorithms_with_same_secret_rejected() {
        let keys = JwtKeys::new(SECRET);
        // Signed by hand: the library's provider here signs nothing but HS256.
        for alg in ["HS512", "HS384"] {
            let input = format!(
                "{}.{}",
                b64(&json!({"alg": alg, "typ": "JWT"})),
                b64(&good_claims())
            );
            let tag = if alg == "HS512" {
                let mut mac =
                    <hmac::Hmac<sha2::Sha512> as hmac::KeyInit>::new_from_slice(SECRET).unwrap();
                hmac::Mac::update(&mut mac, input.as_bytes());
                hmac::Mac::finalize(mac).into_bytes().to_vec()
            } else {
                let mut mac =
                    <hmac::Hmac<sha2::Sha384> as hmac::KeyInit>::new_from_slice(SECRET).unwrap();
                hmac::Mac::update(&mut mac, input.as_bytes());
                hmac::Mac::finalize(mac).into_bytes().to_vec()
            };
            let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag));
            assert_eq!(
                keys.verify(&token, t0()),
                Err(TokenError::Algorithm),
                "{alg:?}"
            );
        }
        // A header claiming RS256 over an HMAC signature (key confusion).
        let valid = sign(Algorithm::HS256, &good_claims());
        let rest = valid.split_once('.').unwrap().1;
        let forged = format!("{}.{rest}", b64(&json!({"alg": "RS256", "typ": "JWT"})));
        assert_eq!(keys.verify(&forged, t0()), Err(TokenError::Algorithm));
    }

    #[test]
    fn claim_rules() {
        let keys = JwtKeys::new(SECRET);
        let bad = [
            ("sub", json!("not-a-uuid")),
            ("role", json!("root")),
            ("role", json!("Admin")),
            ("jti", json!("nope")),
            ("iat", json!(t0().timestamp() + 3600)),
        ];
        for (field, value) in bad {
            let mut c = good_claims();
            c[field] = value;
            let err = keys.verify(&sign(Algorithm::HS256, &c), t0()).unwrap_err();
            assert!(matches!(err, TokenError::Claim(_)), "{field}: {err:?}");
        }
        for field in ["iat", "exp", "sub", "role"] {
            let mut c = good_claims();
            c.as_object_mut().unwrap().remove(field);
            let err = keys.verify(&sign(Algorithm::HS256, &c), t0()).unwrap_err();
            assert!(
                matches!(err, TokenError::Claim(_)),
                "missing {field}: {err:?}"
            );
        }
    }

    #[test]
    fn garbage_is_malformed() {
        let keys = JwtKeys::new(SECRET);
        for token in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.", "e30.e30.e30"] {
            assert_eq!(
                keys.verify(token, t0()),
                Err(TokenError::Malformed),
                "{token}"
            );
        }
    }
}
