//! Reactors: processes driven by the log that call the outside world and issue commands
//! (the payment reactor, reservation expiry, payment reconciliation).

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

pub fn spawn(_state: &AppState, _stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    Vec::new()
}
