//! The sequencer: gives every committed event its dense `log_index`, after the commit.
//!
//! Appends only queue their events (`log_queue`, filled by a statement trigger). A pass takes
//! the one `log_head` row (`FOR UPDATE SKIP LOCKED`), moves committed queue entries into
//! `event_log` in queue order with consecutive indexes, and moves the head, in one short
//! transaction. The row lock is the fence: one pass at a time in the whole cluster, whichever
//! node runs it, and the primary key on `log_index` and the unique `global_position` refuse
//! anything else. Every node sequences (its own commits at once, others' on their NOTIFY or
//! the poll), so there is no leader to fail over and no takeover gap; a node that finds the
//! head locked leaves the work to the holder, which loops until the queue is empty.
//!
//! The transaction sets a 2 s `idle_in_transaction_session_timeout`: a node frozen in the
//! middle of a pass (SIGSTOP, a pause, a partition) loses its session and the lock, and the
//! others go on.

use std::sync::OnceLock;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;

use super::{EventStore, StoreError};

/// Queue entries (one per appending statement) moved per pass.
const BATCH: i64 = 500;
/// The poll behind the kicks (a lost NOTIFY, a peer that died mid-pass).
const POLL: Duration = Duration::from_millis(500);
/// After finding the head locked by another pass: how soon to look again.
const BUSY_RETRIES: [u64; 6] = [1, 2, 4, 8, 16, 32];

#[derive(Default)]
pub(crate) struct Sequencer {
    kick: Notify,
    started: OnceLock<()>,
}

/// What a pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// Another pass holds the head.
    Busy,
    /// This many events got their index (0: the queue was empty).
    Sequenced(i64),
}

impl EventStore {
    /// Asks this process's sequencer for a pass (starting it on first use).
    pub(crate) fn sequencer_kick(&self) {
        self.sequencer.started.get_or_init(|| {
            tokio::spawn(run(self.clone()));
        });
        self.sequencer.kick.notify_one();
    }

    /// Sequences everything committed so far and returns how many events got an index: for
    /// short-lived processes (the CLI) and tests that read the log right after appending.
    pub async fn sequence_pending(&self) -> Result<i64, StoreError> {
        let mut total = 0;
        let mut busy = 0;
        loop {
            match pass(self.pool()).await? {
                Pass::Sequenced(0) => return Ok(total),
                Pass::Sequenced(n) => {
                    total += n;
                    self.sequenced();
                }
                Pass::Busy => {
                    busy += 1;
                    let pause = BUSY_RETRIES[busy.min(BUSY_RETRIES.len()) - 1];
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
    }

    /// Events got their index: wake the readers here, and (through the listener task) the
    /// other processes'.
    fn sequenced(&self) {
        self.wake.notify_waiters();
        self.appended.notify_one();
    }
}

async fn run(store: EventStore) {
    let mut failures = 0u32;
    loop {
        if store.pool().is_closed() {
            return;
        }
        let _ = tokio::time::timeout(POLL, store.sequencer.kick.notified()).await;
        let mut busy = 0;
        loop {
            match pass(store.pool()).await {
                Ok(Pass::Sequenced(0)) => {
                    failures = 0;
                    break;
                }
                Ok(Pass::Sequenced(_)) => {
                    failures = 0;
                    busy = 0;
                    store.sequenced();
                }
                Ok(Pass::Busy) if busy < BUSY_RETRIES.len() => {
                    tokio::time::sleep(Duration::from_millis(BUSY_RETRIES[busy])).await;
                    busy += 1;
                }
                // The holder loops until the queue is empty; the poll covers its death.
                Ok(Pass::Busy) => break,
                Err(error) => {
                    if store.pool().is_closed() {
                        return;
                    }
                    failures += 1;
                    tracing::warn!(%error, "sequencer pass failed; retrying");
                    let backoff = Duration::from_millis(10 * 2u64.pow(failures.min(7)));
                    tokio::time::sleep(backoff).await;
                    break;
                }
            }
        }
    }
}

/// One pass: indexes for up to [`BATCH`] queue entries, in one transaction.
pub(crate) async fn pass(pool: &PgPool) -> Result<Pass, sqlx::Error> {
    let (queued,): (bool,) = sqlx::query_as("SELECT EXISTS (SELECT 1 FROM log_queue)")
        .fetch_one(pool)
        .await?;
    if !queued {
        return Ok(Pass::Sequenced(0));
    }
    let mut tx = pool.begin().await?;
    let head: Option<(i64, String)> = sqlx::query_as(
        "SELECT next_index, set_config('idle_in_transaction_session_timeout', '2000', true) \
         FROM log_head FOR UPDATE SKIP LOCKED",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some((next, _)) = head else {
        return Ok(Pass::Busy);
    };
    let (count,): (i64,) = sqlx::query_as(
        "WITH q AS ( \
             DELETE FROM log_queue \
             WHERE id IN (SELECT id FROM log_queue ORDER BY id LIMIT $2) \
             RETURNING id, positions \
         ), e AS ( \
             SELECT p.pos, row_number() OVER (ORDER BY q.id, p.ord) - 1 AS n \
             FROM q, unnest(q.positions) WITH ORDINALITY AS p(pos, ord) \
         ), i AS ( \
             INSERT INTO event_log (log_index, global_position) \
             SELECT $1 + n, pos FROM e RETURNING 1 \
         ), h AS ( \
             UPDATE log_head SET next_index = $1 + (SELECT count(*) FROM e) RETURNING 1 \
         ) \
         SELECT count(*) FROM i",
    )
    .bind(next)
    .bind(BATCH)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Pass::Sequenced(count))
}
