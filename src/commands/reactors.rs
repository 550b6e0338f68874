//! Reactors: processes driven by the log and the clock that call the outside world and issue
//! commands. `payment` follows the log (its own checkpoint) and sends the STK push of every
//! `PaymentRequested`; `timers` expires unpaid orders, asks Daraja about attempts whose
//! callback is late (the reconciler) and settles callbacks that arrived before their push was
//! recorded (the inbox sweep).
//!
//! They run in one process at a time: the first to take a Postgres advisory lock leads, the
//! others stand by and take over when it goes away.

mod payment;
mod timers;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::pool::PoolConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

pub use payment::CHECKPOINT as PAYMENT_CHECKPOINT;

/// The session-level advisory lock the leading process holds (per database). Whoever holds
/// it runs the reactors; a process that cannot take it stands by.
pub const LEADER_LOCK: i64 = 0x7469_6c6c_7061_7973; // "tillpays"
const STANDBY_RETRY: Duration = Duration::from_secs(1);

pub fn spawn(state: &AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    vec![tokio::spawn(run(state.clone(), stop))]
}

async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let Some(mut leader) = lead(&state.pool, &mut stop).await else {
        return;
    };
    let payment = tokio::spawn(payment::run(state.clone(), stop.clone()));
    let timers = tokio::spawn(timers::run(state.clone(), stop.clone()));
    let _ = tokio::join!(payment, timers);
    // A pooled connection outlives this task: give the lock back explicitly so that a new
    // application on the same pool (or another process) can lead.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LEADER_LOCK)
        .execute(&mut *leader)
        .await;
}

/// Waits to lead; `None` when stopped first.
async fn lead(
    pool: &PgPool,
    stop: &mut watch::Receiver<bool>,
) -> Option<PoolConnection<sqlx::Postgres>> {
    loop {
        if *stop.borrow() {
            return None;
        }
        match try_lock(pool).await {
            Ok(Some(conn)) => return Some(conn),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "reactor leadership"),
        }
        tokio::select! {
            _ = tokio::time::sleep(STANDBY_RETRY) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn try_lock(pool: &PgPool) -> Result<Option<PoolConnection<sqlx::Postgres>>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
        .bind(LEADER_LOCK)
        .fetch_one(&mut *conn)
        .await?;
    Ok(locked.then_some(conn))
}

/// Sleeps `period` unless stopped first; `false` when stopped.
async fn pause(stop: &mut watch::Receiver<bool>, period: Duration) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(period) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}
