//! An order's state, folded from its events, with its payment attempts and the `payment`
//! summary API.md shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tillroll_events::{Currency, OrderEvent, order::OrderLine};
use uuid::Uuid;

use crate::domain::Aggregate;

/// Daraja's result code for "paid", kept on every attempt whose money arrived.
pub const RESULT_PAID: &str = "0";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    #[default]
    PendingPayment,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    Expired,
    /// Cancelled or expired (or paid by money it could not take), and everything received
    /// paid back.
    Refunded,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "pending_payment",
            Self::Paid => "paid",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Refunded => "refunded",
        }
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// The STK push is to be sent (or is being sent).
    #[default]
    Requested,
    /// Daraja took the push; its callback will name `checkout_request_id`.
    Accepted,
    Failed,
    Succeeded,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub attempt_id: Uuid,
    pub phone: String,
    pub amount: i64,
    pub requested_at: Option<DateTime<Utc>>,
    pub status: AttemptStatus,
    pub checkout_request_id: Option<String>,
    pub merchant_request_id: Option<String>,
    /// Daraja's code, raw; `0` whenever money arrived, accepted or not.
    pub result_code: Option<String>,
    pub failure_reason: Option<String>,
    pub mpesa_receipt: Option<String>,
    pub paid_amount: Option<i64>,
    pub paid_at: Option<DateTime<Utc>>,
    /// The full amount arrived but could not pay the order (late, after a cancellation, a
    /// second success): shown as received in `payment`, and refundable.
    #[serde(default)]
    pub paid_but_refused: bool,
}

impl Attempt {
    /// Money arrived for this attempt (confirmed, wrong amount, or refused): any further
    /// outcome for it is a duplicate.
    pub fn money_received(&self) -> bool {
        self.result_code.as_deref() == Some(RESULT_PAID)
    }

    pub fn in_flight(&self) -> bool {
        matches!(
            self.status,
            AttemptStatus::Requested | AttemptStatus::Accepted
        )
    }
}

/// API.md's `payment.status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    #[default]
    NotStarted,
    Requested,
    Failed,
    Succeeded,
}

/// The order's `payment` object: the successful attempt if there is one, else the latest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSummary {
    pub status: PaymentStatus,
    pub attempts: usize,
    pub checkout_request_id: Option<String>,
    pub mpesa_receipt: Option<String>,
    pub paid_amount: Option<i64>,
    pub paid_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    /// Minor units paid back by completed refunds.
    pub refunded_amount: i64,
}

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Order {
    pub exists: bool,
    pub order_id: Uuid,
    pub customer_id: Uuid,
    /// The customer, or the admin who placed the order on their behalf.
    pub placed_by: Uuid,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total: i64,
    pub currency: Currency,
    /// The phone the order was placed with.
    pub phone: String,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The latest time an event carried (acceptances, failures and refund flags carry none).
    pub updated_at: Option<DateTime<Utc>>,
    pub attempts: Vec<Attempt>,
    pub payment: PaymentSummary,
    pub refund_due: bool,
    pub refund_reasons: Vec<String>,
    pub cancel_reason: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub shipped_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub refunds: Vec<super::Refund>,
}

impl Order {
    pub fn attempt(&self, attempt_id: Uuid) -> Option<&Attempt> {
        self.attempts.iter().find(|a| a.attempt_id == attempt_id)
    }

    pub fn attempt_by_checkout(&self, checkout_request_id: &str) -> Option<&Attempt> {
        self.attempts
            .iter()
            .find(|a| a.checkout_request_id.as_deref() == Some(checkout_request_id))
    }

    fn attempt_mut(&mut self, attempt_id: Uuid) -> Option<&mut Attempt> {
        self.attempts
            .iter_mut()
            .find(|a| a.attempt_id == attempt_id)
    }

    pub(super) fn refund_mut(&mut self, refund_id: Uuid) -> Option<&mut super::Refund> {
        self.refunds.iter_mut().find(|r| r.refund_id == refund_id)
    }

    pub(super) fn touch(&mut self, at: DateTime<Utc>) {
        self.updated_at = Some(self.updated_at.map_or(at, |u| u.max(at)));
    }

    fn summarize(&mut self) {
        let attempts = self.attempts.len();
        // Money that arrived but could not pay the order still shows as received, with its
        // receipt: the customer paid, and the refund pays it back.
        let paid = self
            .attempts
            .iter()
            .find(|a| a.status == AttemptStatus::Succeeded)
            .or_else(|| self.attempts.iter().find(|a| a.paid_but_refused));
        self.payment = match (paid, self.attempts.last()) {
            (Some(a), _) => PaymentSummary {
                status: PaymentStatus::Succeeded,
                attempts,
                checkout_request_id: a.checkout_request_id.clone(),
                mpesa_receipt: a.mpesa_receipt.clone(),
                paid_amount: a.paid_amount,
                paid_at: a.paid_at,
                failure_reason: None,
                refunded_amount: 0,
            },
            (None, Some(last)) => PaymentSummary {
                status: if last.in_flight() {
                    PaymentStatus::Requested
                } else {
                    PaymentStatus::Failed
                },
                attempts,
                checkout_request_id: last.checkout_request_id.clone(),
                failure_reason: last.failure_reason.clone(),
                ..PaymentSummary::default()
            },
            (None, None) => PaymentSummary::default(),
        };
        self.payment.refunded_amount = self.refunded_amount();
    }
}

impl Aggregate for Order {
    type Event = OrderEvent;
    /// 2: `placed_by`; 3: refunds, `payment.refunded_amount`, money received but refused.
    const STATE_VERSION: i32 = 3;

    fn evolve(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::OrderPlaced {
                order_id,
                customer_id,
                placed_by,
                items,
                total,
                currency,
                phone,
                placed_at,
                expires_at,
            } => {
                *self = Self {
                    exists: true,
                    order_id: *order_id,
                    customer_id: *customer_id,
                    placed_by: *placed_by,
                    lines: items.clone(),
                    total: *total,
                    currency: currency.clone(),
                    phone: phone.clone(),
                    created_at: Some(*placed_at),
                    expires_at: Some(*expires_at),
                    updated_at: Some(*placed_at),
                    ..Self::default()
                };
            }
            OrderEvent::PaymentRequested {
                attempt_id,
                phone,
                amount,
                requested_at,
                ..
            } => {
                if self.attempt(*attempt_id).is_none() {
                    self.attempts.push(Attempt {
                        attempt_id: *attempt_id,
                        phone: phone.clone(),
                        amount: *amount,
                        requested_at: Some(*requested_at),
                        ..Attempt::default()
                    });
                }
                self.touch(*requested_at);
            }
            OrderEvent::PaymentRequestAccepted {
                attempt_id,
                checkout_request_id,
                merchant_request_id,
                ..
            } => {
                if let Some(a) = self.attempt_mut(*attempt_id) {
                    a.status = AttemptStatus::Accepted;
                    a.checkout_request_id = Some(checkout_request_id.clone());
                    a.merchant_request_id = Some(merchant_request_id.clone());
                }
            }
            OrderEvent::PaymentFailed {
                attempt_id,
                checkout_request_id,
                result_code,
                reason,
                mpesa_receipt,
                amount,
                ..
            } => {
                if let Some(a) = self.attempt_mut(*attempt_id) {
                    a.status = AttemptStatus::Failed;
                    if checkout_request_id.is_some() {
                        a.checkout_request_id.clone_from(checkout_request_id);
                    }
                    a.result_code = Some(result_code.clone());
                    a.failure_reason = Some(reason.clone());
                    if mpesa_receipt.is_some() {
                        a.paid_but_refused = true;
                        a.mpesa_receipt.clone_from(mpesa_receipt);
                        a.paid_amount = amount.or(Some(a.amount));
                    }
                }
            }
            OrderEvent::PaymentConfirmed {
                attempt_id,
                checkout_request_id,
                mpesa_receipt,
                amount,
                paid_at,
                ..
            } => {
                if let Some(a) = self.attempt_mut(*attempt_id) {
                    a.status = AttemptStatus::Succeeded;
                    a.checkout_request_id = Some(checkout_request_id.clone());
                    a.result_code = Some(RESULT_PAID.into());
                    a.failure_reason = None;
                    a.mpesa_receipt = Some(mpesa_receipt.clone());
                    a.paid_amount = Some(*amount);
                    a.paid_at = Some(*paid_at);
                }
                self.status = OrderStatus::Paid;
                self.touch(*paid_at);
            }
            OrderEvent::PaymentAmountMismatch {
                attempt_id,
                checkout_request_id,
                mpesa_receipt,
                amount,
                expected,
                ..
            } => {
                if let Some(a) = self.attempt_mut(*attempt_id) {
                    a.status = AttemptStatus::Failed;
                    a.checkout_request_id = Some(checkout_request_id.clone());
                    a.result_code = Some(RESULT_PAID.into());
                    a.failure_reason = Some(mismatch_reason(*amount, *expected));
                    a.mpesa_receipt = Some(mpesa_receipt.clone());
                    a.paid_amount = Some(*amount);
                }
            }
            OrderEvent::RefundFlagged { reason, .. } => {
                self.refund_due = true;
                self.refund_reasons.push(reason.clone());
            }
            OrderEvent::OrderCancelled {
                reason,
                cancelled_at,
                ..
            } => {
                self.status = OrderStatus::Cancelled;
                self.cancel_reason.clone_from(reason);
                self.cancelled_at = Some(*cancelled_at);
                self.touch(*cancelled_at);
            }
            OrderEvent::OrderExpired { expired_at, .. } => {
                self.status = OrderStatus::Expired;
                self.expired_at = Some(*expired_at);
                self.touch(*expired_at);
            }
            OrderEvent::OrderShipped {
                carrier,
                tracking_number,
                shipped_at,
                ..
            } => {
                self.status = OrderStatus::Shipped;
                self.carrier.clone_from(carrier);
                self.tracking_number.clone_from(tracking_number);
                self.shipped_at = Some(*shipped_at);
                self.touch(*shipped_at);
            }
            OrderEvent::OrderDelivered { delivered_at, .. } => {
                self.status = OrderStatus::Delivered;
                self.delivered_at = Some(*delivered_at);
                self.touch(*delivered_at);
            }
            OrderEvent::RefundRequested { .. }
            | OrderEvent::RefundCompleted { .. }
            | OrderEvent::RefundFailed { .. } => super::refunding::evolve(self, event),
            OrderEvent::OrderRefunded { refunded_at, .. } => {
                self.status = OrderStatus::Refunded;
                self.refund_due = false;
                self.touch(*refunded_at);
            }
        }
        self.summarize();
    }
}

/// The same words as the orders read model uses.
fn mismatch_reason(amount: i64, expected: i64) -> String {
    format!("amount mismatch: paid {amount}, expected {expected}")
}
