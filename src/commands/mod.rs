//! The command side: load aggregates (cache, snapshot + tail), decide, append atomically,
//! retry a bounded number of times on a version conflict, then give up with a conflict.

pub mod accounts;
pub mod addresses;
mod cache;
pub mod cart;
pub mod catalog;
mod context;
mod error;
pub mod orders;
pub mod payments;
pub mod payouts;
pub mod stock;
mod unit;

use std::sync::Arc;

use tillroll_events::StreamId;

use crate::store::{EventStore, snapshot};

pub use cache::AggregateCache;
pub use context::CommandContext;
pub use error::{CommandError, Rejection, RejectionKind, is_retryable};
pub use unit::{SideWrite, UnitOfWork};

/// What a decision returns: everything it keeps across an `.await` is owned, except the
/// unit of work.
pub type Decision<'u, T> = futures_util::future::BoxFuture<'u, Result<T, CommandError>>;

/// Gives a decision closure its higher-ranked type where inference needs the hint:
/// `decision(move |uow| Box::pin(async move { … }))`.
pub fn decision<T, F>(decide: F) -> F
where
    F: for<'u, 'w> FnMut(&'u mut UnitOfWork<'w>) -> Decision<'u, T>,
{
    decide
}

/// Reloading and re-deciding this many times on a version conflict before answering 409.
/// Within a process commands on one stream queue behind a lock and rarely conflict; between
/// nodes they race optimistically, so a hot cart or product needs room (with jittered
/// backoff, below) before a conflict is the answer.
const MAX_ATTEMPTS: usize = 24;

#[derive(Debug, Clone)]
pub struct Outcome<T> {
    pub value: T,
    /// The position of the last event appended; `None` when the command decided nothing
    /// needed to change.
    pub position: Option<i64>,
    pub event_ids: Vec<uuid::Uuid>,
}

#[derive(Clone)]
pub struct Commands {
    store: EventStore,
    cache: Arc<AggregateCache>,
    /// The platform's share of delivered lines (`TILLROLL_PLATFORM_FEE_BPS`).
    platform_fee_bps: u32,
}

impl Commands {
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            cache: Arc::new(AggregateCache::default()),
            platform_fee_bps: 0,
        }
    }

    /// Sellers earn their lines less `bps` basis points.
    pub fn with_platform_fee(mut self, bps: u32) -> Self {
        self.platform_fee_bps = bps;
        self
    }

    pub fn platform_fee_bps(&self) -> u32 {
        self.platform_fee_bps
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Runs `decide` in a unit of work and appends what it decided in one transaction.
    /// `lock` names the streams whose commands must queue behind each other in this process
    /// (every stream the command appends to, as far as it knows them up front). `decide` may
    /// run more than once (after a version conflict), so it must own what it captures.
    pub async fn run<T>(
        &self,
        ctx: &CommandContext,
        lock: &[StreamId],
        mut decide: impl AsyncFnMut(&mut UnitOfWork<'_>) -> Result<T, CommandError>,
    ) -> Result<Outcome<T>, CommandError> {
        let _guards = self.lock(lock).await;
        for attempt in 1.. {
            let mut unit = UnitOfWork::new(&self.store, &self.cache, ctx);
            let decided = decide(&mut unit).await;
            if let Some(outcome) = self.settle(unit, decided, attempt).await? {
                return Ok(outcome);
            }
        }
        unreachable!("the attempts are bounded by settle")
    }

    /// As [`Commands::run`], for a decision that returns a boxed future
    /// (`decision(move |uow| Box::pin(async move { … }))`): where an async closure borrows
    /// from its captures, rustc cannot yet prove its future `Send` for every lifetime of the
    /// unit of work (rust-lang/rust#110338), and axum handlers need that.
    pub async fn run_boxed<T, F>(
        &self,
        ctx: &CommandContext,
        lock: &[StreamId],
        mut decide: F,
    ) -> Result<Outcome<T>, CommandError>
    where
        F: for<'u, 'w> FnMut(&'u mut UnitOfWork<'w>) -> Decision<'u, T>,
    {
        let _guards = self.lock(lock).await;
        for attempt in 1.. {
            let mut unit = UnitOfWork::new(&self.store, &self.cache, ctx);
            let decided = decide(&mut unit).await;
            if let Some(outcome) = self.settle(unit, decided, attempt).await? {
                return Ok(outcome);
            }
        }
        unreachable!("the attempts are bounded by settle")
    }

    async fn lock(&self, lock: &[StreamId]) -> Vec<tokio::sync::OwnedMutexGuard<()>> {
        let names: Vec<String> = lock.iter().map(|s| s.as_str().to_owned()).collect();
        self.cache.lock_streams(&names).await
    }

    /// Commits a decided unit: the outcome, `None` to decide again after a version conflict,
    /// or the conflict once the attempts are spent. A rejection decided on cached state is
    /// answered only once the cache is confirmed current (DESIGN §8: another node's write is
    /// never invisible to a decision); else it is decided again from the store.
    async fn settle<T>(
        &self,
        unit: UnitOfWork<'_>,
        decided: Result<T, CommandError>,
        attempt: usize,
    ) -> Result<Option<Outcome<T>>, CommandError> {
        let committed = match decided {
            Ok(value) => unit.commit().await.map(|committed| (value, committed)),
            Err(refusal) if refusal.is_refusal() => match unit.confirm().await? {
                true => return Err(refusal),
                false => Err(CommandError::Conflict("a cached stream".to_owned())),
            },
            Err(error) => return Err(error),
        };
        match committed {
            Ok((value, committed)) => {
                self.after_commit(&committed.snapshots).await;
                Ok(Some(Outcome {
                    value,
                    position: committed.position,
                    event_ids: committed.event_ids,
                }))
            }
            Err(CommandError::Conflict(stream)) if attempt < MAX_ATTEMPTS => {
                tracing::debug!(%stream, attempt, "version conflict; deciding again");
                // The first retry is at once (a stale cache entry); later ones back off with
                // jitter, so writers racing from several nodes spread out.
                if attempt > 1 {
                    let cap = 1u64 << attempt.min(6);
                    let pause = rand::random::<u64>() % (cap * 1000);
                    tokio::time::sleep(std::time::Duration::from_micros(pause)).await;
                }
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Snapshots are an optimisation: a failure to write one is logged and forgotten.
    async fn after_commit(&self, snapshots: &[(String, i64, i32, serde_json::Value)]) {
        for (stream, version, state_version, state) in snapshots {
            if let Err(error) =
                snapshot::save(self.store.pool(), stream, *version, *state_version, state).await
            {
                tracing::warn!(%error, stream, "snapshot not saved");
            }
        }
    }
}
