//! API.md's `cart`, from the cart as the aggregates price it (command answers) or from the
//! carts read model's lines (queries).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::commands::cart::PricedCart;
use crate::domain::money;

/// API.md's `cart`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CartView {
    /// `null` while the customer has no open cart.
    pub id: Option<Uuid>,
    pub customer_id: Uuid,
    pub items: Vec<CartItemView>,
    pub total: i64,
    pub currency: String,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CartItemView {
    pub product_id: Uuid,
    pub name: String,
    pub unit_price: i64,
    pub quantity: i64,
    pub line_total: i64,
}

impl CartItemView {
    /// A line priced at `unit_price`; a total too large to hold saturates.
    pub fn priced(product_id: Uuid, name: String, unit_price: i64, quantity: i64) -> Self {
        Self {
            product_id,
            name,
            unit_price,
            quantity,
            line_total: money::line_total(unit_price, quantity).unwrap_or(i64::MAX),
        }
    }
}

impl CartView {
    pub fn empty(customer_id: Uuid) -> Self {
        Self::from(&PricedCart::empty(customer_id))
    }

    /// Sums the lines; a total too large to hold saturates (it can never be checked out).
    pub fn from_lines(
        id: Option<Uuid>,
        customer_id: Uuid,
        items: Vec<CartItemView>,
        currency: String,
        updated_at: Option<DateTime<Utc>>,
    ) -> Self {
        let total = money::sum(items.iter().map(|i| i.line_total)).unwrap_or(i64::MAX);
        Self {
            id,
            customer_id,
            items,
            total,
            currency,
            updated_at,
        }
    }
}

impl From<&PricedCart> for CartView {
    fn from(cart: &PricedCart) -> Self {
        let items = cart
            .lines
            .iter()
            .map(|l| CartItemView::priced(l.product_id, l.name.clone(), l.unit_price, l.quantity))
            .collect();
        Self::from_lines(
            cart.cart_id,
            cart.customer_id,
            items,
            cart.currency.clone(),
            cart.at,
        )
    }
}

/// A line of the carts read model, priced from the carts projector's catalog copy.
#[derive(sqlx::FromRow)]
pub struct CartLineRow {
    pub customer_id: Uuid,
    pub product_id: Uuid,
    pub name: Option<String>,
    pub price: Option<i64>,
    pub currency: Option<String>,
    pub quantity: i64,
}

impl From<CartLineRow> for CartItemView {
    fn from(row: CartLineRow) -> Self {
        Self::priced(
            row.product_id,
            row.name.unwrap_or_default(),
            row.price.unwrap_or(0),
            row.quantity,
        )
    }
}
