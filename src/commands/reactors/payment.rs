//! The payment reactor: follows the log from its own checkpoint and, for every
//! `PaymentRequested` (read only once its order committed), sends the STK push outside any
//! transaction, then records `PaymentRequestAccepted` (with its `mpesa_requests` row) or
//! `PaymentFailed` with Daraja's code and message, and settles a callback that beat it.
//!
//! At least once: the checkpoint moves after a batch is handled, so a crash between a push and
//! its record sends that push again after the restart (the attempt is still `requested`). The
//! first push's callback then names a CheckoutRequestID nobody recorded: it is answered 200,
//! kept in the inbox and logged, and at most one payment can confirm the order (a second
//! payment is flagged for refund by the domain).

use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use tillroll_events::{LogPosition, OrderEvent, RecordedEvent};
use tokio::sync::watch;

use crate::commands::CommandContext;
use crate::domain::money;
use crate::domain::order::{AttemptStatus, OrderStatus};
use crate::domain::payment::{account_reference, transaction_desc};
use crate::payments::{GatewayError, StkPush, StkPushAccepted};
use crate::state::AppState;

pub const CHECKPOINT: &str = "payments";
/// Pushes in flight at once.
const CONCURRENCY: usize = 8;
/// Waits between tries while Daraja is unreachable (on top of the client's own retries).
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if let Err(error) = follow(&state, &mut stop).await {
            tracing::warn!(%error, "payment reactor; resuming from its checkpoint");
            if !super::pause(&mut stop, Duration::from_secs(1)).await {
                return;
            }
        }
    }
}

async fn follow(state: &AppState, stop: &mut watch::Receiver<bool>) -> Result<(), sqlx::Error> {
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
        futures_util::stream::iter(&batch)
            .for_each_concurrent(CONCURRENCY, |event| handle(state, event))
            .await;
        save_checkpoint(state, subscription.position()).await?;
    }
}

async fn save_checkpoint(state: &AppState, at: LogPosition) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE checkpoints SET transaction_id = $2, position = $3, updated_at = now() \
         WHERE name = $1",
    )
    .bind(CHECKPOINT)
    .bind(at.transaction_id)
    .bind(at.position)
    .execute(&state.pool)
    .await?;
    Ok(())
}

/// Sends the push of one attempt and records Daraja's answer. Failures to record are logged:
/// the order stays payable until it expires.
async fn handle(state: &AppState, event: &RecordedEvent) {
    let Ok(OrderEvent::PaymentRequested {
        order_id,
        attempt_id,
        phone,
        amount,
        ..
    }) = event.decode::<OrderEvent>()
    else {
        return;
    };
    let ctx = CommandContext::system(order_id, Utc::now()).caused_by(event.event_id);
    let order = match state.commands.load_order(&ctx, order_id).await {
        Ok(order) => order,
        Err(error) => return tracing::warn!(%error, %order_id, "payment request of no order"),
    };
    let still_requested = order
        .attempt(attempt_id)
        .is_some_and(|a| a.status == AttemptStatus::Requested);
    let payable = order.status == OrderStatus::PendingPayment
        && order
            .expires_at
            .is_some_and(|deadline| Utc::now() < deadline);
    if !still_requested || !payable {
        return;
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
            let answer = push_with_retries(state, &push).await;
            let ctx = CommandContext::system(order_id, Utc::now()).caused_by(event.event_id);
            record(state, &ctx, order_id, attempt_id, answer).await
        }
    };
    if let Err(error) = recorded {
        tracing::warn!(%error, %order_id, "the answer to an STK push was not recorded");
    }
}

async fn push_with_retries(
    state: &AppState,
    push: &StkPush,
) -> Result<StkPushAccepted, GatewayError> {
    let mut waits = BACKOFF.iter();
    loop {
        match state.gateway.stk_push(push).await {
            Err(GatewayError::Unavailable(why)) => match waits.next() {
                Some(wait) => {
                    tracing::info!(%why, "Daraja unavailable; retrying the STK push");
                    tokio::time::sleep(*wait).await;
                }
                None => return Err(GatewayError::Unavailable(why)),
            },
            answer => return answer,
        }
    }
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
