//! The catalog read model: `products` (with stock embedded) and `categories`.
//!
//! Times come from the events themselves (`listed_at`, `changed_at`, `withdrawn_at`), the
//! same times the product aggregate holds, so a command's answer and a later read agree.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use tillroll_events::{DomainEvent, ProductEvent, RecordedEvent, StockEvent};
use uuid::Uuid;

use crate::batch::{Rows, distinct};
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

    fn handles(&self, event_type: &str) -> bool {
        ProductEvent::event_types().contains(&event_type)
            || StockEvent::event_types().contains(&event_type)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut changes = Vec::with_capacity(events.len());
        for event in events {
            if let Some(product) = decode::<ProductEvent>(event) {
                changes.push(Change::Product(product?));
            } else if let Some(stock) = decode::<StockEvent>(event) {
                changes.push(Change::Stock(stock?));
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let ids = distinct(changes.iter().map(Change::product_id));
        let mut products = Rows::loaded(ids.iter().copied(), load(conn, &ids).await?);
        let mut categories = Vec::new();
        for change in changes {
            match change {
                Change::Product(event) => apply_product(&mut products, &mut categories, event),
                Change::Stock(event) => apply_stock(&mut products, event),
            }
        }
        write_categories(conn, distinct(categories)).await?;
        let (rows, _) = products.into_changes();
        write_products(conn, rows).await?;
        Ok(())
    }
}

enum Change {
    Product(ProductEvent),
    Stock(StockEvent),
}

impl Change {
    fn product_id(&self) -> Uuid {
        match self {
            Change::Product(event) => event.product_id(),
            Change::Stock(event) => event.product_id(),
        }
    }
}

/// A row of `products` (without its generated columns).
#[derive(sqlx::FromRow)]
struct Product {
    id: Uuid,
    seller_id: Uuid,
    name: String,
    description: String,
    category: String,
    price: i64,
    currency: String,
    image_id: Option<String>,
    image_content_type: Option<String>,
    payout_phone: Option<String>,
    on_hand: i64,
    reserved: i64,
    withdrawn: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

async fn load(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<(Uuid, Product)>, sqlx::Error> {
    let rows: Vec<Product> = sqlx::query_as(
        "SELECT id, seller_id, name, description, category, price, currency, image_id, \
             image_content_type, payout_phone, on_hand, reserved, withdrawn, created_at, \
             updated_at \
         FROM products WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|p| (p.id, p)).collect())
}

fn apply_product(
    products: &mut Rows<Uuid, Product>,
    categories: &mut Vec<String>,
    event: ProductEvent,
) {
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
            categories.push(category.clone());
            let currency = currency.as_str().to_owned();
            match products.get_mut(&product_id) {
                // Listed again: the listing's fields are replaced, stock, image and
                // withdrawal are kept.
                Some(p) => {
                    p.seller_id = seller_id;
                    p.name = name;
                    p.description = description;
                    p.category = category;
                    p.price = price;
                    p.currency = currency;
                    p.payout_phone = payout_phone;
                    p.created_at = at;
                    p.updated_at = at;
                }
                None => products.put(
                    product_id,
                    Product {
                        id: product_id,
                        seller_id,
                        name,
                        description,
                        category,
                        price,
                        currency,
                        image_id: None,
                        image_content_type: None,
                        payout_phone,
                        on_hand: 0,
                        reserved: 0,
                        withdrawn: false,
                        created_at: at,
                        updated_at: at,
                    },
                ),
            }
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
                categories.push(category.clone());
            }
            if let Some(p) = products.get_mut(&product_id) {
                p.name = name.unwrap_or(std::mem::take(&mut p.name));
                p.description = description.unwrap_or(std::mem::take(&mut p.description));
                p.category = category.unwrap_or(std::mem::take(&mut p.category));
                p.payout_phone = payout_phone.or(p.payout_phone.take());
                p.updated_at = at;
            }
        }
        ProductEvent::ProductPriceChanged {
            product_id,
            price,
            currency,
            changed_at: at,
        } => {
            if let Some(p) = products.get_mut(&product_id) {
                p.price = price;
                p.currency = currency.as_str().to_owned();
                p.updated_at = at;
            }
        }
        ProductEvent::ProductImageChanged {
            product_id,
            image_id,
            content_type,
            changed_at: at,
        } => {
            if let Some(p) = products.get_mut(&product_id) {
                p.image_id = Some(image_id);
                p.image_content_type = Some(content_type);
                p.updated_at = at;
            }
        }
        ProductEvent::ProductWithdrawn {
            product_id,
            withdrawn_at: at,
        } => {
            if let Some(p) = products.get_mut(&product_id) {
                p.withdrawn = true;
                p.updated_at = at;
            }
        }
    }
}

fn apply_stock(products: &mut Rows<Uuid, Product>, event: StockEvent) {
    let Some(p) = products.get_mut(&event.product_id()) else {
        return;
    };
    match event {
        StockEvent::StockLevelSet { on_hand, .. } => p.on_hand = on_hand,
        StockEvent::StockAdjusted { delta, .. } => p.on_hand += delta,
        StockEvent::StockReserved { quantity, .. } => p.reserved += quantity,
        StockEvent::StockReservationReleased { quantity, .. } => p.reserved -= quantity,
        StockEvent::StockSold { quantity, .. } => {
            p.on_hand -= quantity;
            p.reserved -= quantity;
        }
    }
}

async fn write_categories(conn: &mut PgConnection, slugs: Vec<String>) -> Result<(), sqlx::Error> {
    if slugs.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = slugs.iter().map(|s| category_name(s)).collect();
    sqlx::query(
        "INSERT INTO categories (slug, name) \
         SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(slugs)
    .bind(names)
    .execute(conn)
    .await?;
    Ok(())
}

async fn write_products(
    conn: &mut PgConnection,
    rows: Vec<(Uuid, Product)>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let n = rows.len();
    let mut c = ProductColumns::with_capacity(n);
    for (_, p) in rows {
        c.push(p);
    }
    sqlx::query(
        "INSERT INTO products (id, seller_id, name, description, category, price, currency, \
             image_id, image_content_type, payout_phone, on_hand, reserved, withdrawn, \
             created_at, updated_at) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], \
             $6::int8[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[], \
             $12::int8[], $13::bool[], $14::timestamptz[], $15::timestamptz[]) \
         ON CONFLICT (id) DO UPDATE SET seller_id = excluded.seller_id, name = excluded.name, \
             description = excluded.description, category = excluded.category, \
             price = excluded.price, currency = excluded.currency, \
             image_id = excluded.image_id, image_content_type = excluded.image_content_type, \
             payout_phone = excluded.payout_phone, on_hand = excluded.on_hand, \
             reserved = excluded.reserved, withdrawn = excluded.withdrawn, \
             created_at = excluded.created_at, updated_at = excluded.updated_at",
    )
    .bind(c.id)
    .bind(c.seller_id)
    .bind(c.name)
    .bind(c.description)
    .bind(c.category)
    .bind(c.price)
    .bind(c.currency)
    .bind(c.image_id)
    .bind(c.image_content_type)
    .bind(c.payout_phone)
    .bind(c.on_hand)
    .bind(c.reserved)
    .bind(c.withdrawn)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// `products` rows as columns, for `unnest`.
#[derive(Default)]
struct ProductColumns {
    id: Vec<Uuid>,
    seller_id: Vec<Uuid>,
    name: Vec<String>,
    description: Vec<String>,
    category: Vec<String>,
    price: Vec<i64>,
    currency: Vec<String>,
    image_id: Vec<Option<String>>,
    image_content_type: Vec<Option<String>>,
    payout_phone: Vec<Option<String>>,
    on_hand: Vec<i64>,
    reserved: Vec<i64>,
    withdrawn: Vec<bool>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
}

impl ProductColumns {
    fn with_capacity(n: usize) -> Self {
        let mut c = Self::default();
        c.id.reserve(n);
        c
    }

    fn push(&mut self, p: Product) {
        self.id.push(p.id);
        self.seller_id.push(p.seller_id);
        self.name.push(p.name);
        self.description.push(p.description);
        self.category.push(p.category);
        self.price.push(p.price);
        self.currency.push(p.currency);
        self.image_id.push(p.image_id);
        self.image_content_type.push(p.image_content_type);
        self.payout_phone.push(p.payout_phone);
        self.on_hand.push(p.on_hand);
        self.reserved.push(p.reserved);
        self.withdrawn.push(p.withdrawn);
        self.created_at.push(p.created_at);
        self.updated_at.push(p.updated_at);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn category_names_from_slugs() {
        assert_eq!(super::category_name("home-office"), "Home Office");
        assert_eq!(super::category_name("phones"), "Phones");
    }
}
