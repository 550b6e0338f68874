//! Stock commands: count a product's stock (`PUT /products/{id}/stock`) or adjust it by a
//! delta with a reason. Only the product's seller or an admin may; each answers with the
//! stock aggregate as it now stands.

use tillroll_events::{StockEvent, StreamId};
use uuid::Uuid;

use super::decision;
use super::{CommandContext, CommandError, Commands, Outcome, Rejection};
use crate::domain::product::{self, Product};
use crate::domain::stock::{self, Adjust, SetLevel, Stock, StockError};
use crate::domain::validate::Actor;

/// `on_hand` becomes exactly this count; it may not fall below what open orders hold (409).
pub async fn set_stock_level(
    commands: &Commands,
    ctx: &CommandContext,
    actor: Actor,
    product_id: Uuid,
    on_hand: i64,
) -> Result<Outcome<Stock>, CommandError> {
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
) -> Result<Outcome<Stock>, CommandError> {
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
) -> Result<Outcome<Stock>, CommandError> {
    let product_id = cmd.product_id();
    let unit = decision(move |uow| {
        let cmd = cmd.clone();
        Box::pin(async move {
            let [product_stream, stock_stream] = streams(product_id);
            let (product, _) = uow.load::<Product>(&product_stream).await?;
            product::authorize(&product, &actor)?;
            let (stock, _) = uow.load::<Stock>(&stock_stream).await?;
            let events = decide(&stock, &cmd).map_err(|e| named(e, &product))?;
            uow.append::<Stock>(&stock_stream, events);
            let (mut stock, _) = uow.load::<Stock>(&stock_stream).await?;
            // A stream never written has no id of its own yet.
            stock.product_id = product_id;
            Ok(stock)
        })
    });
    commands.run(ctx, &streams(product_id), unit).await
}

/// A 409 names its product, id and name, as a short line does (the stock aggregate knows
/// neither: the product aggregate, loaded for the permission check, does).
fn named(error: StockError, product: &Product) -> CommandError {
    match error {
        StockError::BelowReserved { on_hand, reserved } => {
            let message = format!("{}: {error}", product.name);
            Rejection::conflict(message)
                .with_detail(serde_json::json!({
                    "product_id": product.product_id,
                    "name": product.name,
                    "on_hand": on_hand,
                    "reserved": reserved,
                }))
                .into()
        }
        other => other.into(),
    }
}

fn streams(product_id: Uuid) -> [StreamId; 2] {
    [StreamId::product(product_id), StreamId::stock(product_id)]
}
