//! Per-stream locks and a cache of aggregate states, both bounded.
//!
//! Commands on the same stream queue behind one lock within a process, so a hot product
//! under a hundred concurrent checkouts costs waiting, not a cascade of version conflicts.
//! The cached state is only a starting point: the append's expected version still guards
//! against writers in other processes, and a conflict evicts the entry.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

const MAX_ENTRIES: usize = 50_000;

#[derive(Clone)]
pub struct Cached {
    pub version: i64,
    pub state: Arc<dyn Any + Send + Sync>,
}

pub struct AggregateCache {
    /// Bounded with real eviction (moka's TinyLFU): past the bound the least useful states
    /// go one at a time, never the whole cache at once.
    states: moka::sync::Cache<String, Cached>,
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

impl Default for AggregateCache {
    fn default() -> Self {
        Self {
            states: moka::sync::Cache::new(MAX_ENTRIES as u64),
            locks: Mutex::default(),
        }
    }
}

impl AggregateCache {
    pub fn get(&self, stream: &str) -> Option<Cached> {
        self.states.get(stream)
    }

    pub fn put(&self, stream: &str, cached: Cached) {
        self.states.insert(stream.to_owned(), cached);
    }

    /// Forgets every cached state (after an erasure: cached states may hold the person's
    /// plaintext).
    pub fn clear(&self) {
        self.states.invalidate_all();
    }

    pub fn evict(&self, stream: &str) {
        self.states.invalidate(stream);
    }

    /// Locks the given streams in a global (sorted) order, so two commands touching the same
    /// streams can never deadlock.
    pub async fn lock_streams(&self, streams: &[String]) -> Vec<OwnedMutexGuard<()>> {
        let mut sorted: Vec<&String> = streams.iter().collect();
        sorted.sort();
        sorted.dedup();
        let mutexes: Vec<_> = {
            let mut locks = self.locks.lock().expect("lock table");
            if locks.len() >= MAX_ENTRIES {
                locks.retain(|_, m| Arc::strong_count(m) > 1);
            }
            sorted
                .iter()
                .map(|s| locks.entry((*s).clone()).or_default().clone())
                .collect()
        };
        let mut guards = Vec::with_capacity(mutexes.len());
        for mutex in mutexes {
            guards.push(mutex.lock_owned().await);
        }
        guards
    }
}
