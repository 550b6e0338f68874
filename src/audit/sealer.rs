//! The sealer (lease `audit:sealer`): after commit, never inside an append, it grows the
//! Merkle tree over the events the sequencer placed, and every `every` — when the log grew —
//! signs a tree head. Every write is fenced by the lease and compares-and-sets the stored size,
//! so two sealers can never both extend the tree or sign a head.

use std::time::Duration;

use sqlx::PgPool;
use tillroll_projections::lease::{Fence, fence_sql};
use tokio::sync::watch;

use super::heads::{TreeHead, TreeSigner};
use super::merkle::Frontier;
use super::tree::{self, TreeError};

/// Leaves added per transaction.
const BATCH: i64 = 5000;

/// What a pass of [`seal`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Leaves added to the tree.
    pub leaves: u64,
    /// The head signed, when the tree grew past the latest one.
    pub head: Option<TreeHead>,
}

/// The sealer's memory between passes: the tree's frontier (reloaded after any failure).
#[derive(Default)]
pub struct Sealer {
    frontier: Option<Frontier>,
}

impl Sealer {
    /// Grows the tree to the end of the log, then signs a head if it holds more leaves than
    /// the latest head.
    pub async fn seal(
        &mut self,
        pool: &PgPool,
        signer: &TreeSigner,
        fence: &Fence,
    ) -> Result<Sealed, TreeError> {
        let result = self.seal_inner(pool, signer, fence).await;
        if result.is_err() {
            self.frontier = None;
        }
        result
    }

    async fn seal_inner(
        &mut self,
        pool: &PgPool,
        signer: &TreeSigner,
        fence: &Fence,
    ) -> Result<Sealed, TreeError> {
        let mut leaves = 0;
        loop {
            let mut tx = pool.begin().await?;
            let mut frontier = match self.frontier.take() {
                Some(f) => f,
                None => tree::load_frontier(&mut tx).await?,
            };
            let from = frontier.size();
            let events = tree::read_leaves(&mut tx, from as i64, BATCH).await?;
            if events.is_empty() {
                self.frontier = Some(frontier);
                break;
            }
            let mut created = Vec::with_capacity(events.len() * 2);
            for event in &events {
                frontier.push(event.leaf_hash(), &mut created);
            }
            tree::extend(&mut tx, fence, from, frontier.size(), &created).await?;
            tx.commit().await?;
            leaves += events.len() as u64;
            let full = events.len() as i64 == BATCH;
            self.frontier = Some(frontier);
            if !full {
                break;
            }
        }
        let frontier = self.frontier.as_ref().expect("kept above");
        let head = sign_if_grown(pool, signer, fence, frontier).await?;
        Ok(Sealed { leaves, head })
    }
}

async fn sign_if_grown(
    pool: &PgPool,
    signer: &TreeSigner,
    fence: &Fence,
    frontier: &Frontier,
) -> Result<Option<TreeHead>, TreeError> {
    let size = frontier.size() as i64;
    // One head at a time: the tree's row is locked while the latest head is read and the next
    // one inserted on top of it, so two passes can never both sign on top of the same head.
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT size FROM audit_tree FOR UPDATE")
        .execute(&mut *tx)
        .await?;
    let latest = super::heads::latest(&mut *tx)
        .await?
        .map_or(0, |h| h.tree_size);
    if size <= latest {
        return Ok(None);
    }
    let (log_position,): (i64,) =
        sqlx::query_as("SELECT global_position FROM event_log WHERE log_index = $1")
            .bind(size - 1)
            .fetch_one(&mut *tx)
            .await?;
    let head = signer.sign(size, &frontier.root(), log_position, latest);
    let signature =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &head.signature)
            .expect("just encoded");
    let sql = format!(
        "INSERT INTO audit_tree_heads \
             (tree_size, root_hash, log_position, signed_at, key_id, signature, \
              previous_tree_size) \
         SELECT $1, $2, $3, $4, $5, $6, $7 \
         WHERE (SELECT size FROM audit_tree) >= $1 \
           AND coalesce((SELECT max(tree_size) FROM audit_tree_heads), 0) = $7 AND {}",
        fence_sql(8)
    );
    let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(size)
        .bind(frontier.root().as_slice())
        .bind(log_position)
        .bind(head.timestamp)
        .bind(&head.key_id)
        .bind(signature)
        .bind(latest)
        .bind(&fence.lease)
        .bind(&fence.holder)
        .bind(fence.epoch)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if inserted.rows_affected() == 1 {
        Ok(Some(head))
    } else {
        Err(TreeError::Deposed)
    }
}

/// For a process that runs no sealer (the CLI, after it appended): when no node holds the
/// sealer's lease, takes it, seals, and gives it back at once; `None` when a node holds it (that
/// node seals within its interval).
pub async fn seal_unattended(
    pool: &PgPool,
    signer: &TreeSigner,
    ttl: Duration,
) -> Result<Option<Sealed>, TreeError> {
    let lease = crate::workers::SEALER_LEASE;
    let holder = tillroll_projections::lease::holder_id();
    let mut conn = pool.acquire().await?;
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let Some(epoch) =
        tillroll_projections::lease::acquire(&mut conn, lease, &holder, ttl_ms).await?
    else {
        return Ok(None);
    };
    let fence = Fence {
        lease: lease.to_owned(),
        holder,
        epoch,
    };
    let sealed = Sealer::default().seal(pool, signer, &fence).await;
    sqlx::query(
        "UPDATE leases SET expires_at = clock_timestamp() - interval '1 ms' \
         WHERE name = $1 AND holder = $2 AND epoch = $3",
    )
    .bind(&fence.lease)
    .bind(&fence.holder)
    .bind(fence.epoch)
    .execute(&mut *conn)
    .await?;
    sealed.map(Some)
}

/// The worker: seals every `every` until `stop`, or until the lease is lost.
pub async fn run(
    pool: PgPool,
    signer: TreeSigner,
    every: Duration,
    fence: Fence,
    mut stop: watch::Receiver<bool>,
) {
    let mut sealer = Sealer::default();
    let mut failures = 0u32;
    loop {
        match sealer.seal(&pool, &signer, &fence).await {
            Ok(_) => failures = 0,
            Err(TreeError::Deposed) => {
                tracing::warn!("the sealer's lease is gone; sealing stops here");
                return;
            }
            Err(error) => {
                failures += 1;
                // A cut log or a missing subtree is evidence: it is logged every time, and the
                // tree does not move past it (`audit verify` reports it).
                tracing::error!(%error, "sealing failed");
            }
        }
        let pause = if failures == 0 {
            every
        } else {
            every.max(Duration::from_millis(250 * u64::from(failures.min(20))))
        };
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}
