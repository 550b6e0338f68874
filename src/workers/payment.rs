//! The payment reactor: follows the log from its own checkpoint and, for every
//! `PaymentRequested` (read only once its order committed), sends the STK push outside any
//! transaction, then records `PaymentRequestAccepted` (with its `mpesa_requests` row) or
//! `PaymentFailed` with Daraja's code and message, and settles a callback that beat it.
//!
//! Once at most: before a push is sent, its attempt is recorded in `stk_dispatches` under the
//! reactor's lease (fenced: a deposed reactor records nothing and sends nothing), and an
//! attempt recorded there is never pushed again. A crash or failover between the record and
//! Daraja's answer leaves an attempt of unknown fate: it is not sent blindly again (DESIGN
//! §8); its callback, if one comes, waits in the inbox, and the order expires unless the
//! customer asks for a new prompt (`POST /orders/{id}/payment`).

use std::time::Duration;

use chrono::Utc;
use tillroll_events::{LogPosition, OrderEvent, RecordedEvent};
use tillroll_projections::lease::{Fence, fence_sql};
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

/// Records, under the lease, that this attempt's push is about to be sent; `false` when it was
/// recorded before (sent, or of unknown fate) or the lease is lost: then nothing is sent.
async fn record_dispatch(
    state: &AppState,
    fence: &Fence,
    order_id: uuid::Uuid,
    attempt_id: uuid::Uuid,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO stk_dispatches (attempt_id, order_id, holder, epoch) \
         SELECT $1, $2, $4, $5 WHERE {} \
         ON CONFLICT (attempt_id) DO NOTHING",
        fence_sql(3)
    )))
    .bind(attempt_id)
    .bind(order_id)
    .bind(&fence.lease)
    .bind(&fence.holder)
    .bind(fence.epoch)
    .execute(&state.pool)
    .await?;
    Ok(inserted.rows_affected() == 1)
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
            match record_dispatch(state, fence, order_id, attempt_id).await {
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
            let answer = push_with_retries(state, &push).await;
            let ctx = CommandContext::system(order_id, Utc::now()).caused_by(event.event_id);
            record(state, &ctx, order_id, attempt_id, answer).await
        }
    };
    if let Err(error) = recorded {
        tracing::warn!(%error, %order_id, "the answer to an STK push was not recorded");
    }
    Ok(())
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
