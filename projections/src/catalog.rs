//! The catalog read model: `products` (with stock embedded) and `categories`.
//!
//! Times come from the events themselves (`listed_at`, `changed_at`, `withdrawn_at`), the
//! same times the product aggregate holds, so a command's answer and a later read agree.

use async_trait::async_trait;
use sqlx::PgConnection;
use tillroll_events::{ProductEvent, RecordedEvent, StockEvent};

use crate::{ProjectionError, Projector, decode};

pub struct CatalogProjector;

/// `home-office` → `Home Office`.
pub fn category_name(slug: &str) -> String {
    slug.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_uppercase().collect::<String>() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[async_trait]
impl Projector for CatalogProjector {
    fn name(&self) -> &'static str {
        "catalog"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["products", "categories"]
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            if let Some(product) = decode::<ProductEvent>(event) {
                apply_product(conn, product?).await?;
            } else if let Some(stock) = decode::<StockEvent>(event) {
                apply_stock(conn, stock?).await?;
            }
        }
        Ok(())
    }
}

async fn ensure_category(conn: &mut PgConnection, slug: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO categories (slug, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(slug)
        .bind(category_name(slug))
        .execute(conn)
        .await?;
    Ok(())
}

async fn apply_product(conn: &mut PgConnection, event: ProductEvent) -> Result<(), sqlx::Error> {
    match event {
        ProductEvent::ProductListed {
            product_id,
            seller_id,
            name,
            description,
            category,
            price,
            currency,
            payout_phone,
            listed_at: at,
        } => {
            ensure_category(conn, &category).await?;
            sqlx::query(
                "INSERT INTO products (id, seller_id, name, description, category, price, \
                     currency, payout_phone, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                 ON CONFLICT (id) DO UPDATE SET seller_id = excluded.seller_id, \
                     name = excluded.name, description = excluded.description, \
                     category = excluded.category, price = excluded.price, \
                     currency = excluded.currency, payout_phone = excluded.payout_phone, \
                     created_at = excluded.created_at, updated_at = excluded.updated_at",
            )
            .bind(product_id)
            .bind(seller_id)
            .bind(name)
            .bind(description)
            .bind(category)
            .bind(price)
            .bind(currency.as_str())
            .bind(payout_phone)
            .bind(at)
            .execute(conn)
            .await?;
        }
        ProductEvent::ProductDetailsChanged {
            product_id,
            name,
            description,
            category,
            payout_phone,
            changed_at: at,
        } => {
            if let Some(category) = &category {
                ensure_category(conn, category).await?;
            }
            sqlx::query(
                "UPDATE products SET name = coalesce($2, name), \
                     description = coalesce($3, description), \
                     category = coalesce($4, category), \
                     payout_phone = coalesce($5, payout_phone), updated_at = $6 \
                 WHERE id = $1",
            )
            .bind(product_id)
            .bind(name)
            .bind(description)
            .bind(category)
            .bind(payout_phone)
            .bind(at)
            .execute(conn)
            .await?;
        }
        ProductEvent::ProductPriceChanged {
            product_id,
            price,
            currency,
            changed_at: at,
        } => {
            sqlx::query(
                "UPDATE products SET price = $2, currency = $3, updated_at = $4 WHERE id = $1",
            )
            .bind(product_id)
            .bind(price)
            .bind(currency.as_str())
            .bind(at)
            .execute(conn)
            .await?;
        }
        ProductEvent::ProductImageChanged {
            product_id,
            image_id,
            content_type,
            changed_at: at,
        } => {
            sqlx::query(
                "UPDATE products SET image_id = $2, image_content_type = $3, updated_at = $4 \
                 WHERE id = $1",
            )
            .bind(product_id)
            .bind(image_id)
            .bind(content_type)
            .bind(at)
            .execute(conn)
            .await?;
        }
        ProductEvent::ProductWithdrawn {
            product_id,
            withdrawn_at: at,
        } => {
            sqlx::query("UPDATE products SET withdrawn = true, updated_at = $2 WHERE id = $1")
                .bind(product_id)
                .bind(at)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

async fn apply_stock(conn: &mut PgConnection, event: StockEvent) -> Result<(), sqlx::Error> {
    // (product, on_hand delta, reserved delta) or an absolute on_hand.
    let (product_id, set, on_hand, reserved) = match event {
        StockEvent::StockLevelSet {
            product_id,
            on_hand,
        } => (product_id, Some(on_hand), 0, 0),
        StockEvent::StockAdjusted {
            product_id, delta, ..
        } => (product_id, None, delta, 0),
        StockEvent::StockReserved {
            product_id,
            quantity,
            ..
        } => (product_id, None, 0, quantity),
        StockEvent::StockReservationReleased {
            product_id,
            quantity,
            ..
        } => (product_id, None, 0, -quantity),
        StockEvent::StockSold {
            product_id,
            quantity,
            ..
        } => (product_id, None, -quantity, -quantity),
    };
    sqlx::query(
        "UPDATE products SET on_hand = coalesce($2, on_hand + $3), reserved = reserved + $4 \
         WHERE id = $1",
    )
    .bind(product_id)
    .bind(set)
    .bind(on_hand)
    .bind(reserved)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn category_names_from_slugs() {
        assert_eq!(super::category_name("home-office"), "Home Office");
        assert_eq!(super::category_name("phones"), "Phones");
    }
}
