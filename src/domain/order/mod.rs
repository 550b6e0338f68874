//! One order (stream `order-<id>`) and its M-Pesa payment attempts: the lifecycle
//! `pending_payment → paid → shipped → delivered`, `pending_payment → cancelled | expired`,
//! `paid → cancelled` (refund due), `cancelled | expired → refunded` once everything received
//! was paid back (`refunding`). The deciders are in `lifecycle` and `paying`; the stock
//! each transition implies is in `effects`.
//!
//! Money that reached the shop without paying the order (a second success, a success after
//! cancellation, or after expiry with the stock gone) never becomes `PaymentConfirmed`: at
//! most one confirmation exists per order, and it always means "this order is paid". Such
//! money is recorded on its attempt as `PaymentFailed` with result code `0` (Daraja's code
//! for "paid"), plus `RefundFlagged`, so `status` stays `expired`/`cancelled`,
//! `payment.status` says `failed` with the reason, `refund_due` is true, and a duplicate
//! callback finds the attempt settled and changes nothing.

mod effects;
mod lifecycle;
mod paying;
mod refunding;
mod state;

pub use effects::{StockEffect, StockEffectKind, stock_effects};
pub use lifecycle::{
    Cancel, Deliver, Expire, NewOrderLine, PlaceOrder, Ship, cancel, deliver, expire, place, ship,
};
pub use paying::{
    ConfirmPayment, FailPayment, MAX_ATTEMPTS, RecordPushAccepted, RecordPushRejected,
    RequestPayment, confirm_payment, fail_payment, record_push_accepted, record_push_rejected,
    request_payment,
};
pub use refunding::{
    MIN_REFUND, Refund, RefundResult, RefundStatus, RequestRefund, request_refund, settle_refund,
};
pub use state::{
    Attempt, AttemptStatus, Order, OrderStatus, PaymentStatus, PaymentSummary, RESULT_PAID,
};

use uuid::Uuid;

use crate::domain::validate::FieldError;

/// Rejections, with the HTTP status each maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// 404: also for anyone but the owner or an admin.
    #[error("order not found")]
    NotFound,
    /// 409: only on a replayed command, as order ids are generated server-side.
    #[error("order already exists")]
    AlreadyExists,
    /// 400.
    #[error("an order needs at least one item")]
    EmptyOrder,
    /// 400: a line's own quantity.
    #[error("quantity of product {product_id} must be between 1 and 1000, not {quantity}")]
    InvalidQuantity { product_id: Uuid, quantity: i64 },
    /// 409: lines of one product, each valid, add up to more than one order may hold.
    #[error("the lines of product {product_id} add up to {quantity}; an order holds at most 1000")]
    MergedQuantityTooLarge { product_id: Uuid, quantity: i64 },
    /// 400: a handler bug, prices come from the catalog.
    #[error("product {product_id} has no valid price")]
    InvalidPrice { product_id: Uuid },
    /// 400.
    #[error("order total too large")]
    Overflow,
    /// 409: the prices make a total M-Pesa cannot take (cents, or not KES).
    #[error("M-Pesa cannot take this order: {0}")]
    NotPayableByMpesa(String),
    /// 409.
    #[error("the order is {0}")]
    WrongState(OrderStatus),
    /// 409.
    #[error("the order is already paid")]
    AlreadyPaid,
    /// 409: the deadline passed; the order is about to expire.
    #[error("the time to pay for this order is over")]
    DeadlinePassed,
    /// 409.
    #[error("no more than {MAX_ATTEMPTS} payment attempts per order")]
    TooManyAttempts,
    /// 404 (a reactor bug: it names attempts the order recorded).
    #[error("no such payment attempt")]
    UnknownAttempt,
    /// Callback: answer Daraja 200 and log it. Reconcile endpoint: 404.
    #[error("no payment attempt with that CheckoutRequestID")]
    UnknownPayment,
    /// 409: more than was received and not yet paid back (or nothing was received).
    #[error("at most {refundable} (minor units) can be refunded on this order")]
    NotRefundable { refundable: i64 },
    /// 404.
    #[error("no such refund")]
    UnknownRefund,
    /// 400.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// 409 naming every line that cannot be sold, in the order they were given.
    #[error("{} of the lines cannot be sold", .0.len())]
    Unsellable(Vec<ShortLine>),
}

/// A line that cannot be sold as asked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ShortLine {
    pub product_id: Uuid,
    pub name: String,
    pub requested: i64,
    pub available: i64,
    pub reason: ShortReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShortReason {
    /// The product was withdrawn from sale.
    Withdrawn,
    InsufficientStock,
}

#[cfg(test)]
mod tests;
