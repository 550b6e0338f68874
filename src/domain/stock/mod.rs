//! The stock of one product (stream `stock-<product id>`): what is on hand, what open orders
//! hold, and the invariant `0 ≤ reserved ≤ on_hand` under every command, so no interleaving
//! of checkouts can oversell.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tillroll_events::StockEvent;
use uuid::Uuid;

use crate::domain::Aggregate;

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Stock {
    pub product_id: Uuid,
    pub on_hand: i64,
    pub reserved: i64,
    /// Open reservations by order id; `reserved` is their sum.
    pub reservations: BTreeMap<Uuid, i64>,
}

impl Stock {
    pub fn available(&self) -> i64 {
        self.on_hand.saturating_sub(self.reserved).max(0)
    }

    fn take_reservation(&mut self, order_id: &Uuid) -> i64 {
        let quantity = self.reservations.remove(order_id).unwrap_or(0);
        self.reserved = self.reserved.saturating_sub(quantity);
        quantity
    }
}

impl Aggregate for Stock {
    type Event = StockEvent;

    fn evolve(&mut self, event: &StockEvent) {
        match event {
            StockEvent::StockLevelSet {
                product_id,
                on_hand,
            } => {
                self.product_id = *product_id;
                self.on_hand = *on_hand;
            }
            StockEvent::StockAdjusted {
                product_id, delta, ..
            } => {
                self.product_id = *product_id;
                self.on_hand = self.on_hand.saturating_add(*delta);
            }
            StockEvent::StockReserved {
                product_id,
                order_id,
                quantity,
            } => {
                self.product_id = *product_id;
                self.reservations.insert(*order_id, *quantity);
                self.reserved = self.reserved.saturating_add(*quantity);
            }
            StockEvent::StockReservationReleased { order_id, .. } => {
                self.take_reservation(order_id);
            }
            StockEvent::StockSold {
                order_id, quantity, ..
            } => {
                self.take_reservation(order_id);
                self.on_hand = self.on_hand.saturating_sub(*quantity);
            }
        }
    }
}

/// Rejections, with the HTTP status each maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StockError {
    /// 400.
    #[error("on_hand must not be negative")]
    NegativeLevel,
    /// 409: stock promised to open orders cannot be counted away.
    #[error("on hand would be {on_hand}, below the {reserved} reserved for open orders")]
    BelowReserved { on_hand: i64, reserved: i64 },
    /// 400.
    #[error("an adjustment needs a reason of 1 to {MAX_REASON} characters")]
    InvalidReason,
    /// 400.
    #[error("adjustment too large")]
    Overflow,
    /// 400: a caller bug, order lines are validated before they get here.
    #[error("quantity must be positive")]
    InvalidQuantity,
    /// 409, naming the short line.
    #[error("only {available} of product {product_id} available, {requested} requested")]
    Insufficient {
        product_id: Uuid,
        requested: i64,
        available: i64,
    },
}

pub const MAX_REASON: usize = 200;

/// Why a reservation ended without a sale; the stored `reason` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    Cancelled,
    Expired,
    PaymentFailed,
}

impl ReleaseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::PaymentFailed => "payment_failed",
        }
    }
}

/// A count: `on_hand` becomes exactly this.
#[derive(Debug, Clone)]
pub struct SetLevel {
    pub product_id: Uuid,
    pub on_hand: i64,
}

#[derive(Debug, Clone)]
pub struct Adjust {
    pub product_id: Uuid,
    pub delta: i64,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Reserve {
    pub product_id: Uuid,
    pub order_id: Uuid,
    pub quantity: i64,
}

#[derive(Debug, Clone)]
pub struct Release {
    pub product_id: Uuid,
    pub order_id: Uuid,
    pub reason: ReleaseReason,
}

#[derive(Debug, Clone)]
pub struct Sell {
    pub product_id: Uuid,
    pub order_id: Uuid,
}

/// A payment that arrived after the order's reservation was released (expiry).
#[derive(Debug, Clone)]
pub struct ReserveAndSell {
    pub product_id: Uuid,
    pub order_id: Uuid,
    pub quantity: i64,
}

/// Opens the stock of a newly listed product with its first count, zero included, so every
/// listed product has a stock stream from the moment it is listed. On a stream that already
/// has events it is [`set_level`].
pub fn open(state: &Stock, cmd: &SetLevel) -> Result<Vec<StockEvent>, StockError> {
    if !state.product_id.is_nil() {
        return set_level(state, cmd);
    }
    if cmd.on_hand < 0 {
        return Err(StockError::NegativeLevel);
    }
    Ok(vec![StockEvent::StockLevelSet {
        product_id: cmd.product_id,
        on_hand: cmd.on_hand,
    }])
}

/// The same count again is a no-op.
pub fn set_level(state: &Stock, cmd: &SetLevel) -> Result<Vec<StockEvent>, StockError> {
    if cmd.on_hand < 0 {
        return Err(StockError::NegativeLevel);
    }
    if cmd.on_hand < state.reserved {
        return Err(StockError::BelowReserved {
            on_hand: cmd.on_hand,
            reserved: state.reserved,
        });
    }
    if cmd.on_hand == state.on_hand {
        return Ok(vec![]);
    }
    Ok(vec![StockEvent::StockLevelSet {
        product_id: cmd.product_id,
        on_hand: cmd.on_hand,
    }])
}

/// A delta of zero changes nothing and records nothing.
pub fn adjust(state: &Stock, cmd: &Adjust) -> Result<Vec<StockEvent>, StockError> {
    let reason = cmd.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(StockError::InvalidReason);
    }
    if cmd.delta == 0 {
        return Ok(vec![]);
    }
    let on_hand = state
        .on_hand
        .checked_add(cmd.delta)
        .ok_or(StockError::Overflow)?;
    if on_hand < state.reserved || on_hand < 0 {
        return Err(StockError::BelowReserved {
            on_hand,
            reserved: state.reserved,
        });
    }
    Ok(vec![StockEvent::StockAdjusted {
        product_id: cmd.product_id,
        delta: cmd.delta,
        reason: reason.to_owned(),
    }])
}

/// Reserving again for an order that already holds a reservation is a no-op.
pub fn reserve(state: &Stock, cmd: &Reserve) -> Result<Vec<StockEvent>, StockError> {
    if cmd.quantity <= 0 {
        return Err(StockError::InvalidQuantity);
    }
    if state.reservations.contains_key(&cmd.order_id) {
        return Ok(vec![]);
    }
    if cmd.quantity > state.available() {
        return Err(StockError::Insufficient {
            product_id: cmd.product_id,
            requested: cmd.quantity,
            available: state.available(),
        });
    }
    Ok(vec![StockEvent::StockReserved {
        product_id: cmd.product_id,
        order_id: cmd.order_id,
        quantity: cmd.quantity,
    }])
}

/// No reservation for the order (never made, already released or sold) is a no-op.
pub fn release(state: &Stock, cmd: &Release) -> Result<Vec<StockEvent>, StockError> {
    Ok(match state.reservations.get(&cmd.order_id) {
        None => vec![],
        Some(&quantity) => vec![StockEvent::StockReservationReleased {
            product_id: cmd.product_id,
            order_id: cmd.order_id,
            quantity,
            reason: cmd.reason.as_str().to_owned(),
        }],
    })
}

/// Turns the order's reservation into a sale. Without a reservation it is a no-op, not an
/// error: the sale is a consequence of a payment already received, and rejecting it would
/// reject recording that money (the order aggregate already guarantees one sale per order).
pub fn sell(state: &Stock, cmd: &Sell) -> Result<Vec<StockEvent>, StockError> {
    Ok(match state.reservations.get(&cmd.order_id) {
        None => vec![],
        Some(&quantity) => vec![StockEvent::StockSold {
            product_id: cmd.product_id,
            order_id: cmd.order_id,
            quantity,
        }],
    })
}

/// Reserves and sells at once (a late payment); sells the reservation if the order still
/// holds one.
pub fn reserve_and_sell(
    state: &Stock,
    cmd: &ReserveAndSell,
) -> Result<Vec<StockEvent>, StockError> {
    if state.reservations.contains_key(&cmd.order_id) {
        return sell(
            state,
            &Sell {
                product_id: cmd.product_id,
                order_id: cmd.order_id,
            },
        );
    }
    let mut events = reserve(
        state,
        &Reserve {
            product_id: cmd.product_id,
            order_id: cmd.order_id,
            quantity: cmd.quantity,
        },
    )?;
    events.push(StockEvent::StockSold {
        product_id: cmd.product_id,
        order_id: cmd.order_id,
        quantity: cmd.quantity,
    });
    Ok(events)
}

#[cfg(test)]
mod tests;
