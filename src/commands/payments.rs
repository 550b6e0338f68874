//! Payment commands: recording Daraja's answer to an STK push, settling an attempt from a
//! callback (through the `mpesa_callbacks` inbox) or from an STK push query, with the stock
//! effects of the outcome in the same transaction. Every command is correlated to the order.
//!
//! Rows beside the events: `mpesa_requests` (CheckoutRequestID → order, and when the
//! reconciler should next ask Daraja) and `mpesa_callbacks` (the inbox). Both are marked in the
//! transaction that records an outcome, so a crash never leaves one half-settled.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tillroll_events::StreamId;
use uuid::Uuid;

use super::orders::{append_with_effects, order_streams};
use super::{CommandContext, CommandError, Commands, Outcome, SideWrite, UnitOfWork};
use crate::domain::Aggregate;
use crate::domain::order::{self, Order, OrderStatus};
use crate::domain::payment::{PaymentOutcome, classify_result};
use crate::domain::stock::{self, Stock};
use crate::payments::{
    CallbackOutcome, GatewayError, MpesaGateway, StkPushAccepted, StkQueryOutcome, parse_callback,
};

/// What settling an attempt did.
#[derive(Debug, Clone)]
pub enum Settlement {
    /// An outcome was recorded (or found already recorded): the order as it now is.
    Recorded(Box<Outcome<Order>>),
    /// Daraja does not know yet (or a 1037): the reconciler asks again later.
    Pending,
    /// No accepted push has this CheckoutRequestID (yet), or its callback is not in the inbox.
    Unknown,
}

/// Marks the attempt settled and its callback processed, in the unit's transaction.
fn mark_settled(uow: &mut UnitOfWork<'_>, checkout_request_id: &str) {
    let now = uow.context().now;
    uow.also(
        SideWrite::new(
            "UPDATE mpesa_requests SET settled_at = $2 \
             WHERE checkout_request_id = $1 AND settled_at IS NULL",
        )
        .bind(checkout_request_id.to_owned())
        .bind(now),
    );
    uow.also(
        SideWrite::new(
            "UPDATE mpesa_callbacks SET processed_at = $2 \
             WHERE checkout_request_id = $1 AND processed_at IS NULL",
        )
        .bind(checkout_request_id.to_owned())
        .bind(now),
    );
}

/// Whether every line of an expired order could be reserved and sold again now.
async fn stock_allows_late_payment(
    uow: &mut UnitOfWork<'_>,
    order: &Order,
) -> Result<bool, CommandError> {
    for line in &order.lines {
        let (state, _) = uow.load::<Stock>(&StreamId::stock(line.product_id)).await?;
        let sale = stock::ReserveAndSell {
            product_id: line.product_id,
            order_id: order.order_id,
            quantity: line.quantity,
        };
        if stock::reserve_and_sell(&state, &sale).is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Commands {
    /// Daraja took the push: `PaymentRequestAccepted` and the `mpesa_requests` row.
    pub async fn record_push_accepted(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        attempt_id: Uuid,
        accepted: &StkPushAccepted,
        query_after: Duration,
    ) -> Result<Outcome<Order>, CommandError> {
        let ctx = ctx.clone().correlated(order_id);
        let stream = StreamId::order(order_id);
        let next_query_at = ctx.now + chrono::TimeDelta::from_std(query_after).unwrap_or_default();
        let lock = [stream.clone()];
        let accepted = accepted.clone();
        self.run(&ctx, &lock, async move |uow| {
            let (before, _) = uow.load::<Order>(&stream).await?;
            let command = order::RecordPushAccepted {
                attempt_id,
                checkout_request_id: accepted.checkout_request_id.clone(),
                merchant_request_id: accepted.merchant_request_id.clone(),
            };
            let events = order::record_push_accepted(&before, &command)?;
            let mut after = before.clone();
            events.iter().for_each(|e| after.evolve(e));
            if !events.is_empty() {
                uow.also(
                    SideWrite::new(
                        "INSERT INTO mpesa_requests (checkout_request_id, order_id, attempt_id, \
                             accepted_at, next_query_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (checkout_request_id) DO NOTHING",
                    )
                    .bind(accepted.checkout_request_id.clone())
                    .bind(order_id)
                    .bind(attempt_id)
                    .bind(uow.context().now)
                    .bind(next_query_at),
                );
            }
            uow.append::<Order>(&stream, events);
            Ok(after)
        })
        .await
    }

    /// Daraja refused the push, or could not be reached: the attempt failed.
    pub async fn record_push_rejected(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        attempt_id: Uuid,
        code: &str,
        reason: &str,
    ) -> Result<Outcome<Order>, CommandError> {
        let command = order::RecordPushRejected {
            attempt_id,
            code: code.to_owned(),
            reason: reason.to_owned(),
        };
        self.transition(ctx, order_id, move |o| {
            order::record_push_rejected(o, &command)
        })
        .await
    }

    /// The attempt's money arrived (callback or query): paid, or recorded and flagged.
    pub async fn confirm_payment(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        checkout_request_id: &str,
        mpesa_receipt: Option<String>,
        amount: Option<i64>,
        paid_at: DateTime<Utc>,
    ) -> Result<Outcome<Order>, CommandError> {
        let ctx = ctx.clone().correlated(order_id);
        let current = self.load_order(&ctx, order_id).await?;
        let stream = StreamId::order(order_id);
        let checkout_request_id = checkout_request_id.to_owned();
        self.run(&ctx, &order_streams(&current), async move |uow| {
            let (before, _) = uow.load::<Order>(&stream).await?;
            let late = before.status == OrderStatus::Expired
                && stock_allows_late_payment(uow, &before).await?;
            let command = order::ConfirmPayment {
                checkout_request_id: checkout_request_id.to_owned(),
                mpesa_receipt: mpesa_receipt.clone(),
                amount,
                paid_at,
                stock_available_for_late_payment: late,
            };
            let events = order::confirm_payment(&before, &command)?;
            let mut after = before.clone();
            events.iter().for_each(|e| after.evolve(e));
            append_with_effects(uow, &before, events).await?;
            mark_settled(uow, &checkout_request_id);
            Ok(after)
        })
        .await
    }

    /// The attempt ended without money (failed callback or query).
    pub async fn fail_payment(
        &self,
        ctx: &CommandContext,
        order_id: Uuid,
        checkout_request_id: &str,
        result_code: &str,
        reason: &str,
    ) -> Result<Outcome<Order>, CommandError> {
        let ctx = ctx.clone().correlated(order_id);
        let stream = StreamId::order(order_id);
        let lock = [stream.clone()];
        let (checkout_request_id, result_code, reason) = (
            checkout_request_id.to_owned(),
            result_code.to_owned(),
            reason.to_owned(),
        );
        self.run(&ctx, &lock, async move |uow| {
            let (before, _) = uow.load::<Order>(&stream).await?;
            let command = order::FailPayment {
                checkout_request_id: checkout_request_id.to_owned(),
                result_code: result_code.to_owned(),
                reason: reason.to_owned(),
            };
            let events = order::fail_payment(&before, &command)?;
            let mut after = before.clone();
            events.iter().for_each(|e| after.evolve(e));
            // A failure moves no stock: the order stays payable until it expires.
            append_with_effects(uow, &before, events).await?;
            mark_settled(uow, &checkout_request_id);
            Ok(after)
        })
        .await
    }

    /// Settles the inbox entry of `checkout_request_id` if its push is known and it is not
    /// processed yet. A 1037 (phone unreachable) is not a failure: the reconciler is asked to
    /// query Daraja now instead.
    pub async fn settle_callback(
        &self,
        checkout_request_id: &str,
    ) -> Result<Settlement, CommandError> {
        let row: Option<(Uuid, serde_json::Value)> = sqlx::query_as(
            "SELECT r.order_id, c.body FROM mpesa_callbacks c \
             JOIN mpesa_requests r USING (checkout_request_id) \
             WHERE c.checkout_request_id = $1 AND c.processed_at IS NULL",
        )
        .bind(checkout_request_id)
        .fetch_optional(self.store().pool())
        .await?;
        let Some((order_id, body)) = row else {
            return Ok(Settlement::Unknown);
        };
        let ctx = CommandContext::system(order_id, Utc::now());
        let Ok(callback) = parse_callback(body.to_string().as_bytes()) else {
            tracing::warn!(checkout_request_id, "stored callback no longer parses");
            return Ok(Settlement::Unknown);
        };
        let outcome = match callback.outcome {
            CallbackOutcome::Paid {
                amount_shillings,
                receipt,
                transaction_date,
                ..
            } => {
                let amount = amount_shillings.checked_mul(100).unwrap_or(i64::MAX);
                let paid_at = transaction_date.unwrap_or(ctx.now);
                self.confirm_payment(
                    &ctx,
                    order_id,
                    checkout_request_id,
                    Some(receipt),
                    Some(amount),
                    paid_at,
                )
                .await?
            }
            CallbackOutcome::NotPaid { result_code, .. } => match classify_result(&result_code) {
                PaymentOutcome::NotPaid { reason } => {
                    self.fail_payment(&ctx, order_id, checkout_request_id, &result_code, &reason)
                        .await?
                }
                PaymentOutcome::Unsettled { .. } | PaymentOutcome::Paid => {
                    self.query_now(checkout_request_id).await?;
                    return Ok(Settlement::Pending);
                }
            },
        };
        Ok(Settlement::Recorded(Box::new(outcome)))
    }

    /// An unsettled callback: processed, and the reconciler should ask Daraja at once.
    async fn query_now(&self, checkout_request_id: &str) -> Result<(), CommandError> {
        let mut tx = self.store().pool().begin().await?;
        sqlx::query(
            "UPDATE mpesa_callbacks SET processed_at = now() WHERE checkout_request_id = $1",
        )
        .bind(checkout_request_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE mpesa_requests SET next_query_at = now() WHERE checkout_request_id = $1",
        )
        .bind(checkout_request_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Asks Daraja about one accepted push (outside any transaction) and records what it
    /// says. Still pending, or Daraja unreachable: asked again after `recheck_after`.
    pub async fn reconcile_attempt(
        &self,
        gateway: &dyn MpesaGateway,
        order_id: Uuid,
        checkout_request_id: &str,
        recheck_after: Duration,
    ) -> Result<Settlement, ReconcileError> {
        let ctx = CommandContext::system(order_id, Utc::now());
        let answer = gateway.stk_query(checkout_request_id).await;
        let outcome = match answer {
            Ok(StkQueryOutcome::Succeeded) => {
                self.confirm_payment(&ctx, order_id, checkout_request_id, None, None, ctx.now)
                    .await?
            }
            Ok(StkQueryOutcome::Failed {
                result_code,
                reason,
            }) => match classify_result(&result_code) {
                PaymentOutcome::Paid => {
                    self.confirm_payment(&ctx, order_id, checkout_request_id, None, None, ctx.now)
                        .await?
                }
                // The query is the settling answer: 1037 now means the prompt went unanswered.
                PaymentOutcome::Unsettled { reason: why } if result_code.trim() == "1037" => {
                    self.fail_payment(&ctx, order_id, checkout_request_id, &result_code, &why)
                        .await?
                }
                PaymentOutcome::Unsettled { .. } => {
                    self.recheck_later(checkout_request_id, recheck_after)
                        .await?;
                    return Ok(Settlement::Pending);
                }
                PaymentOutcome::NotPaid { reason: why } => {
                    tracing::debug!(%reason, "STK query: not paid");
                    self.fail_payment(&ctx, order_id, checkout_request_id, &result_code, &why)
                        .await?
                }
            },
            Ok(StkQueryOutcome::Pending) => {
                self.recheck_later(checkout_request_id, recheck_after)
                    .await?;
                return Ok(Settlement::Pending);
            }
            Err(error) => {
                self.recheck_later(checkout_request_id, recheck_after)
                    .await?;
                return Err(ReconcileError::Gateway(error));
            }
        };
        Ok(Settlement::Recorded(Box::new(outcome)))
    }

    pub(crate) async fn recheck_later(
        &self,
        checkout_request_id: &str,
        after: Duration,
    ) -> Result<(), CommandError> {
        let after = chrono::TimeDelta::from_std(after).unwrap_or_default();
        sqlx::query("UPDATE mpesa_requests SET next_query_at = $2 WHERE checkout_request_id = $1")
            .bind(checkout_request_id)
            .bind(Utc::now() + after)
            .execute(self.store().pool())
            .await?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Gateway(GatewayError),
}
