//! API.md's `stock` and the levels inside a `product`, from the stock aggregate (command
//! answers) or from the `products` read model row (queries).

use serde::Serialize;
use uuid::Uuid;

use crate::domain::stock::Stock;

/// What is on hand, held by open orders, and free to sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StockLevels {
    pub on_hand: i64,
    pub reserved: i64,
    /// `on_hand − reserved`, never negative.
    pub available: i64,
}

impl StockLevels {
    pub fn new(on_hand: i64, reserved: i64) -> Self {
        Self {
            on_hand,
            reserved,
            available: on_hand.saturating_sub(reserved).max(0),
        }
    }
}

impl From<&Stock> for StockLevels {
    fn from(stock: &Stock) -> Self {
        Self::new(stock.on_hand, stock.reserved)
    }
}

/// API.md's `stock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = Stock)]
pub struct StockView {
    pub product_id: Uuid,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
}

impl StockView {
    pub fn new(product_id: Uuid, levels: StockLevels) -> Self {
        Self {
            product_id,
            on_hand: levels.on_hand,
            reserved: levels.reserved,
            available: levels.available,
        }
    }
}

impl From<&Stock> for StockView {
    fn from(stock: &Stock) -> Self {
        Self::new(stock.product_id, StockLevels::from(stock))
    }
}

/// A product's levels in the `products` read model.
#[derive(sqlx::FromRow)]
pub struct StockRow {
    pub id: Uuid,
    pub on_hand: i64,
    pub reserved: i64,
}

impl From<StockRow> for StockView {
    fn from(row: StockRow) -> Self {
        Self::new(row.id, StockLevels::new(row.on_hand, row.reserved))
    }
}
