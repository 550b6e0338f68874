//! The whole audit check (`GET /audit/verify`, `tillroll audit verify`): every hash chain,
//! then the log against the latest signed checkpoint.

use serde::Serialize;

use super::checkpoint::{self, CheckpointCheck};
use crate::store::verify::ChainFailure;
use crate::store::{EventStore, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditReport {
    pub ok: bool,
    pub streams_checked: u64,
    pub events_checked: u64,
    /// The first broken link of each broken chain, then what the checkpoint check found.
    pub failures: Vec<ChainFailure>,
    /// The latest checkpoint the log was checked against; `null` before the first one.
    pub checkpoint: Option<CheckpointCheck>,
}

pub async fn verify(store: &EventStore) -> Result<AuditReport, StoreError> {
    let chains = store.verify_chains().await?;
    let (checkpoint, checkpoint_failures) = checkpoint::check(store).await?;
    let mut failures = chains.failures;
    failures.extend(checkpoint_failures);
    Ok(AuditReport {
        ok: failures.is_empty(),
        streams_checked: chains.streams_checked,
        events_checked: chains.events_checked,
        failures,
        checkpoint,
    })
}
