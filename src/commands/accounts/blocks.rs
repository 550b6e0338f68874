//! Accounts whose access tokens must stop working before they expire: a disabled or closed
//! account has a row in `account_blocks`. The `User` extractor asks [`is_blocked`] on every
//! authenticated request, so each answer is kept for [`FRESH_FOR`]: an active user costs one
//! primary-key lookup per [`FRESH_FOR`], not one per request. A block made in this process
//! is seen here at once ([`remember`]); one made by another process within [`FRESH_FOR`].
//!
//! The cache is process-wide (user ids are unique across databases, so servers sharing a
//! process, as in the test suite, cannot mix up answers).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

/// How long an answer is trusted.
pub const FRESH_FOR: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Copy)]
struct Entry {
    /// When the answer was true: the question's start for a database answer.
    at: Instant,
    blocked: bool,
}

static ANSWERS: LazyLock<Mutex<HashMap<Uuid, Entry>>> = LazyLock::new(Default::default);

fn answers() -> std::sync::MutexGuard<'static, HashMap<Uuid, Entry>> {
    ANSWERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether the account's tokens must be refused.
pub async fn is_blocked(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let asked = Instant::now();
    if let Some(entry) = answers().get(&id).copied()
        && asked.saturating_duration_since(entry.at) < FRESH_FOR
    {
        return Ok(entry.blocked);
    }
    let blocked: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM account_blocks WHERE customer_id = $1)")
            .bind(id)
            .fetch_one(pool)
            .await?;
    keep(id, blocked, asked);
    Ok(blocked)
}

/// Records a block or unblock this process just committed.
pub fn remember(id: Uuid, blocked: bool) {
    keep(id, blocked, Instant::now());
}

fn keep(id: Uuid, blocked: bool, at: Instant) {
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
    answers.insert(id, Entry { at, blocked });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_answer_is_not_overwritten_by_an_older_one() {
        let id = Uuid::new_v4();
        let asked = Instant::now();
        remember(id, true);
        keep(id, false, asked);
        assert!(answers()[&id].blocked);
        remember(id, false);
        assert!(!answers()[&id].blocked);
    }
}
