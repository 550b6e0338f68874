//! The stock each order transition implies, so the command handler appends the stock events
//! in the same transaction as the order's (one multi-stream append).
//!
//! A failed payment attempt releases nothing: the order stays payable until its deadline (the
//! owner may retry, and a 1037 "failure" may still turn into money), so the reservation is
//! held until the order is paid, cancelled or expired.

use tillroll_events::{OrderEvent, StockEvent};
use uuid::Uuid;

use super::{Order, OrderStatus};
use crate::domain::Aggregate;
use crate::domain::stock::{self, ReleaseReason, Stock, StockError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockEffectKind {
    /// The order was placed.
    Reserve,
    /// Cancelled or expired before payment.
    Release(ReleaseReason),
    /// Paid while the reservation was held.
    Sell,
    /// Paid after expiry released the reservation.
    ReserveAndSell,
    /// Cancelled after payment: the sold goods go back on hand (a positive adjustment).
    Restock,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockEffect {
    pub product_id: Uuid,
    pub order_id: Uuid,
    pub quantity: i64,
    pub kind: StockEffectKind,
}

impl StockEffect {
    /// Decides this effect on the product's stock.
    pub fn decide(&self, state: &Stock) -> Result<Vec<StockEvent>, StockError> {
        let (product_id, order_id, quantity) = (self.product_id, self.order_id, self.quantity);
        match self.kind {
            StockEffectKind::Reserve => stock::reserve(
                state,
                &stock::Reserve {
                    product_id,
                    order_id,
                    quantity,
                },
            ),
            StockEffectKind::Release(reason) => stock::release(
                state,
                &stock::Release {
                    product_id,
                    order_id,
                    reason,
                },
            ),
            StockEffectKind::Sell => stock::sell(
                state,
                &stock::Sell {
                    product_id,
                    order_id,
                },
            ),
            StockEffectKind::ReserveAndSell => stock::reserve_and_sell(
                state,
                &stock::ReserveAndSell {
                    product_id,
                    order_id,
                    quantity,
                },
            ),
            StockEffectKind::Restock => stock::adjust(
                state,
                &stock::Adjust {
                    product_id,
                    delta: quantity,
                    reason: format!("order {order_id} cancelled after payment"),
                },
            ),
        }
    }
}

/// The stock effects of appending `events` to an order whose state was `before`, one per
/// order line for each transition that moves stock, in event order.
pub fn stock_effects(before: &Order, events: &[OrderEvent]) -> Vec<StockEffect> {
    let mut state = before.clone();
    let mut effects = Vec::new();
    for event in events {
        let kind = match (event, state.status) {
            (OrderEvent::OrderPlaced { .. }, _) => Some(StockEffectKind::Reserve),
            (OrderEvent::PaymentConfirmed { .. }, OrderStatus::PendingPayment) => {
                Some(StockEffectKind::Sell)
            }
            (OrderEvent::PaymentConfirmed { .. }, OrderStatus::Expired) => {
                Some(StockEffectKind::ReserveAndSell)
            }
            (OrderEvent::OrderCancelled { .. }, OrderStatus::PendingPayment) => {
                Some(StockEffectKind::Release(ReleaseReason::Cancelled))
            }
            (OrderEvent::OrderCancelled { .. }, OrderStatus::Paid) => {
                Some(StockEffectKind::Restock)
            }
            (OrderEvent::OrderExpired { .. }, OrderStatus::PendingPayment) => {
                Some(StockEffectKind::Release(ReleaseReason::Expired))
            }
            _ => None,
        };
        state.evolve(event);
        if let Some(kind) = kind {
            effects.extend(state.lines.iter().map(|line| StockEffect {
                product_id: line.product_id,
                order_id: state.order_id,
                quantity: line.quantity,
                kind,
            }));
        }
    }
    effects
}
