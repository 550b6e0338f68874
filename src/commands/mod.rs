//! The command side: load aggregates (cache, snapshot + tail), decide, append atomically,
//! retry a bounded number of times on a version conflict, then give up with a conflict.
//! Reactors (payment, expiry, reconciliation) live beside the handlers that they drive.

mod cache;
pub mod cart;
mod context;
mod error;
pub mod orders;
pub mod payments;
pub mod reactors;
mod unit;

use std::sync::Arc;

use tillroll_events::{LogPosition, StreamId};

use crate::store::{EventStore, snapshot};

pub use cache::AggregateCache;
pub use context::CommandContext;
pub use error::{CommandError, Rejection, RejectionKind};
pub use unit::{SideWrite, UnitOfWork};

/// Reloading and re-deciding this many times on a version conflict before answering 409.
const MAX_ATTEMPTS: usize = 5;

#[derive(Debug, Clone)]
pub struct Outcome<T> {
    pub value: T,
    /// The last event appended; `None` when the command decided nothing needed to change.
    pub position: Option<LogPosition>,
    pub event_ids: Vec<uuid::Uuid>,
}

#[derive(Clone)]
pub struct Commands {
    store: EventStore,
    cache: Arc<AggregateCache>,
}

impl Commands {
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            cache: Arc::new(AggregateCache::default()),
        }
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Runs `decide` in a unit of work and appends what it decided in one transaction.
    /// `lock` names the streams whose commands must queue behind each other in this process
    /// (every stream the command appends to, as far as it knows them up front).
    pub async fn run<T>(
        &self,
        ctx: &CommandContext,
        lock: &[StreamId],
        mut decide: impl AsyncFnMut(&mut UnitOfWork<'_>) -> Result<T, CommandError>,
    ) -> Result<Outcome<T>, CommandError> {
        let names: Vec<String> = lock.iter().map(|s| s.as_str().to_owned()).collect();
        let _guards = self.cache.lock_streams(&names).await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut unit = UnitOfWork::new(&self.store, &self.cache, ctx);
            let value = decide(&mut unit).await?;
            match unit.commit().await {
                Ok(committed) => {
                    self.after_commit(&committed.snapshots).await;
                    return Ok(Outcome {
                        value,
                        position: committed.position,
                        event_ids: committed.event_ids,
                    });
                }
                Err(CommandError::Conflict(stream)) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!(%stream, attempt, "version conflict; deciding again");
                }
                Err(error) => return Err(error),
            }
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
