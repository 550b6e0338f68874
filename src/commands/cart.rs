//! Cart commands (stream `cart-<customer id>`): add, change, remove, clear. The product and its
//! stock are loaded as aggregates, never taken from the client; answers are built from the
//! aggregate with the current catalog names and prices, so the writer reads its own write.

use chrono::{DateTime, Utc};
use tillroll_events::StreamId;
use uuid::Uuid;

use super::{CommandContext, CommandError, Commands, Outcome, Rejection, UnitOfWork};
use crate::domain::cart::{self, Cart, ProductSnapshot};
use crate::domain::product::Product;
use crate::domain::stock::Stock;
use crate::domain::validate::{FieldError, Quantity};

/// The cart as the aggregates now price it (current catalog names and prices): what a cart
/// command answers.
#[derive(Debug, Clone)]
pub struct PricedCart {
    /// `None` while the customer has no open cart.
    pub cart_id: Option<Uuid>,
    pub customer_id: Uuid,
    pub lines: Vec<PricedLine>,
    pub currency: String,
    pub at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct PricedLine {
    pub product_id: Uuid,
    pub name: String,
    pub unit_price: i64,
    pub quantity: i64,
}

impl PricedCart {
    pub fn empty(customer_id: Uuid) -> Self {
        Self {
            cart_id: None,
            customer_id,
            lines: Vec::new(),
            currency: "KES".into(),
            at: None,
        }
    }
}

/// A field error as a 400 naming the field.
pub(crate) fn field(error: FieldError) -> CommandError {
    Rejection::invalid(error.field, error.message).into()
}

/// What the cart needs to know about a product now, from its product and stock aggregates.
pub(crate) async fn snapshot(
    uow: &mut UnitOfWork<'_>,
    product_id: Uuid,
) -> Result<(Product, ProductSnapshot), CommandError> {
    let (product, _) = uow.load::<Product>(&StreamId::product(product_id)).await?;
    let (stock, _) = uow.load::<Stock>(&StreamId::stock(product_id)).await?;
    let snapshot = ProductSnapshot {
        product_id,
        name: product.name.clone(),
        exists: product.exists,
        withdrawn: product.withdrawn,
        price: product.price,
        currency: product.currency.clone(),
        available: stock.available(),
    };
    Ok((product, snapshot))
}

/// The cart as it now is in this unit, priced from the product aggregates.
async fn priced(uow: &mut UnitOfWork<'_>, customer_id: Uuid) -> Result<PricedCart, CommandError> {
    let (cart, _) = uow.load::<Cart>(&StreamId::cart(customer_id)).await?;
    let Some(cart_id) = cart.cart_id.filter(|_| !cart.lines.is_empty()) else {
        return Ok(PricedCart::empty(customer_id));
    };
    let mut lines = Vec::with_capacity(cart.lines.len());
    for line in &cart.lines {
        let (product, _) = uow
            .load::<Product>(&StreamId::product(line.product_id))
            .await?;
        let unit_price = if product.exists {
            product.price
        } else {
            line.unit_price
        };
        lines.push(PricedLine {
            product_id: line.product_id,
            name: product.name.clone(),
            unit_price,
            quantity: line.quantity,
        });
    }
    Ok(PricedCart {
        cart_id: Some(cart_id),
        customer_id,
        lines,
        currency: cart.currency().map_or("KES", |c| c.as_str()).to_owned(),
        at: Some(uow.context().now),
    })
}

impl Commands {
    pub async fn add_cart_item(
        &self,
        ctx: &CommandContext,
        customer_id: Uuid,
        product_id: Uuid,
        quantity: i64,
    ) -> Result<Outcome<PricedCart>, CommandError> {
        let quantity = Quantity::parse(quantity).map_err(field)?;
        let stream = StreamId::cart(customer_id);
        let new_cart_id = Uuid::now_v7();
        let lock = [stream.clone()];
        self.run(ctx, &lock, async move |uow| {
            let (state, _) = uow.load::<Cart>(&stream).await?;
            let (_, product) = snapshot(uow, product_id).await?;
            let events = cart::add_item(
                &state,
                &cart::AddItem {
                    customer_id,
                    product,
                    quantity,
                    new_cart_id,
                },
            )?;
            uow.append::<Cart>(&stream, events);
            priced(uow, customer_id).await
        })
        .await
    }

    /// `quantity` 0 removes the line.
    pub async fn change_cart_item(
        &self,
        ctx: &CommandContext,
        customer_id: Uuid,
        product_id: Uuid,
        quantity: i64,
    ) -> Result<Outcome<PricedCart>, CommandError> {
        if !(0..=Quantity::MAX).contains(&quantity) {
            return Err(field(FieldError::new(
                "quantity",
                format!("must be between 0 and {}", Quantity::MAX),
            )));
        }
        let stream = StreamId::cart(customer_id);
        let lock = [stream.clone()];
        self.run(ctx, &lock, async move |uow| {
            let (state, _) = uow.load::<Cart>(&stream).await?;
            let (_, product) = snapshot(uow, product_id).await?;
            let events =
                cart::change_quantity(&state, &cart::ChangeQuantity { product, quantity })?;
            uow.append::<Cart>(&stream, events);
            priced(uow, customer_id).await
        })
        .await
    }

    pub async fn remove_cart_item(
        &self,
        ctx: &CommandContext,
        customer_id: Uuid,
        product_id: Uuid,
    ) -> Result<Outcome<PricedCart>, CommandError> {
        let stream = StreamId::cart(customer_id);
        let lock = [stream.clone()];
        self.run(ctx, &lock, async move |uow| {
            let (state, _) = uow.load::<Cart>(&stream).await?;
            let events = cart::remove_item(&state, &cart::RemoveItem { product_id })?;
            uow.append::<Cart>(&stream, events);
            priced(uow, customer_id).await
        })
        .await
    }

    pub async fn clear_cart(
        &self,
        ctx: &CommandContext,
        customer_id: Uuid,
    ) -> Result<Outcome<()>, CommandError> {
        let stream = StreamId::cart(customer_id);
        let lock = [stream.clone()];
        self.run(ctx, &lock, async move |uow| {
            let (state, _) = uow.load::<Cart>(&stream).await?;
            let events = cart::clear(&state, &cart::Clear)?;
            uow.append::<Cart>(&stream, events);
            Ok(())
        })
        .await
    }
}
