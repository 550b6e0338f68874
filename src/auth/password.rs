//! Password hashing (argon2id, PHC strings) and the password rules shown to users.
//!
//! Hashing and verifying are deliberately slow (~50 ms optimised, far more in a
//! debug build) and use 46 MiB of memory each. **Callers in async code must run
//! [`hash_password`], [`verify_password`] and [`dummy_verify`] off the runtime's
//! workers**: the account commands run them on blocking threads, one per core at a time
//! (which also bounds the memory in use).
//!
//! Login for an unknown email should call [`dummy_verify`] so that it takes as
//! long as a login with a wrong password (no account enumeration by timing).

use argon2::password_hash::Error as PasswordHashError;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use thiserror::Error;

/// Argon2 memory cost in KiB: 46 MiB, with one pass, the first of OWASP's equivalent
/// argon2id configurations (m=47104, t=1, p=1; the second is m=19456, t=2). Chosen over the
/// second for memory: above 32 MiB, glibc always maps an allocation on its own and gives it
/// back to the system when freed, where 19 MiB blocks stayed in the heap after every login
/// (a server that had seen a dozen logins sat at 100–200 MiB).
pub const ARGON2_M_COST_KIB: u32 = 47_104;
/// Argon2 iterations.
pub const ARGON2_T_COST: u32 = 1;
/// Argon2 parallelism (OWASP: 1).
pub const ARGON2_P_COST: u32 = 1;

/// Shortest accepted password, in characters (Unicode scalar values).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in characters (bounds hashing work per request).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A hash (of a random string nobody knows) made with the current parameters on first
/// use, for [`dummy_verify`].
static DUMMY_PHC: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let nobody_knows = format!("{:032x}", rand::random::<u128>());
    hash_password(&nobody_knows).unwrap_or_default()
});

/// Passwords rejected as too common (compared case-insensitively).
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "passw0rd",
    "12345678",
    "123456789",
    "1234567890",
    "87654321",
    "qwertyui",
    "qwertyuiop",
    "qwerty123",
    "asdfghjk",
    "abcdefgh",
    "abcd1234",
    "abc12345",
    "iloveyou",
    "letmein1",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "admin123",
    "trustno1",
    "changeme",
];

/// Hashing failed. Practically only on RNG or allocation failure; answer 500.
#[derive(Debug, Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(#[from] PasswordHashError);

/// Why a new password was refused. The `Display` text is user-facing
/// (suitable for `errors: [{field: "password", message}]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PasswordRuleError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("password must be at least 8 characters long")]
    TooShort,
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("password must be at most 128 characters long")]
    TooLong,
    /// Only spaces, tabs or other whitespace.
    #[error("password must not consist only of spaces")]
    Blank,
    /// On the list of most common passwords, or one character repeated.
    #[error("this password is too common; please choose a less guessable one")]
    TooCommon,
}

fn hasher() -> Result<Argon2<'static>, HashError> {
    let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None)
        .map_err(PasswordHashError::from)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with argon2id (m=47104 KiB, t=1, p=1) and a fresh random
/// salt, returning a PHC string (`$argon2id$v=19$m=47104,t=1,p=1$<salt>$<hash>`).
///
/// Blocking and CPU-heavy: run off the async workers (see the module docs). Does not apply
/// [`validate_password`]; do that first for new passwords.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    Ok(hasher()?.hash_password(password.as_bytes())?.to_string())
}

/// Checks `password` against a stored PHC string, in constant time with
/// respect to the hash comparison. Returns `false` for a wrong password and for
/// a malformed or unsupported hash (never panics).
///
/// The parameters are taken from the PHC string, so hashes made with older
/// parameters still verify (see [`needs_rehash`]). Blocking and CPU-heavy: run off
/// the async workers.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    // The verifier ignores the instance's params and uses the hash's own.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Makes the hash [`dummy_verify`] checks against, so that even the first unknown-email
/// login takes no longer than a wrong password. Blocking and CPU-heavy.
pub fn prepare_dummy() {
    std::sync::LazyLock::force(&DUMMY_PHC);
}

/// Burns the same time as a real [`verify_password`] call, for logins whose
/// email matches no account (or a disabled one). Always "fails".
///
/// Blocking and CPU-heavy: run off the async workers.
pub fn dummy_verify() {
    let _ = verify_password("not the dummy password", &DUMMY_PHC);
}

/// True when `phc` was not made with the current algorithm and parameters
/// (e.g. after raising the cost); the caller may then re-hash the password it
/// just verified and store the new hash.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm != argon2::ARGON2ID_IDENT
        || parsed.version != Some(Version::V0x13.into())
        || params.m_cost() != ARGON2_M_COST_KIB
        || params.t_cost() != ARGON2_T_COST
        || params.p_cost() != ARGON2_P_COST
}

/// Applies the password rules for registration and password changes:
/// 8 to 128 characters, not only whitespace, not one of the most common
/// passwords and not one character repeated. The password is used verbatim
/// (no trimming or normalisation).
pub fn validate_password(password: &str) -> Result<(), PasswordRuleError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordRuleError::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordRuleError::TooLong);
    }
    if password.chars().all(char::is_whitespace) {
        return Err(PasswordRuleError::Blank);
    }
    let lower = password.to_lowercase();
    let mut it = password.chars();
    let first = it.next();
    if it.all(|c| Some(c) == first) || COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err(PasswordRuleError::TooCommon);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify_round_trip() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=47104,t=1,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterY", &phc));
        assert!(!verify_password("", &phc));
        assert!(!needs_rehash(&phc));
    }

    #[test]
    fn same_password_gets_different_salts() {
        let a = hash_password("same password").unwrap();
        let b = hash_password("same password").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_hashes_do_not_verify() {
        assert!(!verify_password("x", ""));
        assert!(!verify_password("x", "not a phc string"));
        assert!(!verify_password("x", "$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!verify_password("x", "$bcrypt$whatever"));
        assert!(needs_rehash("garbage"));
    }

    #[test]
    fn dummy_hash_uses_current_parameters_and_rejects() {
        assert!(!needs_rehash(&DUMMY_PHC));
        assert!(!verify_password("anything", &DUMMY_PHC));
    }

    /// The fastest of a few runs of `work`: the least disturbed by other load.
    fn fastest(mut work: impl FnMut()) -> std::time::Duration {
        (0..3)
            .map(|_| {
                let started = std::time::Instant::now();
                work();
                started.elapsed()
            })
            .min()
            .unwrap()
    }

    /// An unknown e-mail costs what a wrong password does: `dummy_verify` runs a whole
    /// argon2id verification. The bound is loose (a fifth of a real verification, taking the
    /// fastest of three runs each) so that load cannot fail it, while a dummy that skipped
    /// the work (microseconds against tens of milliseconds) does.
    #[test]
    fn dummy_verify_costs_what_a_wrong_password_does() {
        prepare_dummy();
        let phc = hash_password("the real password").unwrap();
        let wrong = fastest(|| assert!(!verify_password("a wrong password", &phc)));
        let dummy = fastest(dummy_verify);
        assert!(
            dummy * 5 >= wrong,
            "dummy_verify took {dummy:?}, a wrong password {wrong:?}"
        );
    }

    #[test]
    fn weaker_parameters_need_rehash_but_still_verify() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        );
        let phc = weak.hash_password(b"old password").unwrap().to_string();
        assert!(verify_password("old password", &phc));
        assert!(needs_rehash(&phc));
    }

    #[test]
    fn argon2i_hashes_are_refused() {
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        );
        let phc = argon2i.hash_password(b"pw").unwrap().to_string();
        assert!(!verify_password("pw", &phc));
    }

    #[test]
    fn length_rules() {
        assert_eq!(validate_password(""), Err(PasswordRuleError::TooShort));
        assert_eq!(
            validate_password("Abc1234"),
            Err(PasswordRuleError::TooShort)
        );
        assert_eq!(validate_password("Xyz12345"), Ok(()));
        // Characters, not bytes: 8 two-byte characters are fine.
        assert_eq!(validate_password("éàüöçñßø"), Ok(()));
        assert_eq!(validate_password(&"ab".repeat(64)), Ok(()));
        assert_eq!(
            validate_password(&"ab".repeat(64).replacen('a', "xa", 1)),
            Err(PasswordRuleError::TooLong)
        );
    }

    #[test]
    fn blank_and_common_passwords() {
        assert_eq!(validate_password("        "), Err(PasswordRuleError::Blank));
        assert_eq!(
            validate_password(" \t \n    "),
            Err(PasswordRuleError::Blank)
        );
        for pw in ["password", "PASSWORD", "12345678", "qwertyui", "aaaaaaaa"] {
            assert_eq!(
                validate_password(pw),
                Err(PasswordRuleError::TooCommon),
                "{pw}"
            );
        }
        assert_eq!(validate_password("my password 1"), Ok(()));
    }

    #[test]
    fn rule_messages_are_user_facing() {
        assert_eq!(
            PasswordRuleError::TooShort.to_string(),
            "password must be at least 8 characters long"
        );
        assert!(
            PasswordRuleError::TooCommon
                .to_string()
                .contains("too common")
        );
    }
}
