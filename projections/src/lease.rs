//! Leases with fencing for the work that must run once in the whole cluster: each projector,
//! each reactor, the checkpointer (DESIGN §8).
//!
//! A lease is a row of `leases`: its holder (`<host>:<pid>:<8 hex>`, one per process), an
//! epoch bumped at every takeover, and an expiry. One keeper task per node, on a session of
//! its own (`application_name` `tillroll-lease <pid>`), renews the node's leases every
//! `ttl / 5` and takes free or expired ones. A worker runs only while its lease is held, and
//! every write it makes is fenced: it checks, in the same statement, that the lease still has
//! this holder and epoch and has not expired ([`Fence`]), so a deposed worker's late write
//! changes nothing.
//!
//! Losing a lease stops its worker at once: when a renewal says another holder has it, or
//! when no renewal succeeded for `ttl − ttl / 5` by the local clock (a partition, a frozen
//! process, a dead session), which is before any other node may take it (`ttl`, by the
//! database's clock). Takeover after a crash or a hang is bounded by `ttl` plus one keeper
//! round. A clean stop releases the node's leases, so others take them within a round.
//!
//! Work spreads: every node also holds a presence lease (`node:<holder>`), and a node takes a
//! free worker lease only while it holds fewer than its fair share (the worker leases over the
//! live nodes, rounded up); a node above its share gives one back per round.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgExecutor};
use tokio::sync::watch;
use tokio::time::Instant;

/// This process's identity as a lease holder.
pub fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{host}:{}:{suffix}", std::process::id())
}

/// The proof a worker writes under: the database refuses the write unless the lease still
/// has this holder and epoch and has not expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lease: String,
    pub holder: String,
    pub epoch: i64,
}

/// The SQL condition of a fence whose lease, holder and epoch are bound as `$a, $b, $c`
/// (e.g. `fence_sql(4)` for `$4, $5, $6`).
pub fn fence_sql(first: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM leases WHERE name = ${} AND holder = ${} AND epoch = ${} \
         AND expires_at > clock_timestamp())",
        first,
        first + 1,
        first + 2
    )
}

impl Fence {
    /// Whether the lease still holds, by the database (for workers whose writes are not
    /// table rows, before an external effect).
    pub async fn holds<'e>(&self, executor: impl PgExecutor<'e>) -> Result<bool, sqlx::Error> {
        let (held,): (bool,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {}", fence_sql(1))))
                .bind(&self.lease)
                .bind(&self.holder)
                .bind(self.epoch)
                .fetch_one(executor)
                .await?;
        Ok(held)
    }
}

/// What a worker sees of its lease: `Some(fence)` while held.
pub type LeaseState = watch::Receiver<Option<Fence>>;

struct Held {
    epoch: i64,
    /// By the local clock: the lease is ours until then at the latest.
    valid_until: Instant,
}

struct Entry {
    sender: watch::Sender<Option<Fence>>,
    held: Option<Held>,
}

#[derive(Clone)]
pub struct Leases {
    inner: Arc<Inner>,
}

struct Inner {
    holder: String,
    ttl: Duration,
    options: PgConnectOptions,
    entries: Mutex<HashMap<String, Entry>>,
}

const PRESENCE: &str = "node:";

impl Leases {
    pub fn new(options: PgConnectOptions, ttl: Duration) -> Self {
        Self::with_holder(options, ttl, holder_id())
    }

    pub fn with_holder(options: PgConnectOptions, ttl: Duration, holder: String) -> Self {
        let options = options.application_name(&format!("tillroll-lease {}", std::process::id()));
        Self {
            inner: Arc::new(Inner {
                holder,
                ttl,
                options,
                entries: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// The lease `name` as its worker sees it (registering it with the keeper).
    pub fn watch(&self, name: &str) -> LeaseState {
        let mut entries = self.inner.entries.lock().expect("lease table");
        entries
            .entry(name.to_owned())
            .or_insert_with(|| Entry {
                sender: watch::channel(None).0,
                held: None,
            })
            .sender
            .subscribe()
    }

    /// Names of the leases this node holds now.
    pub fn held(&self) -> Vec<String> {
        let entries = self.inner.entries.lock().expect("lease table");
        let mut names: Vec<String> = entries
            .iter()
            .filter(|(_, e)| e.held.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// Keeps this node's leases until `stop` turns true, then releases them.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let round = self.inner.ttl / 5;
        let mut conn: Option<PgConnection> = None;
        let mut presence_until: Option<Instant> = None;
        loop {
            if *stop.borrow() {
                break;
            }
            self.expire_locally();
            if conn.is_none() {
                match PgConnection::connect_with(&self.inner.options).await {
                    Ok(c) => conn = Some(c),
                    Err(error) => tracing::warn!(%error, "lease keeper cannot connect"),
                }
            }
            if let Some(c) = conn.as_mut() {
                let started = Instant::now();
                match self.round(c, &mut presence_until, started).await {
                    Ok(()) => {}
                    Err(error) => {
                        tracing::warn!(%error, "lease round failed; reconnecting");
                        conn = None;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(round) => {}
                _ = stop.changed() => {}
            }
        }
        self.release_all(conn).await;
    }

    /// Drops every lease whose local validity ran out (no renewal got through in time).
    fn expire_locally(&self) {
        let now = Instant::now();
        let mut entries = self.inner.entries.lock().expect("lease table");
        for (name, entry) in entries.iter_mut() {
            if entry.held.as_ref().is_some_and(|h| h.valid_until <= now) {
                tracing::warn!(lease = %name, "lease not renewed in time; its work stops");
                entry.held = None;
                entry.sender.send_replace(None);
            }
        }
    }

    async fn round(
        &self,
        conn: &mut PgConnection,
        presence_until: &mut Option<Instant>,
        started: Instant,
    ) -> Result<(), sqlx::Error> {
        let ttl = self.inner.ttl;
        // Valid until ttl − one round after the renewal was sent: the database gives others
        // the lease only ttl after our renewal committed, which is later.
        let valid_until = started + ttl - ttl / 5;
        let ttl_ms = ttl.as_millis() as i64;
        let holder = self.inner.holder.clone();
        let presence = format!("{PRESENCE}{holder}");

        // Presence, then renewals of what we hold.
        acquire(conn, &presence, &holder, ttl_ms).await?;
        *presence_until = Some(valid_until);
        let held: Vec<(String, i64)> = {
            let entries = self.inner.entries.lock().expect("lease table");
            entries
                .iter()
                .filter_map(|(n, e)| e.held.as_ref().map(|h| (n.clone(), h.epoch)))
                .collect()
        };
        if !held.is_empty() {
            let names: Vec<&str> = held.iter().map(|(n, _)| n.as_str()).collect();
            let epochs: Vec<i64> = held.iter().map(|(_, e)| *e).collect();
            let renewed: Vec<(String,)> = sqlx::query_as(
                "UPDATE leases l SET expires_at = clock_timestamp() + $3 * interval '1 ms', \
                        renewed_at = clock_timestamp() \
                 FROM unnest($1::text[], $2::bigint[]) AS h(name, epoch) \
                 WHERE l.name = h.name AND l.epoch = h.epoch AND l.holder = $4 \
                   AND l.expires_at > clock_timestamp() \
                 RETURNING l.name",
            )
            .bind(&names)
            .bind(&epochs)
            .bind(ttl_ms)
            .bind(&holder)
            .fetch_all(&mut *conn)
            .await?;
            let mut entries = self.inner.entries.lock().expect("lease table");
            for (name, _) in &held {
                let Some(entry) = entries.get_mut(name) else {
                    continue;
                };
                if renewed.iter().any(|(n,)| n == name) {
                    if let Some(h) = entry.held.as_mut() {
                        h.valid_until = valid_until;
                    }
                } else {
                    tracing::warn!(lease = %name, "lease lost to another node; its work stops");
                    entry.held = None;
                    entry.sender.send_replace(None);
                }
            }
        }

        // Fair share: the worker leases over the live nodes, rounded up.
        let wanted: Vec<String> = {
            let entries = self.inner.entries.lock().expect("lease table");
            entries.keys().cloned().collect()
        };
        let (nodes,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM leases WHERE name LIKE 'node:%' \
             AND expires_at > clock_timestamp()",
        )
        .fetch_one(&mut *conn)
        .await?;
        let nodes = nodes.max(1) as usize;
        let share = wanted.len().div_ceil(nodes);
        let mut holding = self.held().len();
        if holding > share {
            // Give one back: another node takes it within its next round.
            if let Some(name) = self.held().last().cloned() {
                self.release(conn, &name).await?;
                holding -= 1;
            }
        }
        let free: Vec<String> = wanted
            .into_iter()
            .filter(|n| !self.held().contains(n))
            .collect();
        for name in free {
            if holding >= share {
                break;
            }
            if let Some(epoch) = acquire(conn, &name, &holder, ttl_ms).await? {
                tracing::info!(lease = %name, epoch, "lease taken");
                holding += 1;
                let mut entries = self.inner.entries.lock().expect("lease table");
                if let Some(entry) = entries.get_mut(&name) {
                    entry.held = Some(Held { epoch, valid_until });
                    entry.sender.send_replace(Some(Fence {
                        lease: name.clone(),
                        holder: holder.clone(),
                        epoch,
                    }));
                }
            }
        }
        Ok(())
    }

    /// Stops the worker of `name` and gives its lease back.
    async fn release(&self, conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
        let epoch = {
            let mut entries = self.inner.entries.lock().expect("lease table");
            let Some(entry) = entries.get_mut(name) else {
                return Ok(());
            };
            let epoch = entry.held.take().map(|h| h.epoch);
            entry.sender.send_replace(None);
            epoch
        };
        if let Some(epoch) = epoch {
            sqlx::query(
                "UPDATE leases SET expires_at = clock_timestamp() - interval '1 ms' \
                 WHERE name = $1 AND holder = $2 AND epoch = $3",
            )
            .bind(name)
            .bind(&self.inner.holder)
            .bind(epoch)
            .execute(&mut *conn)
            .await?;
            tracing::info!(lease = %name, "lease given back");
        }
        Ok(())
    }

    async fn release_all(&self, conn: Option<PgConnection>) {
        let names = self.held();
        {
            let mut entries = self.inner.entries.lock().expect("lease table");
            for entry in entries.values_mut() {
                entry.sender.send_replace(None);
            }
        }
        let Some(mut conn) = conn else {
            return;
        };
        for name in names {
            if let Err(error) = self.release(&mut conn, &name).await {
                tracing::debug!(%error, "giving a lease back");
            }
        }
        let _ = sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(format!("{PRESENCE}{}", self.inner.holder))
            .bind(&self.inner.holder)
            .execute(&mut conn)
            .await;
        let _ = conn.close().await;
    }
}

/// Takes `name` if it is free, expired or already ours; the new epoch when taken. (Also for a
/// short-lived process that does one piece of a worker's work when no node holds its lease.)
pub async fn acquire(
    conn: &mut PgConnection,
    name: &str,
    holder: &str,
    ttl_ms: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO leases (name, holder, epoch, expires_at, renewed_at) \
         VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 ms', clock_timestamp()) \
         ON CONFLICT (name) DO UPDATE SET \
             holder = excluded.holder, \
             epoch = CASE WHEN leases.holder = excluded.holder \
                          AND leases.expires_at > clock_timestamp() \
                          THEN leases.epoch ELSE leases.epoch + 1 END, \
             expires_at = excluded.expires_at, renewed_at = excluded.renewed_at \
         WHERE leases.expires_at <= clock_timestamp() OR leases.holder = excluded.holder \
         RETURNING epoch",
    )
    .bind(name)
    .bind(holder)
    .bind(ttl_ms)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(epoch,)| epoch))
}

/// Runs `work` whenever this node holds the lease. Losing the lease drops the work at once;
/// `stop` turning true sets the receiver `work` gets, so it can finish what it has in hand
/// (10 s at most).
pub async fn while_held<F, Fut>(mut lease: LeaseState, mut stop: watch::Receiver<bool>, work: F)
where
    F: Fn(Fence, watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        if *stop.borrow() {
            return;
        }
        let fence = lease.borrow_and_update().clone();
        let Some(fence) = fence else {
            tokio::select! {
                changed = lease.changed() => if changed.is_err() { return },
                _ = stop.changed() => {}
            }
            continue;
        };
        let (halt_tx, halt_rx) = watch::channel(false);
        let work = work(fence.clone(), halt_rx);
        tokio::pin!(work);
        loop {
            tokio::select! {
                () = &mut work => break,
                changed = lease.changed() => {
                    let still = changed.is_ok() && lease.borrow().as_ref() == Some(&fence);
                    if !still {
                        // Stopped at once: the work is dropped at its current await (an open
                        // transaction rolls back). Whatever it had sent is recorded before it
                        // was sent, so the next holder never repeats it.
                        break;
                    }
                }
                _ = stop.changed() => {
                    let _ = halt_tx.send(true);
                    let _ = tokio::time::timeout(Duration::from_secs(10), &mut work).await;
                    return;
                }
            }
        }
    }
}
