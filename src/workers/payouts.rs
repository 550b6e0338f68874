//! The payout reactor (lease `payouts:run`): every `TILLROLL_PAYOUT_EVERY` it asks each
//! seller's ledger to pay the balance of each payout phone that has one (candidates from the
//! `seller_balances` read model, the decision from the ledger's events: at most one payout per
//! phone per period, never more than the balance). The B2C reactor sends the payouts.

use tokio::sync::watch;
use uuid::Uuid;

use crate::domain::order::MIN_REFUND;
use crate::state::AppState;

pub const LEASE: &str = "payouts:run";

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = state.config.payout_every;
    loop {
        if let Err(error) = pay_balances(&state).await {
            tracing::warn!(%error, "payout run");
        }
        if !super::pause(&mut stop, every).await {
            return;
        }
    }
}

async fn pay_balances(state: &AppState) -> Result<(), sqlx::Error> {
    let due: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT seller_id, phone FROM seller_balances \
         WHERE balance >= $1 AND phone <> '' ORDER BY seller_id, phone",
    )
    .bind(MIN_REFUND)
    .fetch_all(&state.pool)
    .await?;
    for (seller_id, phone) in due {
        let every = state.config.payout_every;
        match state
            .commands
            .request_payout(seller_id, &phone, every)
            .await
        {
            Ok(outcome) if outcome.position.is_some() => {
                tracing::info!(%seller_id, "payout requested");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, %seller_id, "payout not requested"),
        }
    }
    Ok(())
}
