//! Events of the stock stream `stock-<product id>`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain_event;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum StockEvent {
    /// A count: `on_hand` is now exactly this.
    StockLevelSet { product_id: Uuid, on_hand: i64 },
    StockAdjusted {
        product_id: Uuid,
        delta: i64,
        reason: String,
    },
    StockReserved {
        product_id: Uuid,
        order_id: Uuid,
        quantity: i64,
    },
    /// `reason`: `cancelled`, `expired` or `payment_failed`.
    StockReservationReleased {
        product_id: Uuid,
        order_id: Uuid,
        quantity: i64,
        reason: String,
    },
    /// The reservation became a sale: `on_hand` and `reserved` both drop by `quantity`.
    StockSold {
        product_id: Uuid,
        order_id: Uuid,
        quantity: i64,
    },
}

domain_event!(
    StockEvent,
    product_id,
    StockLevelSet,
    StockAdjusted,
    StockReserved,
    StockReservationReleased,
    StockSold,
);
