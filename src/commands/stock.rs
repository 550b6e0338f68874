//! Stock commands: count a product's stock (`PUT /products/{id}/stock`) or adjust it by a
//! delta with a reason. Only the product's seller or an admin may; each answers with the
//! stock aggregate as it now stands.

use serde::Serialize;
use tillroll_events::{StockEvent, StreamId};
use uuid::Uuid;

use super::decision;
use super::{CommandContext, CommandError, Commands, Outcome, Rejection};
use crate::domain::product::{self, Product};
use crate::domain::stock::{self, Adjust, SetLevel, Stock, StockError};
use crate::domain::validate::Actor;

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

impl From<StockError> for Rejection {
    fn from(error: StockError) -> Self {
        let message = error.to_string();
        match error {
            StockError::NegativeLevel => Rejection::invalid("on_hand", message),
            StockError::InvalidReason => Rejection::invalid("reason", message),
            StockError::Overflow => Rejection::invalid("delta", message),
            StockError::InvalidQuantity => Rejection::invalid("quantity", message),
            StockError::BelowReserved { on_hand, reserved } => Rejection::conflict(message)
                .with_detail(serde_json::json!({"on_hand": on_hand, "reserved": reserved})),
            StockError::Insufficient {
                product_id,
                requested,
                available,
            } => Rejection::conflict(message).with_detail(serde_json::json!({
                "product_id": product_id,
                "requested": requested,
                "available": available,
            })),
        }
    }
}

impl From<StockError> for CommandError {
    fn from(error: StockError) -> Self {
        Self::Rejected(error.into())
    }
}

/// `on_hand` becomes exactly this count; it may not fall below what open orders hold (409).
pub async fn set_stock_level(
    commands: &Commands,
    ctx: &CommandContext,
    actor: Actor,
    product_id: Uuid,
    on_hand: i64,
) -> Result<Outcome<StockView>, CommandError> {
    let cmd = SetLevel {
        product_id,
        on_hand,
    };
    change_stock(commands, ctx, actor, cmd, stock::set_level).await
}

/// `on_hand` moves by `delta` (a delivery, a breakage); it may not fall below what open
/// orders hold (409).
pub async fn adjust_stock(
    commands: &Commands,
    ctx: &CommandContext,
    actor: Actor,
    product_id: Uuid,
    delta: i64,
    reason: String,
) -> Result<Outcome<StockView>, CommandError> {
    let cmd = Adjust {
        product_id,
        delta,
        reason,
    };
    change_stock(commands, ctx, actor, cmd, stock::adjust).await
}

trait StockCommand: Clone + Send + Sync + 'static {
    fn product_id(&self) -> Uuid;
}

impl StockCommand for SetLevel {
    fn product_id(&self) -> Uuid {
        self.product_id
    }
}

impl StockCommand for Adjust {
    fn product_id(&self) -> Uuid {
        self.product_id
    }
}

/// Checks on the product aggregate that `actor` may manage it (404 unknown or withdrawn, 403
/// someone else's), then decides on the stock.
async fn change_stock<C: StockCommand>(
    commands: &Commands,
    ctx: &CommandContext,
    actor: Actor,
    cmd: C,
    decide: fn(&Stock, &C) -> Result<Vec<StockEvent>, StockError>,
) -> Result<Outcome<StockView>, CommandError> {
    let product_id = cmd.product_id();
    let unit = decision(move |uow| {
        let cmd = cmd.clone();
        Box::pin(async move {
            let [product_stream, stock_stream] = streams(product_id);
            let (product, _) = uow.load::<Product>(&product_stream).await?;
            product::authorize(&product, &actor)?;
            let (stock, _) = uow.load::<Stock>(&stock_stream).await?;
            let events = decide(&stock, &cmd)?;
            uow.append::<Stock>(&stock_stream, events);
            let (stock, _) = uow.load::<Stock>(&stock_stream).await?;
            Ok(StockView::new(product_id, StockLevels::from(&stock)))
        })
    });
    commands.run(ctx, &streams(product_id), unit).await
}

fn streams(product_id: Uuid) -> [StreamId; 2] {
    [StreamId::product(product_id), StreamId::stock(product_id)]
}
