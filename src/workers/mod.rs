//! The workers: processes driven by the log and the clock that call the outside world and
//! issue commands. `payment` follows the log (its own checkpoint) and sends the STK push of
//! every `PaymentRequested`; `b2c` sends the B2C payment of every `RefundRequested` and `PayoutRequested`; `payouts`
//! asks each seller's ledger to pay its balances every `TILLROLL_PAYOUT_EVERY`; `timers` expires unpaid orders, asks Daraja about attempts whose
//! callback is late (the reconciler) and settles callbacks that arrived before their push was
//! recorded (the inbox sweep); the sealer grows the transparency log and signs its tree heads.
//!
//! Each runs under a lease of its own (`tillroll_projections::lease`, shared with the
//! projectors): in one node at a time, spread over the nodes, stopped at once when its lease
//! is lost, and fenced in what it writes and sends.

pub(crate) mod b2c;
mod payment;
mod payouts;
pub mod publisher;
mod timers;

use std::time::Duration;

use tillroll_projections::lease::{Leases, while_held};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

pub use payment::CHECKPOINT as PAYMENT_CHECKPOINT;

pub const PAYMENT_LEASE: &str = "reactor:payment";
pub const B2C_LEASE: &str = "reactor:b2c";
pub const TIMERS_LEASE: &str = "reactor:timers";
pub const SEALER_LEASE: &str = "audit:sealer";
/// Every worker lease of this module that runs on every node (tests hold them to keep the
/// reactors out), but the sealer's: it writes no event and races nothing a test writes by hand.
pub const PAYOUTS_LEASE: &str = payouts::LEASE;
pub const LEASES: [&str; 5] = [
    PAYMENT_LEASE,
    B2C_LEASE,
    PAYOUTS_LEASE,
    TIMERS_LEASE,
    crate::webhooks::deliver::LEASE,
];
/// The JetStream publisher's lease, wanted only by nodes with `TILLROLL_NATS_URL`.
pub const PUBLISHER_LEASE: &str = "publisher:nats";

pub fn spawn(
    state: &AppState,
    leases: &Leases,
    stop: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let payment = {
        let state = state.clone();
        while_held(
            leases.watch(PAYMENT_LEASE),
            stop.clone(),
            move |fence, halt| payment::run(state.clone(), fence, halt),
        )
    };
    let b2c = {
        let state = state.clone();
        while_held(leases.watch(B2C_LEASE), stop.clone(), move |fence, halt| {
            b2c::run(state.clone(), fence, halt)
        })
    };
    let payouts = {
        let state = state.clone();
        while_held(leases.watch(PAYOUTS_LEASE), stop.clone(), move |_, halt| {
            payouts::run(state.clone(), halt)
        })
    };
    let timers = {
        let state = state.clone();
        while_held(leases.watch(TIMERS_LEASE), stop.clone(), move |_, halt| {
            timers::run(state.clone(), halt)
        })
    };
    let sealer = {
        let (pool, signer) = (state.pool.clone(), state.tree_signer.clone());
        let every = state.config.audit_tree_head_every;
        while_held(
            leases.watch(SEALER_LEASE),
            stop.clone(),
            move |fence, halt| {
                crate::audit::sealer::run(pool.clone(), signer.clone(), every, fence, halt)
            },
        )
    };
    let webhooks = {
        let state = state.clone();
        while_held(
            leases.watch(crate::webhooks::deliver::LEASE),
            stop.clone(),
            move |fence, halt| crate::webhooks::deliver::run(state.clone(), fence, halt),
        )
    };
    let mut workers = vec![
        tokio::spawn(payment),
        tokio::spawn(b2c),
        tokio::spawn(payouts),
        tokio::spawn(timers),
        tokio::spawn(sealer),
        tokio::spawn(webhooks),
    ];
    if let Some(nats) = state.config.nats.clone() {
        let state = state.clone();
        workers.push(tokio::spawn(while_held(
            leases.watch(PUBLISHER_LEASE),
            stop,
            move |fence, halt| publisher::run(state.clone(), nats.clone(), fence, halt),
        )));
    }
    workers
}

/// Sleeps `period` unless stopped first; `false` when stopped.
pub(crate) async fn pause(stop: &mut watch::Receiver<bool>, period: Duration) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(period) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}
