//! Group commit: the rows of concurrent appends go into the database together, in one
//! multi-row INSERT and one commit (one WAL flush, one log-queue entry, one sequencer step),
//! while each append keeps its own expected versions and its own answer.
//!
//! An append that needs no transaction of its own (no personal data to seal, no `Any`
//! stream, no side rows) is prepared by its caller — heads checked, rows hashed — and handed
//! to a committer. A committer takes whatever appends are waiting when it is free (at least
//! one: an idle store adds no wait), inserts them in one statement and answers each. Two
//! appends to one stream never share a batch (the second waits for the next), and a batch's
//! rows go in in (stream, version) order, the order every append takes its index entries in,
//! so batches cannot deadlock with each other or with transactional appends. The statement is
//! atomic, so a batch is all or nothing; when it fails (a stale cached head, another node's
//! writer on one of its streams, a decision's read that moved on), each append of the batch is
//! tried again alone on the same connection: a conflict fails only its own command, exactly as
//! if the appends had come one by one. Nothing is answered before its rows are committed.
//!
//! A decision's `reads` are confirmed on the statement's snapshot, as before batching: they
//! guard against a stale cache, not against write skew between concurrent commands (the
//! invariants that matter — stock, money — live in streams that the commands append to).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use sqlx::PgPool;
use tokio::sync::{Mutex, OwnedRwLockWriteGuard, RwLock, mpsc, oneshot};
use uuid::Uuid;

use super::append::{Rows, insert_rows};

/// Committers working at once: while one batch is in the database the next is gathered.
const COMMITTERS: usize = 4;
/// Rows per batch at most (a statement's arrays stay small, a failed batch cheap to redo).
const MAX_ROWS: usize = 512;
/// Appends waiting at most; beyond, an append goes in alone (and meets the pool's own
/// acquire timeout, so an overloaded node still sheds load with a 503).
const QUEUE: usize = 4096;

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
    /// The committer could not get a connection: the caller inserts alone, and meets the
    /// database's own error.
    Alone(Box<Append>),
}

/// The committers' end of the queue, and the appends held back for the next batch because
/// the batch already wrote their stream. Only the committer tasks own it: when they are gone
/// (their runtime shut down), the queue closes and appends go in alone.
struct Inbox {
    receiver: mpsc::Receiver<Job>,
    deferred: VecDeque<Job>,
}

/// What the committers share with the store: the count of appends not yet taken, and the gate
/// a test closes to make a batch.
#[derive(Default)]
struct Shared {
    waiting: AtomicUsize,
    gate: Arc<RwLock<()>>,
}

#[derive(Default)]
pub(crate) struct GroupCommit {
    started: OnceLock<(mpsc::Sender<Job>, Arc<Shared>)>,
}

impl GroupCommit {
    /// Inserts `rows` (confirming `reads`) together with whatever other appends are waiting.
    pub(crate) async fn insert(
        &self,
        pool: &PgPool,
        rows: Rows,
        reads: Vec<(String, i64)>,
    ) -> Inserted {
        let (queue, shared) = self.started.get_or_init(|| start(pool));
        let (reply, answer) = oneshot::channel();
        shared.waiting.fetch_add(1, Ordering::SeqCst);
        let job = Job {
            append: Append { rows, reads },
            reply,
        };
        let append = match queue.try_send(job) {
            Ok(()) => match answer.await {
                Ok(Answer::Inserted(inserted)) => return inserted,
                Ok(Answer::Alone(append)) => *append,
                // A committer that vanished mid-batch (its runtime stopping) leaves the
                // outcome unknown, as a connection lost at commit does.
                Err(_) => return Err(sqlx::Error::WorkerCrashed),
            },
            Err(mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job)) => {
                shared.waiting.fetch_sub(1, Ordering::SeqCst);
                job.append
            }
        };
        let mut conn = pool.acquire().await?;
        insert_rows(&mut conn, &append.rows, &append.reads).await
    }

    pub(crate) async fn hold(&self, pool: &PgPool) -> GroupHold {
        let (_, shared) = self.started.get_or_init(|| start(pool));
        GroupHold {
            _gate: shared.gate.clone().write_owned().await,
            shared: shared.clone(),
        }
    }
}

/// Holds the committers (for tests): appends queue until it is dropped, and the next batch
/// takes every one of them that fits.
pub struct GroupHold {
    _gate: OwnedRwLockWriteGuard<()>,
    shared: Arc<Shared>,
}

impl GroupHold {
    /// Appends handed to the committers and not yet taken into a batch.
    pub fn queued(&self) -> usize {
        self.shared.waiting.load(Ordering::SeqCst)
    }
}

fn start(pool: &PgPool) -> (mpsc::Sender<Job>, Arc<Shared>) {
    let (sender, receiver) = mpsc::channel(QUEUE);
    let inbox = Arc::new(Mutex::new(Inbox {
        receiver,
        deferred: VecDeque::new(),
    }));
    let shared = Arc::new(Shared::default());
    for _ in 0..COMMITTERS {
        tokio::spawn(committer(pool.clone(), inbox.clone(), shared.clone()));
    }
    (sender, shared)
}

async fn committer(pool: PgPool, inbox: Arc<Mutex<Inbox>>, shared: Arc<Shared>) {
    while let Some(batch) = gather(&inbox, &shared).await {
        crate::metrics::append_batch(batch.len());
        commit(&pool, batch).await;
    }
}

/// The next batch: the first waiting append, and the others already waiting behind it that
/// write none of its streams (those wait for the next batch).
async fn gather(inbox: &Mutex<Inbox>, shared: &Shared) -> Option<Vec<Job>> {
    let mut inbox = inbox.lock().await;
    let first = match inbox.deferred.pop_front() {
        Some(job) => job,
        None => inbox.receiver.recv().await?,
    };
    drop(shared.gate.read().await);
    let mut rows = first.append.rows.len();
    let mut streams: HashSet<String> = first.append.rows.streams().map(str::to_owned).collect();
    let mut batch = vec![first];
    let mut later = VecDeque::new();
    while rows < MAX_ROWS {
        let next = match inbox.deferred.pop_front() {
            Some(job) => job,
            None => match inbox.receiver.try_recv() {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        if next.append.rows.streams().any(|s| streams.contains(s)) {
            later.push_back(next);
            continue;
        }
        rows += next.append.rows.len();
        streams.extend(next.append.rows.streams().map(str::to_owned));
        batch.push(next);
    }
    later.append(&mut inbox.deferred);
    inbox.deferred = later;
    shared.waiting.fetch_sub(batch.len(), Ordering::SeqCst);
    Some(batch)
}

async fn commit(pool: &PgPool, batch: Vec<Job>) {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(sqlx::Error::PoolTimedOut) => {
            for job in batch {
                let _ = job
                    .reply
                    .send(Answer::Inserted(Err(sqlx::Error::PoolTimedOut)));
            }
            return;
        }
        Err(_) => {
            for job in batch {
                let _ = job.reply.send(Answer::Alone(Box::new(job.append)));
            }
            return;
        }
    };
    if batch.len() > 1 {
        let mut rows = Rows::default();
        let mut reads = Vec::new();
        for job in &batch {
            rows.extend(&job.append.rows);
            reads.extend(job.append.reads.iter().cloned());
        }
        let rows = rows.in_stream_order();
        if let Ok(Some(positions)) = insert_rows(&mut conn, &rows, &reads).await {
            let positions: HashMap<Uuid, i64> =
                rows.event_ids().iter().copied().zip(positions).collect();
            for job in batch {
                let mine = job
                    .append
                    .rows
                    .event_ids()
                    .iter()
                    .filter_map(|id| positions.get(id).copied())
                    .collect();
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
