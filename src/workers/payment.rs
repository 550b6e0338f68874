//! The payment reactor: follows the log from its own checkpoint and, for every
//! `PaymentRequested` (read only once its order committed), sends the STK push outside any
//! transaction, then records `PaymentRequestAccepted` (with its `mpesa_requests` row) or
//! `PaymentFailed` with Daraja's code and message, and settles a callback that beat it.
//!
//! Once at most: before a push is sent, its attempt is recorded in `stk_dispatches` under the
//! reactor's lease (fenced: a deposed reactor records nothing and sends nothing), and an
//! attempt recorded there is never pushed again. Daraja's acceptance is kept beside it the
//! moment it arrives, before the acceptance event: a crash after that is recovered by the
//! timers reactor (which records the acceptance; the reconciler or the inbox settles it). A
//! crash between the record and Daraja's answer leaves an attempt of unknown fate: it is not
//! sent blindly again (DESIGN §8); its callback, if one comes, is kept in the inbox, and the
//! order expires unless the customer asks for a new prompt (`POST /orders/{id}/payment`).

use std::time::Duration;

use chrono::Utc;
use tillroll_events::{LogPosition, OrderEvent, RecordedEvent};
use tillroll_projections::lease::Fence;
use tokio::sync::watch;

use crate::commands::CommandContext;
use crate::domain::money;
use crate::domain::order::{AttemptStatus, OrderStatus};
use crate::domain::payment::{account_reference, transaction_desc};
use crate::payments::{GatewayError, StkPush, StkPushAccepted, inbox};
use crate::state::AppState;

pub const CHECKPOINT: &str = "payments";
/// Pushes in flight at once.
const CONCURRENCY: usize = 8;
pub async fn run(state: AppState, fence: Fence, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if let Err(error) = follow(&state, &fence, &mut stop).await {
            tracing::warn!(%error, "payment reactor; resuming from its checkpoint");
            if !super::pause(&mut stop, Duration::from_secs(1)).await {
                return;
            }
        }
    }
}

async fn follow(
    state: &AppState,
    fence: &Fence,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), sqlx::Error> {
    let mut conn = state.pool.acquire().await?;
    let from = tillroll_projections::load_checkpoint(&mut conn, CHECKPOINT, false).await?;
    drop(conn);
    let mut subscription = state
        .store
        .subscribe(from)
        .only_types(vec!["PaymentRequested".to_owned()])
        .batch_size(100);
    loop {
        let batch = tokio::select! {
            batch = subscription.next_batch() => batch,
            _ = stop.changed() => return Ok(()),
        };
        let batch = batch.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        for chunk in batch.chunks(CONCURRENCY) {
            let pushes: Vec<_> = chunk.iter().map(|e| handle(state, fence, e)).collect();
            // A push whose dispatch could not be recorded was not sent: the batch is read
            // again from the checkpoint (pushes recorded meanwhile are not sent twice).
            for handled in futures_util::future::join_all(pushes).await {
                handled?;
            }
        }
        save_checkpoint(state, fence, subscription.position()).await?;
    }
}

/// Moves the checkpoint under the lease; an error when the lease moved on (the reactor stops).
async fn save_checkpoint(
    state: &AppState,
    fence: &Fence,
    at: LogPosition,
) -> Result<(), sqlx::Error> {
    let mut conn = state.pool.acquire().await?;
    tillroll_projections::store_checkpoint_fenced(&mut conn, CHECKPOINT, at, fence)
        .await
        .map_err(|error| match error {
            tillroll_projections::ProjectionError::Database(error) => error,
            other => sqlx::Error::Protocol(other.to_string()),
        })
}

/// Sends the push of one attempt and records Daraja's answer. Failures to record are logged:
/// the order stays payable until it expires.
async fn handle(state: &AppState, fence: &Fence, event: &RecordedEvent) -> Result<(), sqlx::Error> {
    let Ok(OrderEvent::PaymentRequested {
        order_id,
        attempt_id,
        phone,
        amount,
        ..
    }) = event.decode::<OrderEvent>()
    else {
        return Ok(());
    };
    let ctx = CommandContext::system(order_id, Utc::now()).caused_by(event.event_id);
    let order = match state.commands.load_order(&ctx, order_id).await {
        Ok(order) => order,
        Err(error) => {
            tracing::warn!(%error, %order_id, "payment request of no order");
            return Ok(());
        }
    };
    let still_requested = order
        .attempt(attempt_id)
        .is_some_and(|a| a.status == AttemptStatus::Requested);
    let payable = order.status == OrderStatus::PendingPayment
        && order
            .expires_at
            .is_some_and(|deadline| Utc::now() < deadline);
    if !still_requested || !payable {
        return Ok(());
    }
    let recorded = match money::whole_shillings(amount) {
        None => {
            let reason = "M-Pesa takes whole shillings only";
            let rejected = state
                .commands
                .record_push_rejected(&ctx, order_id, attempt_id, "amount", reason);
            rejected.await.map(|_| ())
        }
        Some(amount_shillings) => {
            match inbox::record_dispatch(&state.pool, fence, order_id, attempt_id).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        %order_id, %attempt_id,
                        "STK push already dispatched (or lease lost): not sent again"
                    );
                    return Ok(());
                }
                Err(error) => return Err(error),
            }
            let push = StkPush {
                phone,
                amount_shillings,
                account_reference: account_reference(order_id),
                description: transaction_desc(order_id),
                callback_url: format!(
                    "{}/payments/mpesa/callback/{}",
                    state.public_url, state.callback_token
                ),
            };
            // Once sent, the push is seen through to its recorded answer even if the lease is
            // lost meanwhile (the work is dropped at its await then): Daraja's answer is a fact
            // about an attempt, recorded by its id, not a fenced write, and dropping it would
            // leave a push of unknown fate whose callback nobody could match.
            let (state, cause) = (state.clone(), event.event_id);
            let sent = tokio::spawn(async move {
                let answer = state.gateway.stk_push(&push).await;
                if let Ok(accepted) = &answer {
                    let (checkout, merchant) =
                        (&accepted.checkout_request_id, &accepted.merchant_request_id);
                    if let Err(error) =
                        inbox::record_answer(&state.pool, attempt_id, checkout, merchant).await
                    {
                        tracing::warn!(%error, %order_id, "Daraja's acceptance not kept beside its push");
                    }
                }
                let ctx = CommandContext::system(order_id, Utc::now()).caused_by(cause);
                record(&state, &ctx, order_id, attempt_id, answer).await
            });
            match sent.await {
                Ok(recorded) => recorded,
                Err(error) => {
                    tracing::error!(%error, %order_id, "STK push task failed");
                    return Ok(());
                }
            }
        }
    };
    if let Err(error) = recorded {
        tracing::warn!(%error, %order_id, "the answer to an STK push was not recorded");
    }
    Ok(())
}

async fn record(
    state: &AppState,
    ctx: &CommandContext,
    order_id: uuid::Uuid,
    attempt_id: uuid::Uuid,
    answer: Result<StkPushAccepted, GatewayError>,
) -> Result<(), crate::commands::CommandError> {
    let commands = &state.commands;
    match answer {
        Ok(accepted) => {
            state.metrics.payment("push_accepted");
            let after = state.config.reconcile_after;
            commands
                .record_push_accepted(ctx, order_id, attempt_id, &accepted, after)
                .await?;
            // The callback may have come first (the simulator answers in milliseconds).
            commands
                .settle_callback(&accepted.checkout_request_id)
                .await?;
        }
        Err(GatewayError::Rejected { code, message }) => {
            state.metrics.payment("push_rejected");
            let reason = format!("M-Pesa refused the payment request: {message}");
            commands
                .record_push_rejected(ctx, order_id, attempt_id, &code, &reason)
                .await?;
        }
        Err(GatewayError::Unavailable(why)) => {
            state.metrics.payment("push_unavailable");
            let reason = format!("M-Pesa could not be reached: {why}");
            commands
                .record_push_rejected(ctx, order_id, attempt_id, "unavailable", &reason)
                .await?;
        }
    }
    Ok(())
}
