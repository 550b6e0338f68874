//! Offline verification of an export (`tillroll audit verify-export`): no database, no secret —
//! an NDJSON export, the public key, and signed tree heads kept from before.
//!
//! The export must be the log from its start (log index 0), in order, unfiltered. Every line's
//! stored form is rebuilt (its `sealed` fields over `data`), each stream's hash chain
//! recomputed, every leaf hashed, and the root at each given head's size compared with the
//! head's signed root. A head larger than the export means events are missing from it.

use std::collections::HashMap;
use std::io::BufRead;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use super::export::ExportedEvent;
use super::heads::TreeHead;
use super::merkle::Frontier;
use crate::store::hash::{self, GENESIS, HashInput};
use crate::store::verify::ChainFailure;

#[derive(Debug, Clone, Serialize)]
pub struct OfflineReport {
    pub ok: bool,
    pub events_checked: u64,
    pub streams_checked: u64,
    /// The export's own tree: its size and root (compare with a published head).
    pub tree_size: u64,
    pub root_hash: String,
    /// The tree heads the export was checked against, by size.
    pub heads_checked: Vec<i64>,
    pub failures: Vec<ChainFailure>,
}

/// Tree heads from a file: one head as JSON, a JSON array of heads, a page of
/// `GET /audit/tree-heads` (`{items: [...]}`), or NDJSON of heads.
pub fn parse_heads(text: &str) -> Result<Vec<TreeHead>, String> {
    let value: Result<serde_json::Value, _> = serde_json::from_str(text);
    let heads = match value {
        Ok(serde_json::Value::Array(items)) => items,
        Ok(serde_json::Value::Object(mut object)) if object.contains_key("items") => {
            match object.remove("items") {
                Some(serde_json::Value::Array(items)) => items,
                _ => return Err("`items` is not a list of tree heads".into()),
            }
        }
        Ok(one) => vec![one],
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("not JSON or NDJSON of tree heads: {e}"))?,
    };
    heads
        .into_iter()
        .map(|h| serde_json::from_value(h).map_err(|e| format!("not a tree head: {e}")))
        .collect()
}

fn failure(stream_id: &str, version: i64, log_index: Option<i64>, reason: String) -> ChainFailure {
    ChainFailure {
        stream_id: stream_id.to_owned(),
        version,
        reason,
        log_index,
    }
}

pub fn verify_export(
    lines: impl BufRead,
    key: &VerifyingKey,
    heads: &[TreeHead],
) -> std::io::Result<OfflineReport> {
    let mut failures = Vec::new();
    let mut heads: Vec<&TreeHead> = heads.iter().collect();
    heads.sort_by_key(|h| h.tree_size);
    for head in &heads {
        if !head.verify(key) {
            failures.push(failure(
                "log",
                0,
                Some(head.tree_size - 1),
                format!(
                    "tree head of size {}: its signature is not this public key's over its \
                     content",
                    head.tree_size
                ),
            ));
        }
    }
    let mut pending = heads.into_iter().peekable();
    let mut checked = Vec::new();
    let mut chains: HashMap<String, (i64, Vec<u8>)> = HashMap::new();
    let mut frontier = Frontier::default();
    let mut events = 0u64;
    for (n, line) in lines.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Some(stored) = serde_json::from_str::<ExportedEvent>(&line)
            .ok()
            .and_then(|e| e.stored())
        else {
            failures.push(failure(
                "log",
                0,
                Some(frontier.size() as i64),
                format!("line {} is not an exported event", n + 1),
            ));
            break;
        };
        if stored.log_index != frontier.size() as i64 {
            failures.push(failure(
                &stored.stream_id,
                stored.version,
                Some(stored.log_index),
                format!(
                    "line {} has log index {} where {} belongs: events are missing or out of \
                     order (an export to check must be the whole log from its start)",
                    n + 1,
                    stored.log_index,
                    frontier.size()
                ),
            ));
            break;
        }
        events += 1;
        let (version, previous) = chains
            .entry(stored.stream_id.clone())
            .or_insert_with(|| (0, GENESIS.to_vec()));
        if *version >= 0 {
            let expected = hash::event_hash(
                previous,
                &HashInput {
                    stream_id: &stored.stream_id,
                    version: stored.version,
                    event_type: &stored.event_type,
                    schema_version: stored.schema_version,
                    data: &stored.data,
                    metadata: &stored.metadata,
                    recorded_at: stored.recorded_at,
                },
            );
            let broken = if stored.version != *version + 1 {
                Some(format!("version {} follows {}", stored.version, version))
            } else if expected != stored.hash {
                Some("hash does not match the event's content or its predecessor".to_owned())
            } else {
                None
            };
            match broken {
                Some(reason) => {
                    failures.push(failure(
                        &stored.stream_id,
                        stored.version,
                        Some(stored.log_index),
                        reason,
                    ));
                    // One failure per stream: the rest of its chain follows from a broken link.
                    *version = -1;
                }
                None => {
                    *version = stored.version;
                    previous.clone_from(&stored.hash);
                }
            }
        }
        frontier.push(stored.leaf_hash(), &mut Vec::new());
        while let Some(head) = pending.next_if(|h| h.tree_size <= frontier.size() as i64) {
            if head.tree_size < frontier.size() as i64 {
                continue;
            }
            checked.push(head.tree_size);
            if head.root() != Some(frontier.root()) {
                failures.push(failure(
                    "log",
                    0,
                    Some(head.tree_size - 1),
                    format!(
                        "the export's first {} events do not give the root of the tree head of \
                         that size: an event up to log index {} was edited, deleted, inserted \
                         or reordered",
                        head.tree_size,
                        head.tree_size - 1
                    ),
                ));
            } else if head.log_position != stored.position {
                failures.push(failure(
                    &stored.stream_id,
                    stored.version,
                    Some(stored.log_index),
                    format!(
                        "tree head of size {} names position {}, the export {}",
                        head.tree_size, head.log_position, stored.position
                    ),
                ));
            }
        }
    }
    for head in pending {
        failures.push(failure(
            "log",
            0,
            Some(head.tree_size - 1),
            format!(
                "the tree head of size {} covers more events than the export holds ({}): \
                 events were deleted from the log's end or left out of the export",
                head.tree_size,
                frontier.size()
            ),
        ));
    }
    Ok(OfflineReport {
        ok: failures.is_empty(),
        events_checked: events,
        streams_checked: chains.len() as u64,
        tree_size: frontier.size(),
        root_hash: hex::encode(frontier.root()),
        heads_checked: checked,
        failures,
    })
}
