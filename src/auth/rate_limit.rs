//! The login limiter, in Postgres so every node enforces one budget: login attempts are
//! counted per account (`email:…`, whoever sends them) and per client address (`ip:…`,
//! whichever accounts they name), each against its own threshold within a fixed window that
//! starts at the key's first counted attempt.
//!
//! An attempt is counted *before* its password is checked ([`LoginLimiter::claim`], one
//! transaction that locks the keys' rows), so a burst of concurrent guesses gets at most the
//! threshold's worth of password checks and the rest a 429; an attempt refused counts
//! nothing. A success clears the account's count and gives its address back the one attempt
//! ([`LoginLimiter::succeeded`]); a failure keeps both. The address threshold is well above
//! the account's, so a few failures from behind a shared NAT or proxy lock no one else out.

use std::net::IpAddr;
use std::time::Duration;

use sqlx::PgPool;
use thiserror::Error;

/// Attempts per account within [`WINDOW`] (failures, and those in flight).
pub const ACCOUNT_ATTEMPTS: i32 = 5;
/// Attempts per client address within [`WINDOW`], whichever accounts they name.
pub const ADDRESS_ATTEMPTS: i32 = 50;
/// How long a key's count lasts from its first counted attempt.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Too many recent attempts for a key; retry after the given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("too many failed login attempts; try again in {} seconds", self.secs())]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for a `Retry-After` header, rounded up, at least 1.
    pub fn secs(&self) -> u64 {
        let s = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        s.max(1)
    }
}

/// The keys an attempt was counted under, to settle once the password is checked.
#[derive(Debug, Clone)]
pub struct Claim {
    account: String,
    address: String,
}

/// The thresholds (the defaults above; tests may lower them).
#[derive(Debug, Clone, Copy)]
pub struct LoginLimiter {
    pub account_attempts: i32,
    pub address_attempts: i32,
    pub window: Duration,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self {
            account_attempts: ACCOUNT_ATTEMPTS,
            address_attempts: ADDRESS_ATTEMPTS,
            window: WINDOW,
        }
    }
}

impl LoginLimiter {
    /// Counts an attempt for `email` from `client`, or, when either key is at its threshold,
    /// counts nothing and says how long to wait.
    pub async fn claim(
        &self,
        pool: &PgPool,
        email: &str,
        client: IpAddr,
    ) -> Result<Result<Claim, RetryAfter>, sqlx::Error> {
        let claim = Claim {
            account: email_key(email),
            address: ip_key(client),
        };
        // Sorted, so two attempts lock the rows in one order and never deadlock.
        let mut keys = [
            (claim.account.as_str(), self.account_attempts),
            (claim.address.as_str(), self.address_attempts),
        ];
        keys.sort_unstable();
        let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
        let mut tx = pool.begin().await?;
        let counted: Vec<(String, i32, f64)> = sqlx::query_as(
            "INSERT INTO login_limits AS l (key, attempts, window_start) \
             SELECT k, 1, now() FROM unnest($1::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n \
             ON CONFLICT (key) DO UPDATE SET \
                 attempts = CASE WHEN l.window_start <= now() - $2 THEN 1 \
                                 ELSE l.attempts + 1 END, \
                 window_start = CASE WHEN l.window_start <= now() - $2 THEN now() \
                                     ELSE l.window_start END \
             RETURNING key, attempts, \
                 extract(epoch FROM l.window_start + $2 - now())::float8",
        )
        .bind(&names)
        .bind(self.window)
        .fetch_all(&mut *tx)
        .await?;
        let wait = counted
            .iter()
            .filter(|(key, attempts, _)| {
                keys.iter()
                    .any(|(k, max)| *k == key.as_str() && attempts > max)
            })
            .map(|(_, _, left)| Duration::from_secs_f64(left.max(0.0)))
            .max();
        match wait {
            Some(wait) => {
                tx.rollback().await?;
                Ok(Err(RetryAfter(wait)))
            }
            None => {
                tx.commit().await?;
                Ok(Ok(claim))
            }
        }
    }

    /// After the right password: the account's count starts again, and its address gets back
    /// the attempt (a success is no failure). Counts past their window are swept.
    pub async fn succeeded(&self, pool: &PgPool, claim: &Claim) -> Result<(), sqlx::Error> {
        sqlx::query(
            "WITH cleared AS (DELETE FROM login_limits WHERE key = $1) \
             UPDATE login_limits SET attempts = attempts - 1 WHERE key = $2 AND attempts > 0",
        )
        .bind(&claim.account)
        .bind(&claim.address)
        .execute(pool)
        .await?;
        sqlx::query("DELETE FROM login_limits WHERE window_start < now() - $1")
            .bind(self.window)
            .execute(pool)
            .await?;
        Ok(())
    }
}

/// The limiter key for an email: `email:<trimmed, lowercased>`.
pub fn email_key(email: &str) -> String {
    format!("email:{}", email.trim().to_lowercase())
}

/// The limiter key for a client address: `ip:<addr>`. IPv4-mapped IPv6 counts
/// as IPv4, and IPv6 is keyed by its /64 prefix (one host usually owns a /64).
pub fn ip_key(addr: IpAddr) -> String {
    match addr.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            format!("ip:{}/64", std::net::Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(RetryAfter(Duration::from_millis(1500)).secs(), 2);
        assert_eq!(RetryAfter(Duration::ZERO).secs(), 1);
        let err = RetryAfter(Duration::from_secs(597));
        assert!(err.to_string().contains("597 seconds"));
    }

    #[test]
    fn keys() {
        assert_eq!(
            email_key("  Wanjiru@Example.COM "),
            "email:wanjiru@example.com"
        );
        assert_eq!(ip_key("203.0.113.9".parse().unwrap()), "ip:203.0.113.9");
        assert_eq!(
            ip_key("::ffff:203.0.113.9".parse().unwrap()),
            "ip:203.0.113.9"
        );
        assert_eq!(
            ip_key("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "ip:2001:db8:1:2::/64"
        );
    }
}
