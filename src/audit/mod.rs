//! The auditor's view of the log (DESIGN.md §6): an order's full history through correlation
//! and causation links, its state as of any moment replayed from its events, NDJSON export,
//! and the transparency log — an RFC 9162 Merkle tree over every event in log order, grown by
//! a fenced sealer, with signed tree heads, inclusion and consistency proofs, and verification
//! online (`verify`) and offline (`offline`).

pub mod export;
pub mod heads;
pub mod history;
pub mod leaf;
pub mod merkle;
pub mod offline;
pub mod replay;
pub mod sealer;
pub mod tree;
pub mod verify;

use std::time::Duration;

/// How long an event may wait for a signed tree head before `verify` calls its absence a
/// failure: two lease lifetimes (a takeover), ten sealing intervals, and two seconds.
pub fn sealing_grace(config: &crate::config::Config) -> Duration {
    config.lease_ttl * 2 + config.audit_tree_head_every * 10 + Duration::from_secs(2)
}
