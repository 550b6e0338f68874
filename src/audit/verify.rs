//! The whole audit check (`GET /audit/verify`, `tillroll audit verify`): every hash chain, then
//! the transparency log — the log read in order, its tree recomputed from the events, every
//! stored subtree and every kept tree head checked against the recomputation.
//!
//! Each kept head is checked against the root recomputed from the events at its size (and its
//! signature against its key): that proves every pair of successive heads consistent, and
//! more — both are prefixes of the log as it is now. Every stored subtree (what proofs are
//! served from) is compared with the recomputed one, so a proof the server gives verifies
//! against a kept head exactly when the log is intact.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::Row;

use super::heads::{self, TreeHead};
use super::leaf::{COLUMNS, StoredEvent};
use super::merkle::{Frontier, Hash, NodeId};
use super::tree;
use crate::store::verify::ChainFailure;
use crate::store::{EventStore, StoreError};

/// At most this many failures of the tree are listed (the first ones, in log order).
const MAX_FAILURES: usize = 1000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditReport {
    pub ok: bool,
    pub streams_checked: u64,
    pub events_checked: u64,
    /// The first broken link of each broken chain, then what the tree check found.
    pub failures: Vec<ChainFailure>,
    pub tree: TreeCheck,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct TreeCheck {
    /// Events read in log order.
    pub log_size: i64,
    /// Leaves in the stored tree.
    pub sealed_size: i64,
    /// Kept tree heads checked (signature, root, position).
    pub heads_checked: u64,
    /// The latest kept tree head; `null` before the first.
    pub latest_head: Option<TreeHead>,
}

/// `grace`: how long after its recording an event may wait for a tree head before its absence
/// is a failure (the sealer's interval, a lease takeover, a margin).
pub async fn verify(store: &EventStore, grace: Duration) -> Result<AuditReport, StoreError> {
    let chains = store.verify_chains().await?;
    let mut failures = chains.failures;
    let tree = check_tree(store, grace, &mut failures).await?;
    Ok(AuditReport {
        ok: failures.is_empty(),
        streams_checked: chains.streams_checked,
        events_checked: chains.events_checked,
        failures,
        tree,
    })
}

fn log_failure(log_index: i64, reason: String) -> ChainFailure {
    ChainFailure {
        stream_id: "log".into(),
        version: 0,
        reason,
        log_index: Some(log_index),
    }
}

fn event_failure(event: &StoredEvent, reason: String) -> ChainFailure {
    ChainFailure {
        stream_id: event.stream_id.clone(),
        version: event.version,
        reason,
        log_index: Some(event.log_index),
    }
}

/// Kept heads, oldest first, read a page at a time.
struct Heads {
    page: std::vec::IntoIter<TreeHead>,
    after: i64,
    done: bool,
}

impl Heads {
    async fn next(&mut self, pool: &sqlx::PgPool) -> Result<Option<TreeHead>, sqlx::Error> {
        if let Some(head) = self.page.next() {
            self.after = head.tree_size;
            return Ok(Some(head));
        }
        if self.done {
            return Ok(None);
        }
        let page = heads::ascending(pool, self.after, 1000).await?;
        self.done = page.len() < 1000;
        self.page = page.into_iter();
        match self.page.next() {
            Some(head) => {
                self.after = head.tree_size;
                Ok(Some(head))
            }
            None => Ok(None),
        }
    }
}

/// A stored subtree as read: level, index, hash.
type NodeRow = (i16, i64, Vec<u8>);

/// Stored subtrees in the order a growing tree completes them: by the leaf that completes
/// them, then by level.
struct StoredNodes<'c> {
    rows: futures_util::stream::BoxStream<'c, Result<NodeRow, sqlx::Error>>,
    peeked: Option<(NodeId, Vec<u8>)>,
}

impl StoredNodes<'_> {
    async fn peek(&mut self) -> Result<Option<&(NodeId, Vec<u8>)>, sqlx::Error> {
        if self.peeked.is_none() {
            self.peeked = self.rows.try_next().await?.map(|(level, idx, hash)| {
                (
                    NodeId {
                        level: level as u8,
                        index: idx as u64,
                    },
                    hash,
                )
            });
        }
        Ok(self.peeked.as_ref())
    }
}

fn order_key(id: &NodeId) -> (u64, u8) {
    ((id.index + 1) << id.level, id.level)
}

struct Check<'a> {
    failures: &'a mut Vec<ChainFailure>,
    listed: usize,
}

impl Check<'_> {
    fn fail(&mut self, failure: ChainFailure) {
        if self.listed < MAX_FAILURES {
            self.failures.push(failure);
        }
        self.listed += 1;
    }
}

fn check_head(
    check: &mut Check<'_>,
    head: &TreeHead,
    root: &Hash,
    last: Option<&StoredEvent>,
    keys: &std::collections::HashMap<String, VerifyingKey>,
) {
    let size = head.tree_size;
    let at = |reason: String| log_failure(size - 1, format!("tree head of size {size}: {reason}"));
    match keys.get(&head.key_id) {
        None => check.fail(at(format!("signed by an unknown key {}", head.key_id))),
        Some(key) if !head.verify(key) => {
            check.fail(at("its signature does not match its content".into()));
        }
        Some(_) => {}
    }
    if head.root() != Some(*root) {
        check.fail(at(
            "its root differs from the root of the log's first events as they are now: \
             an event before it was edited, deleted, inserted or reordered"
                .into(),
        ));
    }
    if let Some(last) = last.filter(|e| e.position != head.log_position) {
        check.fail(at(format!(
            "it names position {} as its last event, the log has {}",
            head.log_position, last.position
        )));
    }
}

async fn check_tree(
    store: &EventStore,
    grace: Duration,
    failures: &mut Vec<ChainFailure>,
) -> Result<TreeCheck, StoreError> {
    let pool = store.pool();
    let keys = heads::public_keys(pool).await?;
    let sealed = tree::size(pool).await?;
    let mut report = TreeCheck {
        sealed_size: sealed.unwrap_or(0),
        latest_head: heads::latest(pool).await?,
        ..TreeCheck::default()
    };
    let mut check = Check {
        failures,
        listed: 0,
    };
    if sealed.is_none() {
        check.fail(log_failure(
            0,
            "the tree's state row is gone: the stored tree was deleted".into(),
        ));
    }
    let sealed = sealed.unwrap_or(0) as u64;
    let now = Utc::now();
    let overdue = |at: DateTime<Utc>| (now - at).to_std().is_ok_and(|age| age > grace);

    let mut heads = Heads {
        page: Vec::new().into_iter(),
        after: 0,
        done: false,
    };
    let mut next_head = heads.next(pool).await?;
    let mut nodes_conn = pool.acquire().await?;
    let mut nodes = StoredNodes {
        rows: Box::pin(
            sqlx::query_as::<_, NodeRow>(
                "SELECT level, idx, hash FROM audit_tree_nodes \
                 ORDER BY (idx + 1) << level, level",
            )
            .fetch(&mut *nodes_conn),
        ),
        peeked: None,
    };
    let mut conn = pool.acquire().await?;
    let sql = format!(
        "SELECT {COLUMNS}, l.global_position AS listed_position, \
                e.global_position IS NULL AS missing \
         FROM event_log l LEFT JOIN events e USING (global_position) ORDER BY l.log_index"
    );
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *conn);
    let mut frontier = Frontier::default();
    let mut created = Vec::new();
    let mut uncovered_reported = false;
    let mut previous_head = 0i64;
    while let Some(row) = rows.try_next().await? {
        let index: i64 = row.try_get("log_index")?;
        let expected = frontier.size() as i64;
        if index != expected {
            check.fail(log_failure(
                expected,
                format!(
                    "log indexes {expected}..{index} are missing: events were cut out of the \
                     log; the rest of the log cannot be checked against the tree"
                ),
            ));
            break;
        }
        let event = if row.try_get::<bool, _>("missing")? {
            let position: i64 = row.try_get("listed_position")?;
            check.fail(log_failure(
                index,
                format!("the event at log index {index} (position {position}) was deleted"),
            ));
            None
        } else {
            Some(StoredEvent::from_row(&row)?)
        };
        // A deleted event's sealed leaf stands in for it, so the rest is still checked.
        let sealed_leaf = if (index as u64) < sealed {
            match nodes.peek().await? {
                Some((id, hash))
                    if *id
                        == (NodeId {
                            level: 0,
                            index: index as u64,
                        }) =>
                {
                    hash.clone().try_into().ok()
                }
                _ => None,
            }
        } else {
            None
        };
        let leaf = match (&event, sealed_leaf) {
            (Some(event), _) => event.leaf_hash(),
            (None, Some(leaf)) => leaf,
            (None, None) => [0; 32],
        };
        created.clear();
        frontier.push(leaf, &mut created);
        for (id, hash) in &created {
            if order_key(id).0 > sealed {
                break;
            }
            compare_node(&mut check, &mut nodes, id, hash, event.as_ref(), index).await?;
        }
        while let Some(head) = next_head.as_ref() {
            if head.tree_size > frontier.size() as i64 {
                break;
            }
            if head.tree_size == frontier.size() as i64 {
                check_head(&mut check, head, &frontier.root(), event.as_ref(), &keys);
                if head.previous_tree_size != previous_head {
                    check.fail(log_failure(
                        head.tree_size - 1,
                        format!(
                            "tree head of size {} follows the head of size {}, but the kept \
                             head before it has size {previous_head}: tree heads were deleted",
                            head.tree_size, head.previous_tree_size
                        ),
                    ));
                }
                previous_head = head.tree_size;
                report.heads_checked += 1;
            }
            next_head = heads.next(pool).await?;
        }
        let covered = report
            .latest_head
            .as_ref()
            .is_some_and(|h| index < h.tree_size);
        if let Some(event) = event
            .as_ref()
            .filter(|e| !covered && overdue(e.recorded_at))
            && !uncovered_reported
        {
            uncovered_reported = true;
            check.fail(event_failure(
                event,
                format!(
                    "no signed tree head covers this event (recorded at {}) or any after it, \
                     {} s after it was recorded: the sealer is not running, or tree heads \
                     were deleted",
                    event
                        .recorded_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    grace.as_secs()
                ),
            ));
        }
    }
    drop(rows);
    report.log_size = frontier.size() as i64;
    if let Some(head) = next_head {
        check.fail(log_failure(
            head.tree_size - 1,
            format!(
                "tree head of size {} covers more events than the log holds ({}): events were \
                 deleted from its end",
                head.tree_size, report.log_size
            ),
        ));
    }
    if sealed > frontier.size() {
        check.fail(log_failure(
            frontier.size() as i64,
            format!(
                "the stored tree holds {sealed} leaves, the log {}: events were deleted",
                frontier.size()
            ),
        ));
    }
    Ok(report)
}

async fn compare_node(
    check: &mut Check<'_>,
    nodes: &mut StoredNodes<'_>,
    id: &NodeId,
    hash: &Hash,
    event: Option<&StoredEvent>,
    index: i64,
) -> Result<(), StoreError> {
    // Stored nodes that come before this one in completion order should not exist.
    while let Some((stored, _)) = nodes.peek().await? {
        if order_key(stored) >= order_key(id) {
            break;
        }
        let stored = *stored;
        nodes.peeked = None;
        check.fail(log_failure(
            index,
            format!(
                "the stored tree holds a node (level {}, index {}) no event made",
                stored.level, stored.index
            ),
        ));
    }
    let found = match nodes.peek().await? {
        Some((stored, bytes)) if stored == id => Some(bytes.as_slice() == hash.as_slice()),
        _ => None,
    };
    if found.is_some() {
        nodes.peeked = None;
    }
    let what = if id.level == 0 {
        "the event differs from the one sealed at its log index".to_owned()
    } else {
        format!(
            "the stored subtree (level {}, index {})",
            id.level, id.index
        )
    };
    let reason = match found {
        Some(true) => return Ok(()),
        Some(false) if id.level == 0 => what,
        Some(false) => format!("{what} differs from the one recomputed from the events"),
        None => format!(
            "{} is missing from the stored tree",
            if id.level == 0 {
                "the sealed leaf of this event".to_owned()
            } else {
                what
            }
        ),
    };
    check.fail(match event {
        Some(event) => event_failure(event, reason),
        None => log_failure(index, reason),
    });
    Ok(())
}
