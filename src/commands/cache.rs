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

#[derive(Default)]
pub struct AggregateCache {
    states: Mutex<HashMap<String, Cached>>,
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

impl AggregateCache {
    pub fn get(&self, stream: &str) -> Option<Cached> {
        self.states.lock().expect("cache lock").get(stream).cloned()
    }

    pub fn put(&self, stream: &str, cached: Cached) {
        let mut states = self.states.lock().expect("cache lock");
        if states.len() >= MAX_ENTRIES && !states.contains_key(stream) {
            // Crude but bounded: drop everything rather than track recency on the hot path.
            states.clear();
        }
        states.insert(stream.to_owned(), cached);
    }

    /// Forgets every cached state (after an erasure: cached states may hold the person's
    /// plaintext).
    pub fn clear(&self) {
        self.states.lock().expect("cache lock").clear();
    }

    pub fn evict(&self, stream: &str) {
        self.states.lock().expect("cache lock").remove(stream);
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
