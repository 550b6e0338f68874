//! Settling a B2C payment (a refund or a payout) from the result in the `b2c_results` inbox: the
//! payment's own result, or the answer to a transaction status query about it.

use std::time::Duration;

use chrono::Utc;

use crate::commands::{CommandContext, CommandError, Commands, Outcome};
use crate::domain::order::{Order, RefundResult};
use crate::payments::b2c::parse_result;
use crate::payments::{B2cOutcome, b2c_inbox};

/// What settling a B2C result did.
#[derive(Debug, Clone)]
pub enum B2cSettlement {
    /// Recorded on the refund (or found already recorded): the order as it now is.
    Refund(Box<Outcome<Order>>),
    /// Recorded on the payout.
    Payout,
    /// A status answer that settles nothing yet: asked again later.
    Pending,
    /// No recorded payment has this id (yet), or the result is not in the inbox.
    Unknown,
}

/// Daraja's B2C failure, in words for people (never switch on its `ResultDesc`).
pub fn b2c_reason(result_code: &str, description: &str) -> String {
    let why = match result_code.trim() {
        "2001" => "M-Pesa refused the initiator's credentials",
        "1" => "the business account's M-Pesa balance is insufficient",
        "8006" => "the initiator's security credential is locked",
        "17" | "26" => "M-Pesa was busy or limited the request",
        _ => "M-Pesa did not make the payment",
    };
    format!("{why} (result {result_code}: {description})")
}

impl Commands {
    /// Settles the inbox entry `result_id` if its payment is known and it is not processed
    /// yet. A status answer that says nothing yet reschedules the query after `recheck`.
    pub async fn settle_b2c_result(
        &self,
        result_id: &str,
        recheck: Duration,
    ) -> Result<B2cSettlement, CommandError> {
        let pool = self.store().pool();
        let Some((dispatch, body, is_status)) = b2c_inbox::pending_result(pool, result_id).await?
        else {
            return Ok(B2cSettlement::Unknown);
        };
        let Some(result) = parse_result(&body, is_status) else {
            tracing::warn!(result_id, "stored B2C result no longer parses");
            return Ok(B2cSettlement::Unknown);
        };
        let refund = match result.outcome {
            B2cOutcome::Paid { receipt } => RefundResult::Paid {
                mpesa_receipt: receipt,
            },
            B2cOutcome::NotPaid {
                result_code,
                description,
            } => RefundResult::NotPaid {
                reason: b2c_reason(&result_code, &description),
                result_code,
            },
            B2cOutcome::Unknown { description } => {
                tracing::info!(payment = %dispatch.id, %description, "B2C status not known yet");
                let next = Utc::now() + chrono::TimeDelta::from_std(recheck).unwrap_or_default();
                b2c_inbox::unsettled(pool, dispatch.id, result_id, next).await?;
                return Ok(B2cSettlement::Pending);
            }
        };
        if let (b2c_inbox::PAYOUT, Some(seller_id)) = (dispatch.kind.as_str(), dispatch.seller_id) {
            self.settle_payout(seller_id, dispatch.id, refund, result_id.to_owned())
                .await?;
            return Ok(B2cSettlement::Payout);
        }
        let Some(order_id) = dispatch
            .order_id
            .filter(|_| dispatch.kind == b2c_inbox::REFUND)
        else {
            tracing::warn!(payment = %dispatch.id, kind = dispatch.kind, "B2C result of no refund");
            return Ok(B2cSettlement::Unknown);
        };
        let ctx = CommandContext::system(order_id, Utc::now());
        let outcome = self
            .settle_refund(&ctx, order_id, dispatch.id, refund, result_id.to_owned())
            .await?;
        Ok(B2cSettlement::Refund(Box::new(outcome)))
    }
}
