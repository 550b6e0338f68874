//! A customer's open cart (stream `cart-<customer id>`). The handler looks the product up
//! in the catalog and stock and passes a [`ProductSnapshot`]; the cart decides with it. Checkout
//! closes the cart (the order takes its lines, priced afresh); the next add opens a new one.

use serde::{Deserialize, Serialize};
use tillroll_events::{CartEvent, Currency};
use uuid::Uuid;

use crate::domain::Aggregate;
use crate::domain::validate::Quantity;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub product_id: Uuid,
    pub quantity: i64,
    /// The price when last added; checkout captures the current catalog price instead.
    pub unit_price: i64,
    pub currency: Currency,
}

#[derive(Default, Clone, Debug, Serialize, Deserialize)]
pub struct Cart {
    /// `None` until the first add, and again after checkout or clearing.
    pub cart_id: Option<Uuid>,
    pub customer_id: Uuid,
    /// In the order first added.
    pub lines: Vec<CartLine>,
}

impl Cart {
    pub fn line(&self, product_id: Uuid) -> Option<&CartLine> {
        self.lines.iter().find(|l| l.product_id == product_id)
    }

    pub fn currency(&self) -> Option<&Currency> {
        self.lines.first().map(|l| &l.currency)
    }

    fn close(&mut self) {
        self.cart_id = None;
        self.lines.clear();
    }
}

impl Aggregate for Cart {
    type Event = CartEvent;

    fn evolve(&mut self, event: &CartEvent) {
        match event {
            CartEvent::ItemAddedToCart {
                cart_id,
                customer_id,
                product_id,
                quantity,
                unit_price,
                currency,
            } => {
                self.cart_id = Some(*cart_id);
                self.customer_id = *customer_id;
                match self.lines.iter_mut().find(|l| l.product_id == *product_id) {
                    Some(line) => {
                        line.quantity = line.quantity.saturating_add(*quantity);
                        line.unit_price = *unit_price;
                        line.currency = currency.clone();
                    }
                    None => self.lines.push(CartLine {
                        product_id: *product_id,
                        quantity: *quantity,
                        unit_price: *unit_price,
                        currency: currency.clone(),
                    }),
                }
            }
            CartEvent::CartItemQuantityChanged {
                product_id,
                quantity,
                ..
            } => {
                if *quantity <= 0 {
                    self.lines.retain(|l| l.product_id != *product_id);
                } else if let Some(line) =
                    self.lines.iter_mut().find(|l| l.product_id == *product_id)
                {
                    line.quantity = *quantity;
                }
            }
            CartEvent::ItemRemovedFromCart { product_id, .. } => {
                self.lines.retain(|l| l.product_id != *product_id);
            }
            CartEvent::CartCleared { .. } | CartEvent::CartCheckedOut { .. } => self.close(),
        }
    }
}

/// What the handler read about a product just before deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSnapshot {
    pub product_id: Uuid,
    /// Named in a refusal, so the client can say which product is short.
    pub name: String,
    pub exists: bool,
    pub withdrawn: bool,
    pub price: i64,
    pub currency: Currency,
    /// `on_hand − reserved` now.
    pub available: i64,
}

/// Rejections, with the HTTP status each maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    /// 404: unknown or withdrawn.
    #[error("product {0} not found")]
    ProductNotFound(Uuid),
    /// 409.
    #[error("only {available} of product {product_id} ({name}) available, {requested} requested")]
    InsufficientStock {
        product_id: Uuid,
        name: String,
        requested: i64,
        available: i64,
    },
    /// 400: a quantity outside `0 ..= Quantity::MAX` as sent.
    #[error("a cart line holds 0 to {max} items, {requested} requested", max = Quantity::MAX)]
    InvalidQuantity { requested: i64 },
    /// 409: a valid quantity that, added to what the line already holds, passes
    /// `Quantity::MAX` (the cart's state, not the request, is in the way).
    #[error("the line already holds {in_cart}; with {adding} more it would pass {max}", max = Quantity::MAX)]
    LineFull { in_cart: i64, adding: i64 },
    /// 409: a cart is paid in one currency.
    #[error("the cart is in {cart}, the product in {product}")]
    CurrencyMismatch { cart: Currency, product: Currency },
    /// 404.
    #[error("product {0} is not in the cart")]
    NotInCart(Uuid),
    /// 409.
    #[error("the cart is empty")]
    EmptyCart,
}

/// Adds `quantity` to the product's line (creating it). `new_cart_id` opens the cart if it has
/// no open id.
#[derive(Debug, Clone)]
pub struct AddItem {
    pub customer_id: Uuid,
    pub product: ProductSnapshot,
    pub quantity: Quantity,
    pub new_cart_id: Uuid,
}

/// Sets the line's quantity; 0 removes the line.
#[derive(Debug, Clone)]
pub struct ChangeQuantity {
    pub product: ProductSnapshot,
    pub quantity: i64,
}

#[derive(Debug, Clone)]
pub struct RemoveItem {
    pub product_id: Uuid,
}

#[derive(Debug, Clone)]
pub struct Clear;

#[derive(Debug, Clone)]
pub struct CheckOut {
    pub order_id: Uuid,
}

fn check_product(p: &ProductSnapshot, quantity: i64) -> Result<(), CartError> {
    if !p.exists || p.withdrawn {
        return Err(CartError::ProductNotFound(p.product_id));
    }
    if !(0..=Quantity::MAX).contains(&quantity) {
        return Err(CartError::InvalidQuantity {
            requested: quantity,
        });
    }
    if quantity > p.available {
        return Err(CartError::InsufficientStock {
            product_id: p.product_id,
            name: p.name.clone(),
            requested: quantity,
            available: p.available.max(0),
        });
    }
    Ok(())
}

pub fn add_item(state: &Cart, cmd: &AddItem) -> Result<Vec<CartEvent>, CartError> {
    let p = &cmd.product;
    let in_cart = state.line(p.product_id).map_or(0, |l| l.quantity);
    if in_cart.saturating_add(cmd.quantity.get()) > Quantity::MAX {
        return Err(CartError::LineFull {
            in_cart,
            adding: cmd.quantity.get(),
        });
    }
    check_product(p, in_cart.saturating_add(cmd.quantity.get()))?;
    if let Some(cart) = state.currency().filter(|c| **c != p.currency) {
        return Err(CartError::CurrencyMismatch {
            cart: cart.clone(),
            product: p.currency.clone(),
        });
    }
    Ok(vec![CartEvent::ItemAddedToCart {
        cart_id: state.cart_id.unwrap_or(cmd.new_cart_id),
        customer_id: cmd.customer_id,
        product_id: p.product_id,
        quantity: cmd.quantity.get(),
        unit_price: p.price,
        currency: p.currency.clone(),
    }])
}

/// The stock check applies to the new quantity whichever way it moves: a line the shop
/// cannot fill is refused here rather than at checkout.
pub fn change_quantity(state: &Cart, cmd: &ChangeQuantity) -> Result<Vec<CartEvent>, CartError> {
    let product_id = cmd.product.product_id;
    let (Some(cart_id), Some(line)) = (state.cart_id, state.line(product_id)) else {
        return Err(CartError::NotInCart(product_id));
    };
    if cmd.quantity == 0 {
        return remove_item(state, &RemoveItem { product_id });
    }
    if cmd.quantity == line.quantity {
        return Ok(vec![]);
    }
    check_product(&cmd.product, cmd.quantity)?;
    Ok(vec![CartEvent::CartItemQuantityChanged {
        cart_id,
        customer_id: state.customer_id,
        product_id,
        quantity: cmd.quantity,
    }])
}

pub fn remove_item(state: &Cart, cmd: &RemoveItem) -> Result<Vec<CartEvent>, CartError> {
    match (state.cart_id, state.line(cmd.product_id)) {
        (Some(cart_id), Some(_)) => Ok(vec![CartEvent::ItemRemovedFromCart {
            cart_id,
            customer_id: state.customer_id,
            product_id: cmd.product_id,
        }]),
        _ => Err(CartError::NotInCart(cmd.product_id)),
    }
}

/// Clearing an empty cart is a no-op.
pub fn clear(state: &Cart, _: &Clear) -> Result<Vec<CartEvent>, CartError> {
    match state.cart_id {
        Some(cart_id) if !state.lines.is_empty() => Ok(vec![CartEvent::CartCleared {
            cart_id,
            customer_id: state.customer_id,
        }]),
        _ => Ok(vec![]),
    }
}

/// Closes the cart into order `order_id`; the handler appends the order and the stock
/// reservations in the same transaction.
pub fn check_out(state: &Cart, cmd: &CheckOut) -> Result<Vec<CartEvent>, CartError> {
    match state.cart_id {
        Some(cart_id) if !state.lines.is_empty() => Ok(vec![CartEvent::CartCheckedOut {
            cart_id,
            customer_id: state.customer_id,
            order_id: cmd.order_id,
        }]),
        _ => Err(CartError::EmptyCart),
    }
}

#[cfg(test)]
mod tests;
