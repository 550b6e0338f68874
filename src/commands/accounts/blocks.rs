//! What an access token may do now, whatever it said when issued: a disabled or closed
//! account has a row in `account_blocks` (its tokens stop working before they expire), and an
//! account whose role changed has its current role in `account_roles` (a demotion or a grant
//! applies at once). The `User` extractor asks [`access`] on every authenticated request, so
//! each answer is kept for [`FRESH_FOR`]: an active user costs one primary-key lookup per
//! [`FRESH_FOR`], not one per request. A change made in this process is seen here at once
//! ([`remember`], [`remember_role`]); one made by another process within [`FRESH_FOR`].
//!
//! The cache is process-wide (user ids are unique across databases, so servers sharing a
//! process, as in the test suite, cannot mix up answers).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::validate::Role;

/// How long an answer is trusted.
pub const FRESH_FOR: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 100_000;

/// An account's standing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub blocked: bool,
    /// The current role when it changed since the account was created; else the token's.
    pub role: Option<Role>,
}

#[derive(Clone, Copy)]
struct Entry {
    /// When the answer was true: the question's start for a database answer.
    at: Instant,
    access: Access,
}

static ANSWERS: LazyLock<Mutex<HashMap<Uuid, Entry>>> = LazyLock::new(Default::default);

fn answers() -> std::sync::MutexGuard<'static, HashMap<Uuid, Entry>> {
    ANSWERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the account's tokens must be refused, and its current role if it changed.
pub async fn access(pool: &PgPool, id: Uuid) -> Result<Access, sqlx::Error> {
    let asked = Instant::now();
    if let Some(entry) = answers().get(&id).copied()
        && asked.saturating_duration_since(entry.at) < FRESH_FOR
    {
        return Ok(entry.access);
    }
    let (blocked, role): (bool, Option<String>) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM account_blocks WHERE customer_id = $1), \
                (SELECT role FROM account_roles WHERE customer_id = $1)",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    let access = Access {
        blocked,
        role: role.and_then(|r| r.parse().ok()),
    };
    keep(id, access, asked);
    Ok(access)
}

/// Records a block or unblock this process just committed.
pub fn remember(id: Uuid, blocked: bool) {
    let role = answers().get(&id).and_then(|e| e.access.role);
    keep(id, Access { blocked, role }, Instant::now());
}

/// Records a role change this process just committed.
pub fn remember_role(id: Uuid, role: Role) {
    let blocked = answers().get(&id).is_some_and(|e| e.access.blocked);
    keep(
        id,
        Access {
            blocked,
            role: Some(role),
        },
        Instant::now(),
    );
}

/// The side write that records `role` as the account's current one.
pub fn role_row(
    id: Uuid,
    role: Role,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::commands::SideWrite {
    crate::commands::SideWrite::new(
        "INSERT INTO account_roles (customer_id, role, changed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (customer_id) DO UPDATE SET role = EXCLUDED.role, \
             changed_at = EXCLUDED.changed_at",
    )
    .bind(id)
    .bind(role.as_str())
    .bind(now)
}

fn keep(id: Uuid, access: Access, at: Instant) {
    let mut answers = answers();
    // A database answer to a question asked before a block was committed here is stale.
    if answers.get(&id).is_some_and(|entry| entry.at > at) {
        return;
    }
    if answers.len() >= MAX_ENTRIES && !answers.contains_key(&id) {
        answers.retain(|_, entry| entry.at.elapsed() < FRESH_FOR);
        if answers.len() >= MAX_ENTRIES {
            answers.clear();
        }
    }
    answers.insert(id, Entry { at, access });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_answer_is_not_overwritten_by_an_older_one() {
        let id = Uuid::new_v4();
        let asked = Instant::now();
        remember(id, true);
        let stale = Access {
            blocked: false,
            role: None,
        };
        keep(id, stale, asked);
        assert!(answers()[&id].access.blocked);
        remember(id, false);
        assert!(!answers()[&id].access.blocked);
        remember_role(id, Role::Seller);
        assert_eq!(answers()[&id].access.role, Some(Role::Seller));
    }
}
