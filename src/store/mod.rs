//! The event store on Postgres: append with expected versions (one or many streams in one
//! transaction), read a stream, read the whole log in a gap-safe commit order, subscribe,
//! snapshots, idempotency records, the per-stream hash chain, and the sealing of personal
//! data (`vault`).

mod append;
mod feed;
mod group;
pub mod hash;
mod heads;
pub mod idempotency;
mod read;
mod sequencer;
pub mod snapshot;
mod subscribe;
pub mod vault;
pub mod verify;

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::Notify;

pub use append::{AppendResult, ExpectedVersion, NewEvent, StreamAppend};
pub use group::GroupHold;
pub use read::{Located, LogHead};
pub use subscribe::Subscription;

/// The channel each process NOTIFYs after its commits (the payload names the store that
/// appended). A hint only: readers always re-read from their own position and poll slowly as
/// a fallback.
pub const NOTIFY_CHANNEL: &str = "tillroll_events";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer got there first: the stream is not at the expected version.
    #[error("stream {stream_id} is at version {actual:?}, expected {expected:?}")]
    Conflict {
        stream_id: String,
        expected: ExpectedVersion,
        actual: Option<i64>,
    },
    #[error("event data could not be decoded: {0}")]
    Decode(#[from] tillroll_events::DecodeError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A committed event still waits for the sequencer (it is stalled or far behind).
    #[error("the event is not yet in the log's order")]
    Unsequenced,
}

impl StoreError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}

/// A cheap-to-clone handle on the log.
#[derive(Clone)]
pub struct EventStore {
    pool: PgPool,
    /// Last version and hash of recently appended streams, so most appends need no read.
    heads: Arc<heads::HeadCache>,
    /// Woken when events got their log index here, and by the LISTEN task when another
    /// process sequenced some.
    wake: Arc<Notify>,
    /// Holds a permit when this process sequenced events since its last `NOTIFY`.
    appended: Arc<Notify>,
    /// Gives committed events their log index (started on the first append).
    sequencer: Arc<sequencer::Sequencer>,
    /// Commits concurrent appends together (started on the first append).
    group: Arc<group::GroupCommit>,
    /// The newest events the projectors read, shared by all of them.
    tail: Arc<feed::Tail>,
    /// The payload of this store's notifications, so its listener can ignore its own echo
    /// (local subscribers were woken at the commit already).
    origin: Arc<str>,
}

impl EventStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            heads: Arc::new(heads::HeadCache::default()),
            wake: Arc::new(Notify::new()),
            appended: Arc::new(Notify::new()),
            sequencer: Arc::default(),
            group: Arc::default(),
            tail: Arc::default(),
            origin: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Holds this store's group commit until the guard drops: appends queue, then go in as
    /// one batch (tests use it to make a batch happen).
    #[doc(hidden)]
    pub async fn hold_group_commit(&self) -> GroupHold {
        self.group.hold(&self.pool).await
    }

    /// A handle that is notified when new events may be readable.
    pub fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Tells other processes now that this one appended (their sequencers then index it, and
    /// their readers look): for short-lived processes (the CLI) that run no listener task.
    pub async fn announce(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(&*self.origin)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Tells other processes about the events this one sequenced, and listens for theirs (and
    /// for appends of processes that run no sequencer). Reconnects on failure; a lost
    /// notification only costs the subscribers one slow poll.
    ///
    /// One `NOTIFY` goes out per burst of local commits, from its own short transaction: a
    /// `NOTIFY` inside an append would hold Postgres's database-wide notification lock
    /// through the append's commit (and its WAL flush), one appending commit at a time.
    pub fn spawn_listener(&self) -> tokio::task::JoinHandle<()> {
        let listen = {
            let store = self.clone();
            let (wake, origin) = (self.wake.clone(), self.origin.clone());
            // A connection of its own, not one of the request pool's: a listener holds its
            // connection for good (counted in `app::BACKGROUND_CONNECTIONS`).
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with((*self.pool.connect_options()).clone());
            async move {
                loop {
                    match sqlx::postgres::PgListener::connect_with(&pool).await {
                        Ok(mut listener) => {
                            if listener.listen(NOTIFY_CHANNEL).await.is_ok() {
                                // Whatever was announced while not listening: read now.
                                wake.notify_waiters();
                                store.sequencer_kick();
                                while let Ok(notification) = listener.recv().await {
                                    if notification.payload() != &*origin {
                                        wake.notify_waiters();
                                        store.sequencer_kick();
                                    }
                                }
                            }
                        }
                        Err(error) => tracing::warn!(%error, "event listener cannot connect"),
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        };
        let store = self.clone();
        let notify = async move {
            loop {
                store.appended.notified().await;
                if let Err(error) = store.announce().await {
                    tracing::debug!(%error, "notifying other processes of appends");
                    // Still owed: try again after the pause.
                    store.appended.notify_one();
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        };
        tokio::spawn(async move {
            tokio::join!(listen, notify);
        })
    }
}
