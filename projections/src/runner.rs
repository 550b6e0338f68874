//! Runs projectors: catch up in batches, then follow live. Each batch is one transaction that
//! locks the projector's checkpoint row, reads the events after it, applies them and moves the
//! checkpoint: after a crash a projector resumes exactly where its last commit left it, and two
//! runners (or a runner and a rebuild) can never apply the same event twice. Each projector
//! runs under a lease of its own (`projector:<name>`, see `lease.rs`), so the projectors spread
//! over the nodes, and every checkpoint write is fenced by the lease's epoch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tillroll_events::LogPosition;
use tokio::sync::watch;

use crate::{EventFeed, ProjectionError, Projector};

use crate::lease::{Fence, Leases, fence_sql, while_held};

const BATCH: i64 = 1000;
/// The lease TTL of a runner that was given no [`Leases`] (tests, tools).
const DEFAULT_TTL: Duration = Duration::from_secs(5);

/// The lease a projector runs under.
pub fn lease_name(projector: &str) -> String {
    format!("projector:{projector}")
}

/// The positions projectors have committed, shared with query handlers in this process.
#[derive(Clone)]
pub struct Progress {
    senders: Arc<HashMap<&'static str, watch::Sender<LogPosition>>>,
}

impl Progress {
    pub fn new(projectors: &[Arc<dyn Projector>]) -> Self {
        let senders = projectors
            .iter()
            .map(|p| (p.name(), watch::channel(LogPosition::START).0))
            .collect();
        Self {
            senders: Arc::new(senders),
        }
    }

    pub fn subscribe(&self, name: &str) -> Option<watch::Receiver<LogPosition>> {
        self.senders.get(name).map(|s| s.subscribe())
    }

    fn publish(&self, name: &str, position: LogPosition) {
        if let Some(sender) = self.senders.get(name) {
            sender.send_replace(position);
        }
    }
}

pub struct Runner {
    pool: PgPool,
    feed: Arc<dyn EventFeed>,
    projectors: Vec<Arc<dyn Projector>>,
    progress: Progress,
    leases: Option<Leases>,
    batch: i64,
}

/// A projector's (or reactor's) checkpoint, creating its row on first use; `for_update` locks
/// the row until the transaction `conn` is in ends.
pub async fn load_checkpoint(
    conn: &mut PgConnection,
    name: &str,
    for_update: bool,
) -> Result<LogPosition, sqlx::Error> {
    sqlx::query("INSERT INTO checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    read_checkpoint(conn, name, for_update).await
}

/// A checkpoint whose row exists.
async fn read_checkpoint(
    conn: &mut PgConnection,
    name: &str,
    for_update: bool,
) -> Result<LogPosition, sqlx::Error> {
    let sql = if for_update {
        "SELECT log_index, position FROM checkpoints WHERE name = $1 FOR UPDATE"
    } else {
        "SELECT log_index, position FROM checkpoints WHERE name = $1"
    };
    let (log_index, position): (i64, i64) = sqlx::query_as(sql).bind(name).fetch_one(conn).await?;
    Ok(LogPosition {
        log_index,
        position,
    })
}

/// Moves a checkpoint under `fence`; `ProjectionError::LeaseLost` when the lease moved on.
/// (Reactors' checkpoints too.)
pub async fn store_checkpoint_fenced(
    conn: &mut PgConnection,
    name: &str,
    at: LogPosition,
    fence: &Fence,
) -> Result<(), ProjectionError> {
    let moved = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE checkpoints SET log_index = $2, position = $3, updated_at = now() \
         WHERE name = $1 AND {}",
        fence_sql(4)
    )))
    .bind(name)
    .bind(at.log_index)
    .bind(at.position)
    .bind(&fence.lease)
    .bind(&fence.holder)
    .bind(fence.epoch)
    .execute(conn)
    .await?;
    if moved.rows_affected() == 0 {
        return Err(ProjectionError::LeaseLost(fence.lease.clone()));
    }
    Ok(())
}

pub(crate) async fn store_checkpoint(
    conn: &mut PgConnection,
    name: &str,
    at: LogPosition,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE checkpoints SET log_index = $2, position = $3, updated_at = now() \
         WHERE name = $1",
    )
    .bind(name)
    .bind(at.log_index)
    .bind(at.position)
    .execute(conn)
    .await?;
    Ok(())
}

/// Where a live projector stands: the checkpoint it last committed, and how far it has read
/// (further when the events since were none of its business).
#[derive(Debug, Clone, Copy)]
struct Cursor {
    committed: LogPosition,
    read: LogPosition,
    committed_at: tokio::time::Instant,
}

/// What one step of a live projector did.
enum Step {
    /// Nothing new to read.
    Idle,
    /// New events, none of which the projector handles: read past, nothing written.
    Skipped(LogPosition),
    /// Applied and committed up to here.
    Applied(LogPosition),
}

/// One step of a live projector. The events are read first outside any transaction, from
/// where it has read up to: an idle projector costs one query, and one that handles none of
/// the new events (a cart change, for the orders projector) costs no transaction at all.
/// Otherwise one transaction locks the checkpoint row, applies the events and moves the
/// checkpoint; if another writer (a rebuild swapping tables in) moved the checkpoint
/// meanwhile, the events are read again from there, under the lock.
async fn step(
    pool: &PgPool,
    feed: &dyn EventFeed,
    projector: &dyn Projector,
    cursor: Cursor,
    limit: i64,
    fence: &Fence,
) -> Result<Step, ProjectionError> {
    let mut events = {
        let mut conn = pool.acquire().await?;
        feed.read_batch(&mut conn, cursor.read, limit).await?
    };
    let Some(last) = events.last().map(|e| e.log_position()) else {
        return Ok(Step::Idle);
    };
    if !events.iter().any(|e| projector.handles(&e.event_type)) {
        return Ok(Step::Skipped(last));
    }
    let mut tx = pool.begin().await?;
    // The row exists: this runner loaded the checkpoint before its first step.
    let from = read_checkpoint(&mut tx, projector.name(), true).await?;
    if from != cursor.committed {
        events = feed.read_batch(&mut tx, from, limit).await?;
    }
    let Some(last) = events.last().map(|e| e.log_position()) else {
        // Someone else applied them: this projector now stands where they left it.
        return Ok(Step::Applied(from));
    };
    projector.apply(&mut tx, &events).await?;
    store_checkpoint_fenced(&mut tx, projector.name(), last, fence).await?;
    tx.commit().await?;
    Ok(Step::Applied(last))
}

/// Records a projector's read-past position as its checkpoint, if the checkpoint is still
/// where this runner committed it and the lease still holds; `false` otherwise.
async fn move_checkpoint(
    pool: &PgPool,
    name: &str,
    cursor: Cursor,
    fence: &Fence,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE checkpoints SET log_index = $2, position = $3, updated_at = now() \
         WHERE name = $1 AND log_index = $4 AND position = $5 AND {}",
        fence_sql(6)
    )))
    .bind(name)
    .bind(cursor.read.log_index)
    .bind(cursor.read.position)
    .bind(cursor.committed.log_index)
    .bind(cursor.committed.position)
    .bind(&fence.lease)
    .bind(&fence.holder)
    .bind(fence.epoch)
    .execute(pool)
    .await?;
    Ok(moved.rows_affected() == 1)
}

impl Runner {
    pub fn new(
        pool: PgPool,
        feed: Arc<dyn EventFeed>,
        projectors: Vec<Arc<dyn Projector>>,
        progress: Progress,
    ) -> Self {
        Self {
            pool,
            feed,
            projectors,
            progress,
            leases: None,
            batch: BATCH,
        }
    }

    /// Reads and applies at most `limit` events a batch (default 1000): tests use small
    /// batches so that the batch boundaries fall between related events.
    pub fn with_batch(mut self, limit: i64) -> Self {
        self.batch = limit.max(1);
        self
    }

    /// Runs under the node's leases (whose keeper the caller runs); without, the runner keeps
    /// leases of its own.
    pub fn with_leases(mut self, leases: Leases) -> Self {
        self.leases = Some(leases);
        self
    }

    /// Runs until `shutdown` turns true; finishes the batch in hand first. Each projector runs
    /// while this node holds its lease.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let own_keeper = self.leases.is_none();
        let leases = self.leases.clone().unwrap_or_else(|| {
            Leases::new(self.pool.connect_options().as_ref().clone(), DEFAULT_TTL)
        });
        // A JoinSet: aborting this task (or dropping it) aborts the projectors and the keeper
        // with it, so no orphan keeps a lease.
        let mut tasks = tokio::task::JoinSet::new();
        for task in self.projectors.iter().map(|projector| {
            let lease = leases.watch(&lease_name(projector.name()));
            let pool = self.pool.clone();
            let feed = self.feed.clone();
            let projector = projector.clone();
            let progress = self.progress.clone();
            let batch = self.batch;
            while_held(lease, shutdown.clone(), move |fence, halt| {
                follow(
                    pool.clone(),
                    feed.clone(),
                    projector.clone(),
                    progress.clone(),
                    fence,
                    batch,
                    halt,
                )
            })
        }) {
            tasks.spawn(task);
        }
        if own_keeper {
            tasks.spawn(leases.run(shutdown));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// How stale a skipping projector's committed checkpoint may get: readers in other processes
/// (X-Min-Position, readiness) see only committed checkpoints.
const SKIPPED_COMMIT_EVERY: Duration = Duration::from_millis(100);

async fn follow(
    pool: PgPool,
    feed: Arc<dyn EventFeed>,
    projector: Arc<dyn Projector>,
    progress: Progress,
    fence: Fence,
    batch: i64,
    shutdown: watch::Receiver<bool>,
) {
    let name = projector.name();
    let wake = feed.wake_handle();
    let mut failures = 0u32;
    let mut cursor: Option<Cursor> = None;
    while !*shutdown.borrow() {
        // Registered before reading, so a commit between the read and the wait is not missed.
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match advance(
            &pool,
            feed.as_ref(),
            projector.as_ref(),
            &progress,
            &mut cursor,
            &fence,
            batch,
        )
        .await
        {
            Ok(Step::Applied(_)) => {
                failures = 0;
                // This batch's transaction may have been what held other readers back (it
                // had a transaction id, so the readable horizon waited for its commit).
                wake.notify_waiters();
            }
            Ok(Step::Skipped(_)) => failures = 0,
            Ok(Step::Idle) => {
                let _ = tokio::time::timeout(feed.idle_poll(), woken).await;
            }
            Err(ProjectionError::LeaseLost(lease)) => {
                tracing::warn!(projector = name, %lease, "lease lost; the projector stops here");
                // The keeper notices within a round; until then, do not spin.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return;
            }
            Err(error) => {
                // Start again from the committed checkpoint.
                cursor = None;
                failures += 1;
                tracing::error!(projector = name, %error, "projection batch failed; retrying");
                let backoff = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// One step of `follow`: loads the checkpoint if need be, reads and applies, and keeps the
/// cursor, the published progress and (for skipped events, at most every
/// [`SKIPPED_COMMIT_EVERY`] and whenever idle) the committed checkpoint up to date.
async fn advance(
    pool: &PgPool,
    feed: &dyn EventFeed,
    projector: &dyn Projector,
    progress: &Progress,
    cursor: &mut Option<Cursor>,
    fence: &Fence,
    batch: i64,
) -> Result<Step, ProjectionError> {
    let name = projector.name();
    let current = match *cursor {
        Some(current) => current,
        None => {
            let mut conn = pool.acquire().await?;
            let at = load_checkpoint(&mut conn, name, false).await?;
            progress.publish(name, at);
            Cursor {
                committed: at,
                read: at,
                committed_at: tokio::time::Instant::now(),
            }
        }
    };
    *cursor = Some(current);
    let step = step(pool, feed, projector, current, batch, fence).await?;
    let mut next = current;
    match step {
        Step::Applied(at) => {
            next = Cursor {
                committed: at,
                read: at,
                committed_at: tokio::time::Instant::now(),
            };
            progress.publish(name, at);
        }
        Step::Skipped(at) => {
            next.read = at;
            progress.publish(name, at);
        }
        Step::Idle => {}
    }
    let due = matches!(step, Step::Idle) || next.committed_at.elapsed() >= SKIPPED_COMMIT_EVERY;
    if next.read != next.committed && due {
        if move_checkpoint(pool, name, next, fence).await? {
            next.committed = next.read;
            next.committed_at = tokio::time::Instant::now();
        } else {
            // Another writer moved the checkpoint: start again from wherever it is.
            *cursor = None;
            return Ok(step);
        }
    }
    *cursor = Some(next);
    Ok(step)
}

/// Waits until every named projector has passed `target`, or `timeout` elapses. Reads the
/// committed checkpoints, so it works whichever process runs the projectors.
pub async fn wait_for(
    pool: &PgPool,
    progress: &Progress,
    names: &[&str],
    target: LogPosition,
    timeout: Duration,
) -> Result<bool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut receivers: Vec<_> = names.iter().filter_map(|n| progress.subscribe(n)).collect();
    // Only when every projector waited on reports here may their in-memory progress answer.
    let local = receivers.len() == names.len();
    let mut last_read = None::<tokio::time::Instant>;
    loop {
        if local && receivers.iter().all(|r| *r.borrow() >= target) {
            return Ok(true);
        }
        // Projectors running here publish their progress at once; the committed checkpoints
        // (projectors in another node, or one that was here before its lease moved) are read
        // at most every 50 ms per waiter.
        let due = last_read.is_none_or(|at| at.elapsed() >= Duration::from_millis(50));
        if !due {
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            nap(&mut receivers, target).await;
            continue;
        }
        last_read = Some(tokio::time::Instant::now());
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT log_index, position FROM checkpoints WHERE name = ANY($1)")
                .bind(names)
                .fetch_all(pool)
                .await?;
        let done = rows.len() == names.len()
            && rows.iter().all(|&(log_index, position)| {
                LogPosition {
                    log_index,
                    position,
                } >= target
            });
        if done {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        nap(&mut receivers, target).await;
    }
}

/// Waits for a lagging local projector to move, or 20 ms.
async fn nap(receivers: &mut [watch::Receiver<LogPosition>], target: LogPosition) {
    let nap = Duration::from_millis(20);
    match receivers.iter_mut().find(|r| *r.borrow() < target) {
        Some(receiver) => {
            let _ = tokio::time::timeout(nap, receiver.changed()).await;
        }
        None => tokio::time::sleep(nap).await,
    }
}
