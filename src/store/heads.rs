//! A bounded cache of stream heads (last version and hash), filled only after commits.
//!
//! Events never change, so the hash of a stream's version n is the same for ever: a cached
//! head can be stale (another process appended since) but never wrong about version n. A
//! stale head makes the insert collide with the existing version n + 1, which is the
//! conflict the caller would have got anyway, and the entry is evicted.
//!
//! Bounded with real eviction (moka's TinyLFU): past the bound the least useful heads go,
//! one at a time, instead of the whole cache at once.

const MAX_STREAMS: u64 = 100_000;

#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub version: i64,
    pub hash: Vec<u8>,
}

pub(crate) struct HeadCache {
    heads: moka::sync::Cache<String, Head>,
}

impl Default for HeadCache {
    fn default() -> Self {
        Self {
            heads: moka::sync::Cache::new(MAX_STREAMS),
        }
    }
}

impl HeadCache {
    pub fn get(&self, stream: &str) -> Option<Head> {
        self.heads.get(stream)
    }

    /// Keeps `head` unless a later one is known already.
    pub fn put(&self, stream: &str, head: Head) {
        if self
            .heads
            .get(stream)
            .is_some_and(|known| known.version >= head.version)
        {
            return;
        }
        self.heads.insert(stream.to_owned(), head);
    }

    pub fn evict(&self, stream: &str) {
        self.heads.invalidate(stream);
    }
}
