//! The B2C reactor: follows the log from its own checkpoint and, for every `RefundRequested`
//! and `PayoutRequested` (read only once committed), sends the B2C payment outside any transaction and
//! keeps Daraja's acceptance; the result comes by callback (`b2c_results`), or the
//! reconciler asks (`timers`).
//!
//! Never paid twice, as the STK pushes: before a payment is sent it is recorded in
//! `b2c_dispatches` under the reactor's lease (fenced: a deposed reactor records nothing and
//! sends nothing), and a payment recorded there is never sent again, whatever happened
//! after (a crash, a lost answer, a failover). A payment whose answer never came is of
//! unknown fate: the reconciler's transaction status query settles it, never a resend.

use std::time::Duration;

use chrono::Utc;
use tillroll_events::{LogPosition, OrderEvent, RecordedEvent, SellerEvent};
use tillroll_projections::lease::Fence;
use tokio::sync::watch;
use uuid::Uuid;

use crate::commands::payments::b2c_reason;
use crate::commands::{CommandContext, CommandError};
use crate::domain::money;
use crate::domain::order::{RefundResult, RefundStatus};
use crate::domain::payment::account_reference;
use crate::domain::seller::PayoutStatus;
use crate::payments::b2c_inbox::{self, Dispatch};
use crate::payments::{B2cPayment, GatewayError};
use crate::state::AppState;

pub const CHECKPOINT: &str = "b2c";
const CONCURRENCY: usize = 8;

pub async fn run(state: AppState, fence: Fence, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if let Err(error) = follow(&state, &fence, &mut stop).await {
            tracing::warn!(%error, "B2C reactor; resuming from its checkpoint");
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
        .only_types(vec![
            "RefundRequested".to_owned(),
            "PayoutRequested".to_owned(),
        ])
        .batch_size(100);
    loop {
        let batch = tokio::select! {
            batch = subscription.next_batch() => batch,
            _ = stop.changed() => return Ok(()),
        };
        let batch = batch.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        for chunk in batch.chunks(CONCURRENCY) {
            let payments: Vec<_> = chunk.iter().map(|e| handle(state, fence, e)).collect();
            // A payment whose dispatch could not be recorded was not sent: read again.
            for handled in futures_util::future::join_all(payments).await {
                handled?;
            }
        }
        save_checkpoint(state, fence, subscription.position()).await?;
    }
}

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

/// The callback URLs of B2C results: the same secret token as the STK callback.
pub fn result_urls(state: &AppState) -> (String, String) {
    let base = format!("{}/payments/mpesa/b2c", state.public_url);
    let token = state.callback_token.as_str();
    (
        format!("{base}/result/{token}"),
        format!("{base}/timeout/{token}"),
    )
}

/// One B2C payment to send: what it pays and to whom.
struct Job {
    dispatch: Dispatch,
    phone: String,
    amount: i64,
    remarks: String,
    occasion: &'static str,
}

/// The payment a `RefundRequested` or `PayoutRequested` asks for, if it is still requested.
async fn job_of(state: &AppState, event: &RecordedEvent) -> Option<Job> {
    let ctx = CommandContext::system(Uuid::now_v7(), Utc::now());
    if let Ok(OrderEvent::RefundRequested {
        order_id,
        refund_id,
        amount,
        phone,
        ..
    }) = event.decode::<OrderEvent>()
    {
        let order = state.commands.load_order(&ctx, order_id).await.ok()?;
        let refund = order.refund(refund_id)?;
        return (refund.status == RefundStatus::Requested).then(|| Job {
            dispatch: Dispatch {
                id: refund_id,
                kind: b2c_inbox::REFUND.to_owned(),
                order_id: Some(order_id),
                seller_id: None,
            },
            phone,
            amount,
            remarks: format!("Refund for order {}", account_reference(order_id)),
            occasion: "refund",
        });
    }
    if let Ok(SellerEvent::PayoutRequested {
        seller_id,
        payout_id,
        phone,
        amount,
        ..
    }) = event.decode::<SellerEvent>()
    {
        let ledger = state.commands.load_ledger(seller_id).await.ok()?;
        let payout = ledger.payout(payout_id)?;
        return (payout.status == PayoutStatus::Requested).then(|| Job {
            dispatch: Dispatch {
                id: payout_id,
                kind: b2c_inbox::PAYOUT.to_owned(),
                order_id: None,
                seller_id: Some(seller_id),
            },
            phone,
            amount,
            remarks: "Marketplace payout".to_owned(),
            occasion: "payout",
        });
    }
    None
}

async fn handle(state: &AppState, fence: &Fence, event: &RecordedEvent) -> Result<(), sqlx::Error> {
    let Some(job) = job_of(state, event).await else {
        return Ok(());
    };
    let id = job.dispatch.id;
    let Some(amount_shillings) = money::whole_shillings(job.amount) else {
        let refused = RefundResult::NotPaid {
            result_code: "amount".to_owned(),
            reason: "M-Pesa B2C pays whole shillings only".to_owned(),
        };
        return record(state, &job.dispatch, refused).await;
    };
    if !b2c_inbox::record_dispatch(&state.pool, fence, &job.dispatch).await? {
        tracing::warn!(payment = %id, "B2C payment already dispatched (or lease lost): not sent again");
        return Ok(());
    }
    let (result_url, timeout_url) = result_urls(state);
    let payment = B2cPayment {
        originator_conversation_id: id,
        phone: job.phone,
        amount_shillings,
        remarks: job.remarks,
        occasion: job.occasion.to_owned(),
        result_url,
        timeout_url,
    };
    // Seen through to its recorded answer even if the lease is lost meanwhile (as the STK
    // push): the answer is a fact about a payment already sent.
    let (state, fence, dispatch) = (state.clone(), fence.clone(), job.dispatch);
    let sent = tokio::spawn(async move {
        if !fence.holds(&state.pool).await.unwrap_or(false) {
            tracing::warn!(payment = %id, "lease lost before the B2C payment was sent: not sent");
            return Ok(());
        }
        let answer = state.b2c.b2c_payment(&payment).await;
        let recheck = Utc::now()
            + chrono::TimeDelta::from_std(state.config.reconcile_after).unwrap_or_default();
        match answer {
            Ok(conversation_id) => {
                state.metrics.payment("b2c_accepted");
                b2c_inbox::record_answer(&state.pool, id, Some(&conversation_id), recheck).await?;
                // The result may have come first (the simulator answers in milliseconds).
                let settled = state
                    .commands
                    .settle_b2c_result(&id.to_string(), state.config.reconcile_after)
                    .await;
                if let Err(error) = settled {
                    tracing::warn!(%error, payment = %id, "B2C result not settled yet");
                }
                Ok(())
            }
            Err(GatewayError::Rejected { code, message }) => {
                state.metrics.payment("b2c_rejected");
                let refused = RefundResult::NotPaid {
                    reason: b2c_reason(&code, &message),
                    result_code: code,
                };
                record(&state, &dispatch, refused).await
            }
            // Daraja may have taken it: only a status query may tell.
            Err(GatewayError::Unavailable(why)) => {
                state.metrics.payment("b2c_unavailable");
                tracing::warn!(payment = %id, %why, "B2C payment of unknown fate; the reconciler asks");
                b2c_inbox::record_answer(&state.pool, id, None, recheck).await
            }
        }
    });
    match sent.await {
        Ok(recorded) => recorded,
        Err(error) => {
            tracing::error!(%error, payment = %id, "B2C payment task failed");
            Ok(())
        }
    }
}

/// Records a refusal: no result will come, the dispatch is settled with it.
async fn record(
    state: &AppState,
    dispatch: &Dispatch,
    result: RefundResult,
) -> Result<(), sqlx::Error> {
    let id = dispatch.id;
    let settled = match (dispatch.order_id, dispatch.seller_id) {
        (Some(order_id), _) => {
            let ctx = CommandContext::system(order_id, Utc::now());
            state
                .commands
                .settle_refund(&ctx, order_id, id, result, String::new())
                .await
                .map(|_| ())
        }
        (None, Some(seller_id)) => state
            .commands
            .settle_payout(seller_id, id, result, String::new())
            .await
            .map(|_| ()),
        (None, None) => Ok(()),
    };
    match settled {
        Ok(()) => Ok(()),
        Err(CommandError::Store(crate::store::StoreError::Database(error))) => Err(error),
        Err(error) => {
            tracing::warn!(%error, payment = %id, "the refusal of a B2C payment was not recorded");
            Ok(())
        }
    }
}
