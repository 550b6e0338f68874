//! The stored tree (`audit_tree_nodes`, `audit_tree`): growing it under a fence, and the root
//! and proofs of any size, each one query over O(log n) stored subtrees.

use std::collections::HashMap;

use sqlx::{PgConnection, PgExecutor, PgPool};
use tillroll_projections::lease::{Fence, fence_sql};

use super::leaf::{COLUMNS, StoredEvent};
use super::merkle::{self, Frontier, Hash, NodeId};

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The lease was lost, or another sealer moved the tree: nothing was written.
    #[error("the sealer's lease no longer holds (or the tree moved under it)")]
    Deposed,
    /// A stored subtree the tree needs is missing (deleted, or never written).
    #[error("the stored tree lacks node (level {}, index {})", .0.level, .0.index)]
    Missing(NodeId),
    /// The tree's state row is gone: the stored tree was deleted; sealing stops.
    #[error("the stored tree's state is gone (deleted); sealing stops")]
    Gone,
    /// The log has a hole or an index without its event where the tree should grow.
    #[error("log index {0} has no event: the log was cut; sealing stops here")]
    Hole(i64),
}

/// How many leaves the stored tree holds.
pub async fn size<'e>(executor: impl PgExecutor<'e>) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT size FROM audit_tree")
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|(s,)| s))
}

/// The stored hashes of `ids`, by id.
async fn nodes<'e>(
    executor: impl PgExecutor<'e>,
    ids: &[NodeId],
) -> Result<HashMap<NodeId, Hash>, sqlx::Error> {
    let levels: Vec<i16> = ids.iter().map(|id| i16::from(id.level)).collect();
    let indexes: Vec<i64> = ids.iter().map(|id| id.index as i64).collect();
    let rows: Vec<(i16, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT n.level, n.idx, n.hash FROM audit_tree_nodes n \
         JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx) \
           ON n.level = w.level AND n.idx = w.idx",
    )
    .bind(&levels)
    .bind(&indexes)
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(level, idx, hash)| {
            Some((
                NodeId {
                    level: level as u8,
                    index: idx as u64,
                },
                hash.try_into().ok()?,
            ))
        })
        .collect())
}

/// The hashes of the RFC subtrees `ranges`, from one query.
async fn subtrees<'e>(
    executor: impl PgExecutor<'e>,
    ranges: &[(u64, u64)],
) -> Result<Vec<Hash>, TreeError> {
    let parts: Vec<Vec<NodeId>> = ranges.iter().map(|&(s, e)| merkle::parts(s, e)).collect();
    let all: Vec<NodeId> = parts.iter().flatten().copied().collect();
    let found = nodes(executor, &all).await?;
    parts
        .iter()
        .map(|ids| {
            let hashes = ids
                .iter()
                .map(|id| found.get(id).copied().ok_or(TreeError::Missing(*id)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(merkle::fold_parts(&hashes).unwrap_or_else(merkle::empty_root))
        })
        .collect()
}

/// The root of the first `size` leaves (`size` ≤ the stored size).
pub async fn root(pool: &PgPool, size: u64) -> Result<Hash, TreeError> {
    if size == 0 {
        return Ok(merkle::empty_root());
    }
    Ok(subtrees(pool, &[(0, size)]).await?[0])
}

/// The leaf hash of `index` and its audit path in the tree of `size` leaves.
pub async fn inclusion(
    pool: &PgPool,
    index: u64,
    size: u64,
) -> Result<(Hash, Vec<Hash>), TreeError> {
    let mut ranges = vec![(index, index + 1)];
    ranges.extend(merkle::inclusion_ranges(index, size));
    let mut hashes = subtrees(pool, &ranges).await?;
    let leaf = hashes.remove(0);
    Ok((leaf, hashes))
}

/// The consistency proof from the tree of `first` leaves to that of `second`.
pub async fn consistency(pool: &PgPool, first: u64, second: u64) -> Result<Vec<Hash>, TreeError> {
    if first == 0 || first == second {
        return Ok(Vec::new());
    }
    subtrees(pool, &merkle::consistency_ranges(first, second)).await
}

/// The frontier of the stored tree at its stored size.
pub async fn load_frontier(conn: &mut PgConnection) -> Result<Frontier, TreeError> {
    let size = size(&mut *conn).await?.ok_or(TreeError::Gone)? as u64;
    let ids = merkle::frontier_ids(size);
    let found = nodes(&mut *conn, &ids).await?;
    let hashes = ids
        .iter()
        .map(|id| found.get(id).copied().ok_or(TreeError::Missing(*id)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Frontier::from_parts(size, &hashes).expect("one hash per frontier id"))
}

/// Events from log index `from` on, at most `limit`, in log order, as stored. An index whose
/// event is missing is a [`TreeError::Hole`].
pub async fn read_leaves(
    conn: &mut PgConnection,
    from: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, TreeError> {
    let sql = format!(
        "SELECT {COLUMNS}, e.global_position IS NULL AS missing \
         FROM event_log l LEFT JOIN events e USING (global_position) \
         WHERE l.log_index >= $1 ORDER BY l.log_index LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(from)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let expected = from + i as i64;
        let index: i64 = sqlx::Row::try_get(row, "log_index")?;
        let missing: bool = sqlx::Row::try_get(row, "missing")?;
        if index != expected || missing {
            return Err(TreeError::Hole(expected));
        }
        out.push(StoredEvent::from_row(row)?);
    }
    Ok(out)
}

/// Writes the subtrees that leaves `from..frontier.size()` completed, and moves the stored
/// size from `from` to the frontier's, in one statement fenced by `fence`; refused (and
/// nothing written) unless the lease holds and the stored size is still `from`.
pub async fn extend(
    conn: &mut PgConnection,
    fence: &Fence,
    from: u64,
    to: u64,
    created: &[(NodeId, Hash)],
) -> Result<(), TreeError> {
    let levels: Vec<i16> = created.iter().map(|(id, _)| i16::from(id.level)).collect();
    let indexes: Vec<i64> = created.iter().map(|(id, _)| id.index as i64).collect();
    let hashes: Vec<&[u8]> = created.iter().map(|(_, h)| h.as_slice()).collect();
    let sql = format!(
        "WITH moved AS ( \
             UPDATE audit_tree SET size = $5 WHERE size = $4 AND {} RETURNING 1 \
         ), written AS ( \
             INSERT INTO audit_tree_nodes (level, idx, hash) \
             SELECT level, idx, hash FROM unnest($1::smallint[], $2::bigint[], $3::bytea[]) \
                  AS n(level, idx, hash) \
             WHERE EXISTS (SELECT 1 FROM moved) RETURNING 1 \
         ) \
         SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM written)",
        fence_sql(6)
    );
    let (moved, _): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&levels)
        .bind(&indexes)
        .bind(&hashes)
        .bind(from as i64)
        .bind(to as i64)
        .bind(&fence.lease)
        .bind(&fence.holder)
        .bind(fence.epoch)
        .fetch_one(conn)
        .await?;
    if moved == 1 {
        Ok(())
    } else {
        Err(TreeError::Deposed)
    }
}
