//! A bounded cache of stream heads (last version and hash), filled only after commits.
//!
//! Events never change, so the hash of a stream's version n is the same for ever: a cached
//! head can be stale (another process appended since) but never wrong about version n. A
//! stale head makes the insert collide with the existing version n + 1, which is the
//! conflict the caller would have got anyway, and the entry is evicted.

use std::collections::HashMap;
use std::sync::Mutex;

const MAX_STREAMS: usize = 100_000;

#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub version: i64,
    pub hash: Vec<u8>,
}

#[derive(Default)]
pub(crate) struct HeadCache {
    heads: Mutex<HashMap<String, Head>>,
}

impl HeadCache {
    pub fn get(&self, stream: &str) -> Option<Head> {
        self.heads.lock().expect("head cache").get(stream).cloned()
    }

    pub fn put(&self, stream: &str, head: Head) {
        let mut heads = self.heads.lock().expect("head cache");
        if heads.len() >= MAX_STREAMS && !heads.contains_key(stream) {
            heads.clear();
        }
        match heads.get_mut(stream) {
            Some(known) if known.version >= head.version => {}
            Some(known) => *known = head,
            None => {
                heads.insert(stream.to_owned(), head);
            }
        }
    }

    pub fn evict(&self, stream: &str) {
        self.heads.lock().expect("head cache").remove(stream);
    }
}
