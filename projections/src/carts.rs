//! The carts read model, serving `cart` (GET /cart, GET /carts): `carts` (the open cart of
//! each customer), `cart_items` (its lines, in the order first added) and `cart_products`
//! (this projector's own copy of each product's current name, price and withdrawal), so a
//! cart always shows current catalog names and prices without reading another projector's
//! tables.
//!
//! Lines are numbered per customer: a new line gets one more than the highest line of that
//! customer's cart, so numbering restarts after the cart is cleared or checked out.
//! Every timestamp is the event's `recorded_at`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use tillroll_events::{CartEvent, ProductEvent, RecordedEvent};
use uuid::Uuid;

use crate::{ProjectionError, Projector, decode};

pub struct CartsProjector;

#[async_trait]
impl Projector for CartsProjector {
    fn name(&self) -> &'static str {
        "carts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["carts", "cart_items", "cart_products"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            if let Some(cart) = decode::<CartEvent>(event) {
                apply_cart(conn, cart?, event.recorded_at).await?;
            } else if let Some(product) = decode::<ProductEvent>(event) {
                apply_product(conn, product?).await?;
            }
        }
        Ok(())
    }
}

async fn apply_cart(
    conn: &mut PgConnection,
    event: CartEvent,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    match event {
        CartEvent::ItemAddedToCart {
            cart_id,
            customer_id,
            product_id,
            quantity,
            // The cart shows the current catalog price from `cart_products`.
            unit_price: _,
            currency: _,
        } => {
            touch_cart(conn, customer_id, cart_id, at).await?;
            sqlx::query(
                "INSERT INTO cart_items (customer_id, product_id, quantity, line_no) \
                 SELECT $1, $2, $3, coalesce(max(line_no), 0) + 1 \
                 FROM cart_items WHERE customer_id = $1 \
                 ON CONFLICT (customer_id, product_id) \
                 DO UPDATE SET quantity = cart_items.quantity + excluded.quantity",
            )
            .bind(customer_id)
            .bind(product_id)
            .bind(quantity)
            .execute(conn)
            .await?;
        }
        CartEvent::CartItemQuantityChanged {
            cart_id,
            customer_id,
            product_id,
            quantity,
        } => {
            touch_cart(conn, customer_id, cart_id, at).await?;
            if quantity <= 0 {
                delete_line(conn, customer_id, product_id).await?;
            } else {
                sqlx::query(
                    "INSERT INTO cart_items (customer_id, product_id, quantity, line_no) \
                     SELECT $1, $2, $3, coalesce(max(line_no), 0) + 1 \
                     FROM cart_items WHERE customer_id = $1 \
                     ON CONFLICT (customer_id, product_id) \
                     DO UPDATE SET quantity = excluded.quantity",
                )
                .bind(customer_id)
                .bind(product_id)
                .bind(quantity)
                .execute(conn)
                .await?;
            }
        }
        CartEvent::ItemRemovedFromCart {
            cart_id,
            customer_id,
            product_id,
        } => {
            touch_cart(conn, customer_id, cart_id, at).await?;
            delete_line(conn, customer_id, product_id).await?;
        }
        CartEvent::CartCleared { customer_id, .. }
        | CartEvent::CartCheckedOut { customer_id, .. } => {
            sqlx::query("DELETE FROM cart_items WHERE customer_id = $1")
                .bind(customer_id)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM carts WHERE customer_id = $1")
                .bind(customer_id)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

/// Creates the customer's open cart or marks it changed.
async fn touch_cart(
    conn: &mut PgConnection,
    customer_id: Uuid,
    cart_id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO carts (customer_id, cart_id, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (customer_id) \
         DO UPDATE SET cart_id = excluded.cart_id, updated_at = excluded.updated_at",
    )
    .bind(customer_id)
    .bind(cart_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn delete_line(
    conn: &mut PgConnection,
    customer_id: Uuid,
    product_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cart_items WHERE customer_id = $1 AND product_id = $2")
        .bind(customer_id)
        .bind(product_id)
        .execute(conn)
        .await?;
    Ok(())
}

async fn apply_product(conn: &mut PgConnection, event: ProductEvent) -> Result<(), sqlx::Error> {
    match event {
        ProductEvent::ProductListed {
            product_id,
            name,
            price,
            currency,
            ..
        } => {
            sqlx::query(
                "INSERT INTO cart_products (product_id, name, price, currency, withdrawn) \
                 VALUES ($1, $2, $3, $4, false) \
                 ON CONFLICT (product_id) DO UPDATE SET name = excluded.name, \
                     price = excluded.price, currency = excluded.currency, withdrawn = false",
            )
            .bind(product_id)
            .bind(name)
            .bind(price)
            .bind(currency.as_str())
            .execute(conn)
            .await?;
        }
        ProductEvent::ProductDetailsChanged {
            product_id,
            name: Some(name),
            ..
        } => {
            sqlx::query("UPDATE cart_products SET name = $2 WHERE product_id = $1")
                .bind(product_id)
                .bind(name)
                .execute(conn)
                .await?;
        }
        ProductEvent::ProductPriceChanged {
            product_id,
            price,
            currency,
            ..
        } => {
            sqlx::query("UPDATE cart_products SET price = $2, currency = $3 WHERE product_id = $1")
                .bind(product_id)
                .bind(price)
                .bind(currency.as_str())
                .execute(conn)
                .await?;
        }
        ProductEvent::ProductWithdrawn { product_id, .. } => {
            sqlx::query("UPDATE cart_products SET withdrawn = true WHERE product_id = $1")
                .bind(product_id)
                .execute(conn)
                .await?;
        }
        // Descriptions, categories, payout phones and images do not show in a cart.
        ProductEvent::ProductDetailsChanged { name: None, .. }
        | ProductEvent::ProductImageChanged { .. } => {}
    }
    Ok(())
}
