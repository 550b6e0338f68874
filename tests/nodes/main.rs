//! Several `tillroll serve` processes (the real binary, each on its own port) on one database,
//! driven over HTTP from many clients while nodes are killed, frozen and cut off: decisions are
//! never taken on stale state, every once-only worker runs in one node at a time, an STK push
//! is never sent twice, nothing acknowledged is lost, and the read models equal a rebuild.
//!
//! Tests that must disturb a whole Postgres cluster (a transaction held open, a restore) run
//! on a throwaway cluster of their own (`pg`), so the rest of the suite is not stalled by them.
//! A separate test binary: its processes do not compete with the main suite's tests.

#[path = "../suite/support/db.rs"]
#[allow(dead_code)]
mod db;
#[path = "../suite/support/nats.rs"]
#[allow(dead_code)]
mod nats;

mod cluster;
mod decisions;
mod events_out;
mod failover;
mod outage;
mod pg;
mod refunds;
mod replica;
mod restore;
mod simulator;
mod transactions;
