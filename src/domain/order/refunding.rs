//! Paying money back: refunds by M-Pesa B2C, decided on the order's own stream so that the
//! expected version of that stream serialises them (two refunds decided on the same version
//! cannot both be appended): whatever the concurrency, refunds requested and not failed never
//! add up to more than the order received.
//!
//! A refund is `requested` (the refund reactor sends the B2C payment), then `completed` (its
//! receipt) or `failed` (the amount is refundable again). Duplicate or late results of a
//! settled refund change nothing. When a completed refund leaves nothing received unpaid back
//! on a cancelled, expired or `refund_due` order, `OrderRefunded` follows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tillroll_events::OrderEvent;
use uuid::Uuid;

use super::{Order, OrderError, OrderStatus};
use crate::domain::validate::FieldError;

/// B2C pays whole shillings, at least 10 (Daraja's minimum).
pub const MIN_REFUND: i64 = 1_000;
const REASON_MAX: usize = 500;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    #[default]
    Requested,
    Completed,
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: Uuid,
    pub amount: i64,
    pub phone: String,
    pub reason: String,
    pub status: RefundStatus,
    pub mpesa_receipt: Option<String>,
    pub failure_reason: Option<String>,
    pub requested_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// An admin asks for `amount` (all that is refundable when `None`) to be paid back.
#[derive(Debug, Clone)]
pub struct RequestRefund {
    pub refund_id: Uuid,
    pub amount: Option<i64>,
    pub reason: String,
    pub now: DateTime<Utc>,
}

/// Daraja's B2C result for a refund.
#[derive(Debug, Clone)]
pub enum RefundResult {
    Paid { mpesa_receipt: String },
    NotPaid { result_code: String, reason: String },
}

impl Order {
    /// Minor units that reached the shop for this order: the confirmed payment, and money
    /// that arrived but could not pay it (late, after a cancellation, a wrong amount).
    pub fn received(&self) -> i64 {
        self.attempts
            .iter()
            .filter(|a| a.money_received())
            .map(|a| a.paid_amount.unwrap_or(a.amount))
            .sum()
    }

    /// Paid back, or on its way back.
    pub fn refund_committed(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .map(|r| r.amount)
            .sum()
    }

    pub fn refunded_amount(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.status == RefundStatus::Completed)
            .map(|r| r.amount)
            .sum()
    }

    pub fn refundable(&self) -> i64 {
        (self.received() - self.refund_committed()).max(0)
    }

    pub fn refund(&self, refund_id: Uuid) -> Option<&Refund> {
        self.refunds.iter().find(|r| r.refund_id == refund_id)
    }

    /// The phone the money came from: refunds go back to it.
    fn paying_phone(&self) -> Option<&str> {
        self.attempts
            .iter()
            .find(|a| a.money_received())
            .map(|a| a.phone.as_str())
    }
}

pub fn request_refund(state: &Order, cmd: &RequestRefund) -> Result<Vec<OrderEvent>, OrderError> {
    if !state.exists {
        return Err(OrderError::NotFound);
    }
    if state.refund(cmd.refund_id).is_some() {
        return Ok(vec![]);
    }
    let reason = cmd.reason.trim();
    if reason.is_empty() || reason.chars().count() > REASON_MAX {
        let message = format!("a refund needs a reason of 1 to {REASON_MAX} characters");
        return Err(FieldError::new("reason", message).into());
    }
    let refundable = state.refundable();
    let amount = cmd.amount.unwrap_or(refundable);
    if cmd.amount.is_some_and(|a| a <= 0) {
        return Err(FieldError::new("amount", "must be positive").into());
    }
    if cmd.amount.is_some_and(|a| a % 100 != 0) {
        let message = "M-Pesa B2C pays whole shillings: the amount must be a multiple of 100";
        return Err(FieldError::new("amount", message).into());
    }
    let (Some(phone), true) = (state.paying_phone(), refundable > 0) else {
        return Err(OrderError::NotRefundable { refundable });
    };
    if amount > refundable {
        return Err(OrderError::NotRefundable { refundable });
    }
    if amount < MIN_REFUND || amount % 100 != 0 {
        return Err(OrderError::NotPayableByMpesa(format!(
            "M-Pesa B2C pays whole shillings, at least KES {}; {amount} minor units cannot be \
             paid back",
            MIN_REFUND / 100
        )));
    }
    Ok(vec![OrderEvent::RefundRequested {
        order_id: state.order_id,
        customer_id: state.customer_id,
        refund_id: cmd.refund_id,
        amount,
        phone: phone.to_owned(),
        reason: reason.to_owned(),
        requested_at: cmd.now,
    }])
}

/// Records the B2C result of a refund still `requested`; anything else is a duplicate or late
/// result and changes nothing.
pub fn settle_refund(
    state: &Order,
    refund_id: Uuid,
    result: &RefundResult,
    now: DateTime<Utc>,
) -> Result<Vec<OrderEvent>, OrderError> {
    let refund = state.refund(refund_id).ok_or(OrderError::UnknownRefund)?;
    if refund.status != RefundStatus::Requested {
        return Ok(vec![]);
    }
    let order_id = state.order_id;
    match result {
        RefundResult::NotPaid {
            result_code,
            reason,
        } => Ok(vec![OrderEvent::RefundFailed {
            order_id,
            refund_id,
            result_code: result_code.clone(),
            reason: reason.clone(),
            failed_at: now,
        }]),
        RefundResult::Paid { mpesa_receipt } => {
            let mut events = vec![OrderEvent::RefundCompleted {
                order_id,
                refund_id,
                amount: refund.amount,
                mpesa_receipt: mpesa_receipt.clone(),
                completed_at: now,
            }];
            let refunded = state.refunded_amount() + refund.amount;
            let owed = matches!(state.status, OrderStatus::Cancelled | OrderStatus::Expired)
                || state.refund_due;
            if owed && refunded >= state.received() {
                events.push(OrderEvent::OrderRefunded {
                    order_id,
                    refunded_at: now,
                });
            }
            Ok(events)
        }
    }
}

/// Folds the refund events into the order.
pub(super) fn evolve(order: &mut Order, event: &OrderEvent) {
    match event {
        OrderEvent::RefundRequested {
            refund_id,
            amount,
            phone,
            reason,
            requested_at,
            ..
        } => {
            if order.refund(*refund_id).is_none() {
                order.refunds.push(Refund {
                    refund_id: *refund_id,
                    amount: *amount,
                    phone: phone.clone(),
                    reason: reason.clone(),
                    requested_at: Some(*requested_at),
                    ..Refund::default()
                });
            }
            order.touch(*requested_at);
        }
        OrderEvent::RefundCompleted {
            refund_id,
            mpesa_receipt,
            completed_at,
            ..
        } => {
            if let Some(r) = order.refund_mut(*refund_id) {
                r.status = RefundStatus::Completed;
                r.mpesa_receipt = Some(mpesa_receipt.clone());
                r.completed_at = Some(*completed_at);
            }
            order.touch(*completed_at);
        }
        OrderEvent::RefundFailed {
            refund_id,
            reason,
            failed_at,
            ..
        } => {
            if let Some(r) = order.refund_mut(*refund_id) {
                r.status = RefundStatus::Failed;
                r.failure_reason = Some(reason.clone());
                r.completed_at = Some(*failed_at);
            }
            order.touch(*failed_at);
        }
        _ => {}
    }
}
