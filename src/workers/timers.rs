//! The clock-driven reactors, one tick at a time:
//! - expiry: pending orders whose `expires_at` passed (candidates from the orders read model,
//!   the decision from the order's events, so the deadline survives restarts) expire and
//!   release their stock;
//! - reconciler: accepted pushes still unsettled at their `next_query_at` (accepted +
//!   `reconcile_after`, or at once after a 1037 callback) are settled by an STK push query;
//! - unrecorded acceptances: pushes Daraja accepted whose acceptance the sending node never
//!   recorded (it crashed in between) are recorded from `stk_dispatches`;
//! - inbox sweep: callbacks kept before their push was recorded are settled;
//! - B2C: payments without a result at their `next_query_at` (sent + `reconcile_after`, or at
//!   once after a queue time-out) are asked about by a transaction status query (whose answer
//!   comes to the result route), and B2C results kept before their payment was recorded are
//!   settled.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use uuid::Uuid;

use crate::commands::payments::ReconcileError;
use crate::commands::{CommandContext, CommandError};
use crate::payments::{B2cStatusQuery, StkPushAccepted, b2c_inbox, inbox};
use crate::state::AppState;

const TICK: Duration = Duration::from_millis(250);
const BATCH: i64 = 50;

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    while super::pause(&mut stop, TICK).await {
        if let Err(error) = expire_due(&state).await {
            tracing::warn!(%error, "expiry tick");
        }
        if let Err(error) = record_unrecorded(&state).await {
            tracing::warn!(%error, "unrecorded STK push acceptances");
        }
        if let Err(error) = reconcile_due(&state).await {
            tracing::warn!(%error, "reconciler tick");
        }
        if let Err(error) = sweep_inbox(&state).await {
            tracing::warn!(%error, "callback inbox sweep");
        }
        if let Err(error) = query_b2c_due(&state).await {
            tracing::warn!(%error, "B2C reconciler tick");
        }
        if let Err(error) = sweep_b2c_results(&state).await {
            tracing::warn!(%error, "B2C result inbox sweep");
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
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);

async fn reconcile_due(state: &AppState) -> Result<(), sqlx::Error> {
    let abandoned = inbox::abandon_older_than(&state.pool, GIVE_UP_AFTER).await?;
    if abandoned > 0 {
        tracing::warn!(
            abandoned,
            "STK pushes never settled; the reconciler stops asking"
        );
    }
    for (checkout_request_id, order_id) in inbox::due_for_query(&state.pool, BATCH).await? {
        tracing::info!(%order_id, checkout_request_id, "reconciler: querying an unsettled STK push");
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

/// A payment reactor that stopped (crashed, lost its lease) between Daraja's acceptance of a
/// push and `PaymentRequestAccepted` left the CheckoutRequestID in `stk_dispatches`: its
/// acceptance is recorded now (the reconciler or the callback waiting in the inbox then
/// settles it), never re-sent. The grace leaves a live reactor time to record it itself.
const UNRECORDED_GRACE: Duration = Duration::from_secs(10);

async fn record_unrecorded(state: &AppState) -> Result<(), sqlx::Error> {
    for push in inbox::unrecorded_acceptances(&state.pool, UNRECORDED_GRACE, BATCH).await? {
        let ctx = CommandContext::system(push.order_id, Utc::now());
        let accepted = StkPushAccepted {
            merchant_request_id: push.merchant_request_id.clone(),
            checkout_request_id: push.checkout_request_id.clone(),
        };
        let commands = &state.commands;
        let after = state.config.reconcile_after;
        let (order_id, attempt_id) = (push.order_id, push.attempt_id);
        match commands
            .record_push_accepted(&ctx, order_id, attempt_id, &accepted, after)
            .await
        {
            Ok(outcome) if outcome.position.is_some() => {
                tracing::warn!(
                    %order_id, checkout_request_id = %push.checkout_request_id,
                    "STK push accepted by Daraja but not recorded by the node that sent it; \
                     recorded now"
                );
                if let Err(error) = commands.settle_callback(&push.checkout_request_id).await {
                    tracing::warn!(%error, "callback of a recovered push not settled yet");
                }
            }
            // The attempt ended otherwise already: nothing to record, and not looked at again.
            Ok(_) | Err(CommandError::Rejected(_) | CommandError::Domain(_)) => {
                tracing::info!(%order_id, "an unrecorded STK push acceptance is moot");
                inbox::abandon_answer(&state.pool, attempt_id).await?;
            }
            Err(error) => tracing::warn!(%error, %order_id, "unrecorded STK push not recorded"),
        }
    }
    Ok(())
}

async fn sweep_inbox(state: &AppState) -> Result<(), sqlx::Error> {
    for checkout_request_id in inbox::waiting_callbacks(&state.pool, BATCH).await? {
        if let Err(error) = state.commands.settle_callback(&checkout_request_id).await {
            tracing::warn!(%error, checkout_request_id, "callback not settled");
        }
    }
    Ok(())
}

async fn query_b2c_due(state: &AppState) -> Result<(), sqlx::Error> {
    let abandoned = b2c_inbox::abandon_older_than(&state.pool, GIVE_UP_AFTER).await?;
    if abandoned > 0 {
        tracing::error!(
            abandoned,
            "B2C payments of unknown fate for a day; the reconciler stops asking (an admin \
             must check them with Safaricom)"
        );
    }
    let (result_url, timeout_url) = super::b2c::result_urls(state);
    let recheck = chrono::TimeDelta::from_std(state.config.reconcile_after).unwrap_or_default();
    for dispatch in b2c_inbox::due_for_query(&state.pool, BATCH).await? {
        let query = B2cStatusQuery {
            query_id: Uuid::now_v7(),
            payment_id: dispatch.id,
            result_url: result_url.clone(),
            timeout_url: timeout_url.clone(),
        };
        b2c_inbox::record_status_query(
            &state.pool,
            query.query_id,
            dispatch.id,
            Utc::now() + recheck,
        )
        .await?;
        tracing::info!(payment = %dispatch.id, kind = dispatch.kind, "B2C payment without a result: asking M-Pesa");
        if let Err(error) = state.b2c.b2c_status(&query).await {
            tracing::warn!(%error, payment = %dispatch.id, "B2C status query not sent; asked again later");
        }
    }
    Ok(())
}

async fn sweep_b2c_results(state: &AppState) -> Result<(), sqlx::Error> {
    for result_id in b2c_inbox::waiting_results(&state.pool, BATCH).await? {
        let settled = state
            .commands
            .settle_b2c_result(&result_id, state.config.reconcile_after)
            .await;
        if let Err(error) = settled {
            tracing::warn!(%error, result_id, "B2C result not settled");
        }
    }
    Ok(())
}
