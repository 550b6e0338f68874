//! Paying an order: requesting STK pushes (attempts), Daraja's acceptance or refusal of the
//! push, and the outcome callbacks. Outcomes are matched to attempts by `CheckoutRequestID`;
//! duplicates and outcomes arriving out of order change nothing.

use chrono::{DateTime, Utc};
use tillroll_events::OrderEvent;
use uuid::Uuid;

use super::{Attempt, Order, OrderError, OrderStatus, RESULT_PAID};
use crate::domain::money::Money;
use crate::domain::phone::Msisdn;
use crate::domain::validate::Actor;

/// Attempts per order, first included: enough for honest retries, too few to spam a phone.
pub const MAX_ATTEMPTS: usize = 10;

/// The owner asks for a new STK push. `phone`: `None` reuses the latest attempt's phone.
#[derive(Debug, Clone)]
pub struct RequestPayment {
    pub actor: Actor,
    pub attempt_id: Uuid,
    pub phone: Option<Msisdn>,
    pub now: DateTime<Utc>,
}

/// Daraja accepted the STK push of `attempt_id`.
#[derive(Debug, Clone)]
pub struct RecordPushAccepted {
    pub attempt_id: Uuid,
    pub checkout_request_id: String,
    pub merchant_request_id: String,
}

/// Daraja refused the STK push (`code` is its `errorCode`, e.g. `400.002.02`), or it could not
/// be sent after the reactor's retries.
#[derive(Debug, Clone)]
pub struct RecordPushRejected {
    pub attempt_id: Uuid,
    pub code: String,
    pub reason: String,
}

/// A success for an attempt, from a callback (`ResultCode` 0) or an STK push query.
///
/// `stock_available_for_late_payment`: whether, for an expired order, every line could be
/// reserved and sold again now (the handler asks `stock::reserve_and_sell` on each line's
/// stock). Ignored unless the order is expired.
#[derive(Debug, Clone)]
pub struct ConfirmPayment {
    pub checkout_request_id: String,
    /// `None` when known from a query, which carries no receipt (recorded as empty).
    pub mpesa_receipt: Option<String>,
    /// Minor units. `None` when known from a query, which carries no amount: the amount of the
    /// push is then taken, which the customer cannot change.
    pub amount: Option<i64>,
    pub paid_at: DateTime<Utc>,
    pub stock_available_for_late_payment: bool,
}

/// A non-zero result for an attempt (see `payment::classify_result` for the reason).
#[derive(Debug, Clone)]
pub struct FailPayment {
    pub checkout_request_id: String,
    pub result_code: String,
    pub reason: String,
}

/// A new attempt for an unpaid order before its deadline. The same `attempt_id` again is a
/// no-op (a replayed request).
pub fn request_payment(state: &Order, cmd: &RequestPayment) -> Result<Vec<OrderEvent>, OrderError> {
    if !state.exists || cmd.actor.id != state.customer_id {
        return Err(OrderError::NotFound);
    }
    if state.attempt(cmd.attempt_id).is_some() {
        return Ok(vec![]);
    }
    match state.status {
        OrderStatus::PendingPayment => {}
        OrderStatus::Paid | OrderStatus::Shipped | OrderStatus::Delivered => {
            return Err(OrderError::AlreadyPaid);
        }
        status @ (OrderStatus::Cancelled | OrderStatus::Expired | OrderStatus::Refunded) => {
            return Err(OrderError::WrongState(status));
        }
    }
    if state.expires_at.is_none_or(|deadline| cmd.now >= deadline) {
        return Err(OrderError::DeadlinePassed);
    }
    if state.attempts.len() >= MAX_ATTEMPTS {
        return Err(OrderError::TooManyAttempts);
    }
    let phone = match &cmd.phone {
        Some(p) => p.as_str().to_owned(),
        None => state
            .attempts
            .last()
            .map_or_else(|| state.phone.clone(), |a| a.phone.clone()),
    };
    Ok(vec![OrderEvent::PaymentRequested {
        order_id: state.order_id,
        attempt_id: cmd.attempt_id,
        phone,
        amount: state.total,
        requested_at: cmd.now,
    }])
}

fn requested_attempt(state: &Order, attempt_id: Uuid) -> Result<Option<&Attempt>, OrderError> {
    let attempt = state
        .attempt(attempt_id)
        .ok_or(OrderError::UnknownAttempt)?;
    Ok((attempt.status == super::AttemptStatus::Requested).then_some(attempt))
}

/// A no-op unless the attempt is still `requested`.
pub fn record_push_accepted(
    state: &Order,
    cmd: &RecordPushAccepted,
) -> Result<Vec<OrderEvent>, OrderError> {
    let Some(attempt) = requested_attempt(state, cmd.attempt_id)? else {
        return Ok(vec![]);
    };
    Ok(vec![OrderEvent::PaymentRequestAccepted {
        order_id: state.order_id,
        attempt_id: attempt.attempt_id,
        checkout_request_id: cmd.checkout_request_id.clone(),
        merchant_request_id: cmd.merchant_request_id.clone(),
    }])
}

/// A no-op unless the attempt is still `requested`.
pub fn record_push_rejected(
    state: &Order,
    cmd: &RecordPushRejected,
) -> Result<Vec<OrderEvent>, OrderError> {
    let Some(attempt) = requested_attempt(state, cmd.attempt_id)? else {
        return Ok(vec![]);
    };
    Ok(vec![OrderEvent::PaymentFailed {
        order_id: state.order_id,
        attempt_id: attempt.attempt_id,
        checkout_request_id: None,
        result_code: cmd.code.clone(),
        reason: cmd.reason.clone(),
        mpesa_receipt: None,
        amount: None,
    }])
}

/// The money of an attempt arrived. In order: a duplicate changes nothing; a wrong amount is
/// recorded and flagged for refund (the order stays payable); a pending order is paid (even if
/// the attempt was marked failed, e.g. by a 1037 — the money is what counts); an expired order
/// is paid if its stock can be sold again; otherwise the money is refused and flagged for
/// refund (see the module docs of `order`).
pub fn confirm_payment(state: &Order, cmd: &ConfirmPayment) -> Result<Vec<OrderEvent>, OrderError> {
    let attempt = state
        .attempt_by_checkout(&cmd.checkout_request_id)
        .ok_or(OrderError::UnknownPayment)?;
    if attempt.money_received() {
        return Ok(vec![]);
    }
    let amount = cmd.amount.unwrap_or(attempt.amount);
    let receipt = cmd.mpesa_receipt.clone().unwrap_or_default();
    let received = Money::new(amount, state.currency.clone());
    let refund = |why: String| OrderEvent::RefundFlagged {
        order_id: state.order_id,
        reason: format!("refund {received} (M-Pesa receipt {receipt}): {why}"),
    };
    if amount != state.total {
        let expected = Money::new(state.total, state.currency.clone());
        return Ok(vec![
            OrderEvent::PaymentAmountMismatch {
                order_id: state.order_id,
                attempt_id: attempt.attempt_id,
                checkout_request_id: cmd.checkout_request_id.clone(),
                mpesa_receipt: receipt.clone(),
                amount,
                expected: state.total,
            },
            refund(format!("paid the wrong amount, the order is {expected}")),
        ]);
    }
    let refused = match state.status {
        OrderStatus::PendingPayment => None,
        OrderStatus::Expired if cmd.stock_available_for_late_payment => None,
        OrderStatus::Expired => Some("paid after the order expired, and its stock is gone"),
        OrderStatus::Cancelled | OrderStatus::Refunded => {
            Some("paid after the order was cancelled")
        }
        OrderStatus::Paid | OrderStatus::Shipped | OrderStatus::Delivered => {
            Some("the order was already paid by another attempt")
        }
    };
    let Some(why) = refused else {
        return Ok(vec![OrderEvent::PaymentConfirmed {
            order_id: state.order_id,
            attempt_id: attempt.attempt_id,
            checkout_request_id: cmd.checkout_request_id.clone(),
            mpesa_receipt: receipt,
            amount,
            paid_at: cmd.paid_at,
        }]);
    };
    Ok(vec![
        OrderEvent::PaymentFailed {
            order_id: state.order_id,
            attempt_id: attempt.attempt_id,
            checkout_request_id: Some(cmd.checkout_request_id.clone()),
            result_code: RESULT_PAID.into(),
            reason: format!("{why}; the money will be refunded"),
            mpesa_receipt: Some(receipt.clone()),
            amount: Some(amount),
        },
        refund(why.to_owned()),
    ])
}

/// Records a failure while the attempt is in flight; a duplicate, or a failure after the
/// attempt's money arrived, changes nothing (a query never downgrades a success).
pub fn fail_payment(state: &Order, cmd: &FailPayment) -> Result<Vec<OrderEvent>, OrderError> {
    let attempt = state
        .attempt_by_checkout(&cmd.checkout_request_id)
        .ok_or(OrderError::UnknownPayment)?;
    if !attempt.in_flight() {
        return Ok(vec![]);
    }
    Ok(vec![OrderEvent::PaymentFailed {
        order_id: state.order_id,
        attempt_id: attempt.attempt_id,
        checkout_request_id: Some(cmd.checkout_request_id.clone()),
        result_code: cmd.result_code.clone(),
        reason: cmd.reason.clone(),
        mpesa_receipt: None,
        amount: None,
    }])
}
