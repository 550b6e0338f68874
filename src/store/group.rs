//! Group commit: the rows of concurrent appends go into the database together, in one
//! multi-row INSERT and one commit (one WAL flush, one log-queue entry, one sequencer step),
//! while each append keeps its own expected versions and its own answer.
//!
//! An append that needs no transaction of its own (no personal data to seal, no `Any`
//! stream, no side rows) is prepared by its caller — heads checked, rows hashed — and handed
//! to a committer. A committer takes whatever appends are waiting when it is free (at least
//! one: an idle store adds no wait), inserts them in one statement and answers each. The
//! statement is atomic, so a batch is all or nothing; when it fails (a stale cached head, a
//! concurrent writer on one of its streams, a decision's read that moved on), each append of
//! the batch is tried again alone, in order, on the same connection: a conflict fails only
//! its own command, exactly as if the appends had come one by one. Nothing is answered before
//! its rows are committed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use sqlx::PgPool;
use tokio::sync::{Mutex, OwnedRwLockWriteGuard, RwLock, mpsc, oneshot};

use super::append::{Rows, insert_rows};

/// Committers working at once: while one batch is in the database the next is gathered.
const COMMITTERS: usize = 4;
/// Rows per batch at most (a statement's arrays stay small, a failed batch cheap to redo).
const MAX_ROWS: usize = 512;

/// The positions of an append's rows once committed; `None` when one of its reads moved on.
pub(crate) type Inserted = Result<Option<Vec<i64>>, sqlx::Error>;

/// One prepared append: its rows, and the streams its decision read at a version.
struct Append {
    rows: Rows,
    reads: Vec<(String, i64)>,
}

struct Job {
    append: Append,
    reply: oneshot::Sender<Answer>,
}

enum Answer {
    Inserted(Inserted),
    /// The committer has no connection: the caller inserts alone, and meets the database's
    /// own error (an outage answers 503 as it would without batching).
    Alone(Box<Append>),
}

/// What the committers share: their queue, the count of appends not yet answered, and the
/// gate a test closes to make a batch.
struct Committers {
    queue: Mutex<mpsc::UnboundedReceiver<Job>>,
    waiting: AtomicUsize,
    gate: Arc<RwLock<()>>,
}

#[derive(Default)]
pub(crate) struct GroupCommit {
    /// The committers' end of the queue, and theirs (started on first use).
    started: OnceLock<(mpsc::UnboundedSender<Job>, Arc<Committers>)>,
}

impl GroupCommit {
    /// Inserts `rows` (confirming `reads`) together with whatever other appends are waiting.
    pub(crate) async fn insert(
        &self,
        pool: &PgPool,
        rows: Rows,
        reads: Vec<(String, i64)>,
    ) -> Inserted {
        let (queue, committers) = self.started.get_or_init(|| start(pool));
        let (reply, answer) = oneshot::channel();
        committers.waiting.fetch_add(1, Ordering::SeqCst);
        let append = match queue.send(Job {
            append: Append { rows, reads },
            reply,
        }) {
            Ok(()) => match answer.await {
                Ok(Answer::Inserted(inserted)) => return inserted,
                Ok(Answer::Alone(append)) => *append,
                // A committer that vanished mid-batch (its runtime stopping) leaves the
                // outcome unknown, as a connection lost at commit does.
                Err(_) => return Err(sqlx::Error::WorkerCrashed),
            },
            // The committers are gone (their runtime shut down).
            Err(mpsc::error::SendError(job)) => {
                committers.waiting.fetch_sub(1, Ordering::SeqCst);
                job.append
            }
        };
        let mut conn = pool.acquire().await?;
        insert_rows(&mut conn, &append.rows, &append.reads).await
    }

    pub(crate) async fn hold(&self, pool: &PgPool) -> GroupHold {
        let (_, committers) = self.started.get_or_init(|| start(pool));
        GroupHold {
            _gate: committers.gate.clone().write_owned().await,
            committers: committers.clone(),
        }
    }
}

/// Holds the committers (for tests): appends queue until it is dropped, and the next batch
/// takes every one of them that fits.
pub struct GroupHold {
    _gate: OwnedRwLockWriteGuard<()>,
    committers: Arc<Committers>,
}

impl GroupHold {
    /// Appends handed to the committers and not yet answered.
    pub fn queued(&self) -> usize {
        self.committers.waiting.load(Ordering::SeqCst)
    }
}

fn start(pool: &PgPool) -> (mpsc::UnboundedSender<Job>, Arc<Committers>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let committers = Arc::new(Committers {
        queue: Mutex::new(receiver),
        waiting: AtomicUsize::new(0),
        gate: Arc::default(),
    });
    for _ in 0..COMMITTERS {
        tokio::spawn(committer(pool.clone(), committers.clone()));
    }
    (sender, committers)
}

async fn committer(pool: PgPool, committers: Arc<Committers>) {
    while let Some(batch) = gather(&committers).await {
        crate::metrics::append_batch(batch.len());
        committers.waiting.fetch_sub(batch.len(), Ordering::SeqCst);
        commit(&pool, batch).await;
    }
}

/// The next batch: the first waiting append, and the others already waiting behind it.
async fn gather(committers: &Committers) -> Option<Vec<Job>> {
    let mut queue = committers.queue.lock().await;
    let first = queue.recv().await?;
    drop(committers.gate.read().await);
    let mut rows = first.append.rows.len();
    let mut batch = vec![first];
    while rows < MAX_ROWS {
        match queue.try_recv() {
            Ok(job) => {
                rows += job.append.rows.len();
                batch.push(job);
            }
            Err(_) => break,
        }
    }
    Some(batch)
}
async fn commit(pool: &PgPool, batch: Vec<Job>) {
    let Ok(mut conn) = pool.acquire().await else {
        for job in batch {
            let _ = job.reply.send(Answer::Alone(Box::new(job.append)));
        }
        return;
    };
    if batch.len() > 1 {
        let mut rows = Rows::default();
        let mut reads = Vec::new();
        for job in &batch {
            rows.extend(&job.append.rows);
            reads.extend(job.append.reads.iter().cloned());
        }
        if let Ok(Some(positions)) = insert_rows(&mut conn, &rows, &reads).await {
            let mut positions = positions.into_iter();
            for job in batch {
                let mine = positions.by_ref().take(job.append.rows.len()).collect();
                let _ = job.reply.send(Answer::Inserted(Ok(Some(mine))));
            }
            return;
        }
    }
    // Alone (or again alone): each append meets its own conflict.
    for job in batch {
        let inserted = insert_rows(&mut conn, &job.append.rows, &job.append.reads).await;
        let _ = job.reply.send(Answer::Inserted(inserted));
    }
}
