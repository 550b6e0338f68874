//! The clock-driven reactors, one tick at a time:
//! - expiry: pending orders whose `expires_at` passed (candidates from the orders read model,
//!   the decision from the order's events, so the deadline survives restarts) expire and
//!   release their stock;
//! - reconciler: accepted pushes still unsettled at their `next_query_at` (accepted +
//!   `reconcile_after`, or at once after a 1037 callback) are settled by an STK push query;
//! - inbox sweep: callbacks kept before their push was recorded are settled.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use uuid::Uuid;

use crate::commands::CommandContext;
use crate::commands::payments::ReconcileError;
use crate::state::AppState;

const TICK: Duration = Duration::from_millis(250);
const BATCH: i64 = 50;

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    while super::pause(&mut stop, TICK).await {
        if let Err(error) = expire_due(&state).await {
            tracing::warn!(%error, "expiry tick");
        }
        if let Err(error) = reconcile_due(&state).await {
            tracing::warn!(%error, "reconciler tick");
        }
        if let Err(error) = sweep_inbox(&state).await {
            tracing::warn!(%error, "callback inbox sweep");
        }
    }
}

async fn expire_due(state: &AppState) -> Result<(), sqlx::Error> {
    let due: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM orders WHERE status = 'pending_payment' AND expires_at <= now() \
         ORDER BY expires_at LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&state.pool)
    .await?;
    for (order_id,) in due {
        // The expiry reacts to the order's placing, which set its deadline.
        let placed = state
            .store
            .read_stream(&tillroll_events::StreamId::order(order_id).to_string(), 0)
            .await
            .ok()
            .and_then(|events| events.first().map(|e| e.event_id));
        let mut ctx = CommandContext::system(order_id, Utc::now());
        ctx.causation_id = placed;
        match state.commands.expire_order(&ctx, order_id).await {
            Ok(outcome) if outcome.position.is_some() => {
                tracing::info!(%order_id, "order expired; its stock is released");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, %order_id, "order not expired"),
        }
    }
    Ok(())
}

/// Daraja keeps an STK push's result for a limited time: past this the reconciler stops
/// asking (the attempt stays as it was recorded; the order has long expired).
const GIVE_UP_AFTER: &str = "1 day";

async fn reconcile_due(state: &AppState) -> Result<(), sqlx::Error> {
    let abandoned = sqlx::query(
        "UPDATE mpesa_requests SET settled_at = now() \
         WHERE settled_at IS NULL AND accepted_at < now() - $1::interval",
    )
    .bind(GIVE_UP_AFTER)
    .execute(&state.pool)
    .await?
    .rows_affected();
    if abandoned > 0 {
        tracing::warn!(
            abandoned,
            "STK pushes never settled; the reconciler stops asking"
        );
    }
    let due: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT checkout_request_id, order_id FROM mpesa_requests \
         WHERE settled_at IS NULL AND next_query_at <= now() ORDER BY next_query_at LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&state.pool)
    .await?;
    for (checkout_request_id, order_id) in due {
        let settled = state
            .commands
            .reconcile_attempt(
                state.gateway.as_ref(),
                order_id,
                &checkout_request_id,
                state.config.reconcile_after,
            )
            .await;
        match settled {
            Ok(_) | Err(ReconcileError::Gateway(_)) => {}
            Err(ReconcileError::Command(error)) => {
                tracing::warn!(%error, %order_id, "payment outcome not recorded");
                let later = state.config.reconcile_after;
                if let Err(error) = state
                    .commands
                    .recheck_later(&checkout_request_id, later)
                    .await
                {
                    tracing::warn!(%error, "reconciler reschedule");
                }
            }
        }
    }
    Ok(())
}

async fn sweep_inbox(state: &AppState) -> Result<(), sqlx::Error> {
    let waiting: Vec<(String,)> = sqlx::query_as(
        "SELECT c.checkout_request_id FROM mpesa_callbacks c \
         JOIN mpesa_requests r USING (checkout_request_id) \
         WHERE c.processed_at IS NULL ORDER BY c.received_at LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&state.pool)
    .await?;
    for (checkout_request_id,) in waiting {
        if let Err(error) = state.commands.settle_callback(&checkout_request_id).await {
            tracing::warn!(%error, checkout_request_id, "callback not settled");
        }
    }
    Ok(())
}
