//! Placing an order and moving it along: cancel, expire, ship, deliver.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use tillroll_events::{Currency, OrderEvent, order::OrderLine};
use uuid::Uuid;

use super::{Order, OrderError, OrderStatus};
use crate::domain::money::{self, MAX_PRICE, Money};
use crate::domain::phone::Msisdn;
use crate::domain::validate::{Actor, FieldError, Quantity};

/// A line priced by the handler from the catalog at checkout; the client never sends prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrderLine {
    pub product_id: Uuid,
    pub name: String,
    pub unit_price: i64,
    pub quantity: i64,
    /// The product's seller: the line is theirs (GET /seller/orders, earnings).
    pub seller_id: Uuid,
}

#[derive(Debug, Clone)]
pub struct PlaceOrder {
    pub order_id: Uuid,
    pub customer_id: Uuid,
    /// The customer, or an admin placing it on their behalf.
    pub placed_by: Uuid,
    pub lines: Vec<NewOrderLine>,
    pub currency: Currency,
    pub phone: Msisdn,
    /// The first payment attempt, requested with the order.
    pub attempt_id: Uuid,
    pub now: DateTime<Utc>,
    /// `TILLROLL_RESERVATION_TTL`: the order must be paid by `now + ttl`.
    pub ttl: TimeDelta,
}

#[derive(Debug, Clone)]
pub struct Cancel {
    pub actor: Actor,
    pub reason: Option<String>,
    pub now: DateTime<Utc>,
}

/// Issued by the expiry reactor at (or after) `expires_at`.
#[derive(Debug, Clone)]
pub struct Expire {
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Ship {
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub note: Option<String>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Deliver {
    pub now: DateTime<Utc>,
}

/// `OrderPlaced` and the first `PaymentRequested`. Lines of the same product are merged (the
/// first line's name and price win); totals use checked arithmetic.
pub fn place(state: &Order, cmd: &PlaceOrder) -> Result<Vec<OrderEvent>, OrderError> {
    if state.exists {
        return Err(OrderError::AlreadyExists);
    }
    if cmd.lines.is_empty() {
        return Err(OrderError::EmptyOrder);
    }
    // Each line as sent is checked first (a 400 for a bad field); only their sum is the
    // order's business (a 409), since every line was valid on its own.
    if let Some(line) = cmd
        .lines
        .iter()
        .find(|l| Quantity::parse(l.quantity).is_err())
    {
        return Err(OrderError::InvalidQuantity {
            product_id: line.product_id,
            quantity: line.quantity,
        });
    }
    let mut merged: Vec<NewOrderLine> = Vec::new();
    let mut index = BTreeMap::new();
    for line in &cmd.lines {
        match index.get(&line.product_id) {
            Some(&i) => {
                let into: &mut NewOrderLine = &mut merged[i];
                into.quantity = into.quantity.saturating_add(line.quantity);
            }
            None => {
                index.insert(line.product_id, merged.len());
                merged.push(line.clone());
            }
        }
    }
    let mut items = Vec::with_capacity(merged.len());
    for line in merged {
        if Quantity::parse(line.quantity).is_err() {
            return Err(OrderError::MergedQuantityTooLarge {
                product_id: line.product_id,
                quantity: line.quantity,
            });
        }
        if !(1..=MAX_PRICE).contains(&line.unit_price) {
            return Err(OrderError::InvalidPrice {
                product_id: line.product_id,
            });
        }
        let line_total =
            money::line_total(line.unit_price, line.quantity).map_err(|_| OrderError::Overflow)?;
        items.push(OrderLine {
            product_id: line.product_id,
            name: line.name,
            unit_price: line.unit_price,
            quantity: line.quantity,
            line_total,
            seller_id: Some(line.seller_id),
        });
    }
    let total = money::sum(items.iter().map(|l| l.line_total)).map_err(|_| OrderError::Overflow)?;
    let amount = Money::new(total, cmd.currency.clone());
    if cmd.currency != Currency::kes() {
        return Err(OrderError::NotPayableByMpesa(format!(
            "M-Pesa takes KES only, this order is in {}",
            cmd.currency
        )));
    }
    if amount.whole_shillings().is_none() {
        return Err(OrderError::NotPayableByMpesa(format!(
            "the total {amount} has cents and M-Pesa takes whole shillings"
        )));
    }
    let expires_at = cmd
        .now
        .checked_add_signed(cmd.ttl)
        .ok_or(OrderError::Overflow)?;
    Ok(vec![
        OrderEvent::OrderPlaced {
            order_id: cmd.order_id,
            customer_id: cmd.customer_id,
            placed_by: cmd.placed_by,
            items,
            total,
            currency: cmd.currency.clone(),
            phone: cmd.phone.as_str().to_owned(),
            placed_at: cmd.now,
            expires_at,
        },
        OrderEvent::PaymentRequested {
            order_id: cmd.order_id,
            attempt_id: cmd.attempt_id,
            phone: cmd.phone.as_str().to_owned(),
            amount: total,
            requested_at: cmd.now,
        },
    ])
}

/// The owner may cancel before payment; an admin before shipping, and a cancellation after
/// payment flags the refund. Anyone else does not see the order.
pub fn cancel(state: &Order, cmd: &Cancel) -> Result<Vec<OrderEvent>, OrderError> {
    let is_owner = cmd.actor.id == state.customer_id;
    if !state.exists || !(is_owner || cmd.actor.is_admin()) {
        return Err(OrderError::NotFound);
    }
    let reason = optional_text("reason", cmd.reason.as_deref(), 500)?;
    let cancelled = OrderEvent::OrderCancelled {
        order_id: state.order_id,
        reason: reason.clone(),
        cancelled_at: cmd.now,
    };
    match state.status {
        OrderStatus::PendingPayment => Ok(vec![cancelled]),
        OrderStatus::Paid if cmd.actor.is_admin() => {
            let paid = Money::new(
                state.payment.paid_amount.unwrap_or(state.total),
                state.currency.clone(),
            );
            let receipt = state.payment.mpesa_receipt.as_deref().unwrap_or("unknown");
            let why = reason.map_or_else(String::new, |r| format!(": {r}"));
            Ok(vec![
                cancelled,
                OrderEvent::RefundFlagged {
                    order_id: state.order_id,
                    reason: format!(
                        "refund {paid} (M-Pesa receipt {receipt}): cancelled after payment{why}"
                    ),
                },
            ])
        }
        status => Err(OrderError::WrongState(status)),
    }
}

/// Only a pending order past its deadline expires; anything else is a no-op, so the expiry
/// reactor may fire late, early or twice.
pub fn expire(state: &Order, cmd: &Expire) -> Result<Vec<OrderEvent>, OrderError> {
    if !state.exists {
        return Err(OrderError::NotFound);
    }
    let due = state.expires_at.is_some_and(|deadline| cmd.now >= deadline);
    if state.status != OrderStatus::PendingPayment || !due {
        return Ok(vec![]);
    }
    Ok(vec![OrderEvent::OrderExpired {
        order_id: state.order_id,
        expired_at: cmd.now,
    }])
}

pub fn ship(state: &Order, cmd: &Ship) -> Result<Vec<OrderEvent>, OrderError> {
    if !state.exists {
        return Err(OrderError::NotFound);
    }
    if state.status != OrderStatus::Paid {
        return Err(OrderError::WrongState(state.status));
    }
    Ok(vec![OrderEvent::OrderShipped {
        order_id: state.order_id,
        carrier: optional_text("carrier", cmd.carrier.as_deref(), 100)?,
        tracking_number: optional_text("tracking_number", cmd.tracking_number.as_deref(), 100)?,
        note: optional_text("note", cmd.note.as_deref(), 500)?,
        shipped_at: cmd.now,
    }])
}

pub fn deliver(state: &Order, cmd: &Deliver) -> Result<Vec<OrderEvent>, OrderError> {
    if !state.exists {
        return Err(OrderError::NotFound);
    }
    if state.status != OrderStatus::Shipped {
        return Err(OrderError::WrongState(state.status));
    }
    Ok(vec![OrderEvent::OrderDelivered {
        order_id: state.order_id,
        delivered_at: cmd.now,
    }])
}

/// Trimmed; blank is `None`.
fn optional_text(
    field: &'static str,
    raw: Option<&str>,
    max: usize,
) -> Result<Option<String>, FieldError> {
    // Before trimming: a newline at the end is as wrong as one in the middle.
    if raw.is_some_and(|t| t.chars().any(char::is_control)) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}
