//! Settling an accepted STK push: from its callback in the `mpesa_callbacks` inbox, or from an
//! STK push query (the reconciler, or an admin asking now).

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use crate::commands::{CommandContext, CommandError, Commands, Outcome};
use crate::domain::order::Order;
use crate::domain::payment::{PaymentOutcome, classify_result};
use crate::payments::{
    CallbackOutcome, GatewayError, MpesaGateway, StkQueryOutcome, inbox, parse_callback,
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

impl Commands {
    /// Settles the inbox entry of `checkout_request_id` if its push is known and it is not
    /// processed yet. A 1037 (phone unreachable) is not a failure: the reconciler is asked to
    /// query Daraja now instead.
    pub async fn settle_callback(
        &self,
        checkout_request_id: &str,
    ) -> Result<Settlement, CommandError> {
        let row = inbox::pending_callback(self.store().pool(), checkout_request_id).await?;
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
                    inbox::query_now(self.store().pool(), checkout_request_id).await?;
                    return Ok(Settlement::Pending);
                }
            },
        };
        Ok(Settlement::Recorded(Box::new(outcome)))
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
        // The reconciler's record of what it asked and what it heard (no personal data: the
        // order, the push's id and the gateway's answer).
        match &answer {
            Ok(said) => tracing::info!(%order_id, checkout_request_id, answer = ?said,
                "reconciler: STK push query answered"),
            Err(error) => tracing::info!(%order_id, checkout_request_id, %error,
                "reconciler: STK push query failed; asking again later"),
        }
        let decided = |decision: &str| {
            tracing::info!(%order_id, checkout_request_id, decision, "reconciler: decided");
        };
        let outcome = match answer {
            Ok(StkQueryOutcome::Succeeded) => {
                decided("paid: confirming the payment");
                self.confirm_payment(&ctx, order_id, checkout_request_id, None, None, ctx.now)
                    .await?
            }
            Ok(StkQueryOutcome::Failed {
                result_code,
                reason,
            }) => match classify_result(&result_code) {
                PaymentOutcome::Paid => {
                    decided("paid: confirming the payment");
                    self.confirm_payment(&ctx, order_id, checkout_request_id, None, None, ctx.now)
                        .await?
                }
                // The query is the settling answer: 1037 now means the prompt went unanswered.
                PaymentOutcome::Unsettled { reason: why } if result_code.trim() == "1037" => {
                    decided("unanswered prompt (1037): failing the attempt");
                    self.fail_payment(&ctx, order_id, checkout_request_id, &result_code, &why)
                        .await?
                }
                PaymentOutcome::Unsettled { .. } => {
                    decided("not settled yet: asking again later");
                    self.recheck_later(checkout_request_id, recheck_after)
                        .await?;
                    return Ok(Settlement::Pending);
                }
                PaymentOutcome::NotPaid { reason: why } => {
                    tracing::debug!(%reason, "STK query: not paid");
                    decided("not paid: failing the attempt");
                    self.fail_payment(&ctx, order_id, checkout_request_id, &result_code, &why)
                        .await?
                }
            },
            Ok(StkQueryOutcome::Pending) => {
                decided("still pending: asking again later");
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
        inbox::query_at(self.store().pool(), checkout_request_id, Utc::now() + after).await?;
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
