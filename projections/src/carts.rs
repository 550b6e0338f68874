//! The carts read model, serving `cart` (GET /cart, GET /carts): `carts` (the open cart of
//! each customer), `cart_items` (its lines, in the order first added) and `cart_products`
//! (this projector's own copy of each product's current name, price and withdrawal), so a
//! cart always shows current catalog names and prices without reading another projector's
//! tables.
//!
//! Lines are numbered per customer: a new line gets one more than the highest line of that
//! customer's cart, so numbering restarts after the cart is cleared or checked out.
//! Every timestamp is the event's `recorded_at`.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use tillroll_events::{CartEvent, DomainEvent, ProductEvent, RecordedEvent};
use uuid::Uuid;

use crate::batch::{Rows, distinct};
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

    fn handles(&self, event_type: &str) -> bool {
        CartEvent::event_types().contains(&event_type)
            || ProductEvent::event_types().contains(&event_type)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut cart_events = Vec::new();
        let mut product_events = Vec::new();
        for event in events {
            if let Some(cart) = decode::<CartEvent>(event) {
                cart_events.push((cart?, event.recorded_at));
            } else if let Some(product) = decode::<ProductEvent>(event) {
                product_events.push(product?);
            }
        }
        if !cart_events.is_empty() {
            let customers = distinct(cart_events.iter().map(|(e, _)| e.customer_id()));
            let mut carts = Carts::load(conn, &customers).await?;
            for (event, at) in cart_events {
                carts.apply(event, at);
            }
            carts.write(conn, &customers).await?;
        }
        if !product_events.is_empty() {
            let ids = distinct(product_events.iter().map(ProductEvent::product_id));
            let mut products = Rows::loaded(ids.iter().copied(), load_products(conn, &ids).await?);
            for event in product_events {
                apply_product(&mut products, event);
            }
            write_products(conn, products).await?;
        }
        Ok(())
    }
}

/// The carts of the customers a batch names: their `carts` row and their lines.
struct Carts {
    carts: Rows<Uuid, (Uuid, DateTime<Utc>)>,
    lines: HashMap<Uuid, Vec<Line>>,
}

#[derive(sqlx::FromRow)]
struct Line {
    customer_id: Uuid,
    product_id: Uuid,
    quantity: i64,
    line_no: i64,
}

impl Carts {
    /// The carts and lines of `customers`, in one query.
    async fn load(conn: &mut PgConnection, customers: &[Uuid]) -> Result<Self, sqlx::Error> {
        type Found = (
            Uuid,
            Option<Uuid>,
            Option<DateTime<Utc>>,
            Option<Uuid>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<Found> = sqlx::query_as(
            "SELECT u.id, c.cart_id, c.updated_at, i.product_id, i.quantity, i.line_no \
             FROM unnest($1::uuid[]) AS u(id) \
             LEFT JOIN carts c ON c.customer_id = u.id \
             LEFT JOIN cart_items i ON i.customer_id = u.id \
             ORDER BY u.id, i.line_no",
        )
        .bind(customers)
        .fetch_all(&mut *conn)
        .await?;
        let mut carts = Vec::new();
        let mut lines: HashMap<Uuid, Vec<Line>> =
            customers.iter().map(|c| (*c, Vec::new())).collect();
        for (customer_id, cart_id, updated_at, product_id, quantity, line_no) in rows {
            if let (Some(cart_id), Some(at)) = (cart_id, updated_at)
                && carts.last().is_none_or(|(c, _)| *c != customer_id)
            {
                carts.push((customer_id, (cart_id, at)));
            }
            if let (Some(product_id), Some(quantity), Some(line_no)) =
                (product_id, quantity, line_no)
            {
                lines.entry(customer_id).or_default().push(Line {
                    customer_id,
                    product_id,
                    quantity,
                    line_no,
                });
            }
        }
        Ok(Self {
            carts: Rows::loaded(customers.iter().copied(), carts),
            lines,
        })
    }

    fn apply(&mut self, event: CartEvent, at: DateTime<Utc>) {
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
                self.touch(customer_id, cart_id, at);
                let lines = self.lines.entry(customer_id).or_default();
                match lines.iter_mut().find(|l| l.product_id == product_id) {
                    Some(line) => line.quantity += quantity,
                    None => add_line(lines, customer_id, product_id, quantity),
                }
            }
            CartEvent::CartItemQuantityChanged {
                cart_id,
                customer_id,
                product_id,
                quantity,
            } => {
                self.touch(customer_id, cart_id, at);
                let lines = self.lines.entry(customer_id).or_default();
                if quantity <= 0 {
                    lines.retain(|l| l.product_id != product_id);
                } else {
                    match lines.iter_mut().find(|l| l.product_id == product_id) {
                        Some(line) => line.quantity = quantity,
                        None => add_line(lines, customer_id, product_id, quantity),
                    }
                }
            }
            CartEvent::ItemRemovedFromCart {
                cart_id,
                customer_id,
                product_id,
            } => {
                self.touch(customer_id, cart_id, at);
                let lines = self.lines.entry(customer_id).or_default();
                lines.retain(|l| l.product_id != product_id);
            }
            CartEvent::CartCleared { customer_id, .. }
            | CartEvent::CartCheckedOut { customer_id, .. } => {
                self.lines.entry(customer_id).or_default().clear();
                self.carts.remove(&customer_id);
            }
        }
    }

    /// Creates the customer's open cart or marks it changed.
    fn touch(&mut self, customer_id: Uuid, cart_id: Uuid, at: DateTime<Utc>) {
        self.carts.put(customer_id, (cart_id, at));
    }

    /// Writes the carts back in one statement: the carts rows (upserted, or deleted when
    /// emptied) and their lines (upserted, and those no longer in a cart deleted; the two
    /// sets of keys are disjoint, so the statement's parts cannot collide).
    async fn write(self, conn: &mut PgConnection, customers: &[Uuid]) -> Result<(), sqlx::Error> {
        let (carts, emptied) = self.carts.into_changes();
        let (mut cart_customer, mut cart_id, mut updated) = (Vec::new(), Vec::new(), Vec::new());
        for (customer_id, (id, at)) in carts {
            cart_customer.push(customer_id);
            cart_id.push(id);
            updated.push(at);
        }
        let mut l = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for line in self.lines.into_values().flatten() {
            l.0.push(line.customer_id);
            l.1.push(line.product_id);
            l.2.push(line.quantity);
            l.3.push(line.line_no);
        }
        sqlx::query(
            "WITH emptied AS ( \
                 DELETE FROM carts WHERE customer_id = ANY($1) \
             ), carts_written AS ( \
                 INSERT INTO carts (customer_id, cart_id, updated_at) \
                 SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[]) \
                 ON CONFLICT (customer_id) \
                 DO UPDATE SET cart_id = excluded.cart_id, updated_at = excluded.updated_at \
             ), lines AS ( \
                 SELECT * FROM unnest($6::uuid[], $7::uuid[], $8::int8[], $9::int8[]) \
                     AS n(customer_id, product_id, quantity, line_no) \
             ), lines_gone AS ( \
                 DELETE FROM cart_items i WHERE i.customer_id = ANY($5) \
                 AND NOT EXISTS (SELECT 1 FROM lines n \
                     WHERE n.customer_id = i.customer_id AND n.product_id = i.product_id) \
             ) \
             INSERT INTO cart_items (customer_id, product_id, quantity, line_no) \
             SELECT * FROM lines \
             ON CONFLICT (customer_id, product_id) \
             DO UPDATE SET quantity = excluded.quantity, line_no = excluded.line_no",
        )
        .bind(emptied)
        .bind(cart_customer)
        .bind(cart_id)
        .bind(updated)
        .bind(customers)
        .bind(l.0)
        .bind(l.1)
        .bind(l.2)
        .bind(l.3)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// A new line is numbered one more than the highest of the cart (so numbering restarts after
/// the cart is cleared).
fn add_line(lines: &mut Vec<Line>, customer_id: Uuid, product_id: Uuid, quantity: i64) {
    let line_no = lines.iter().map(|l| l.line_no).max().unwrap_or(0) + 1;
    lines.push(Line {
        customer_id,
        product_id,
        quantity,
        line_no,
    });
}

/// This projector's copy of a product: name, price, currency, withdrawn.
type CartProduct = (String, i64, String, bool);

async fn load_products(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, CartProduct)>, sqlx::Error> {
    let rows: Vec<(Uuid, String, i64, String, bool)> = sqlx::query_as(
        "SELECT product_id, name, price, currency, withdrawn FROM cart_products \
         WHERE product_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, price, currency, withdrawn)| (id, (name, price, currency, withdrawn)))
        .collect())
}

fn apply_product(products: &mut Rows<Uuid, CartProduct>, event: ProductEvent) {
    match event {
        ProductEvent::ProductListed {
            product_id,
            name,
            price,
            currency,
            ..
        } => products.put(
            product_id,
            (name, price, currency.as_str().to_owned(), false),
        ),
        ProductEvent::ProductDetailsChanged {
            product_id,
            name: Some(name),
            ..
        } => {
            if let Some(p) = products.get_mut(&product_id) {
                p.0 = name;
            }
        }
        ProductEvent::ProductPriceChanged {
            product_id,
            price,
            currency,
            ..
        } => {
            if let Some(p) = products.get_mut(&product_id) {
                p.1 = price;
                p.2 = currency.as_str().to_owned();
            }
        }
        ProductEvent::ProductWithdrawn { product_id, .. } => {
            if let Some(p) = products.get_mut(&product_id) {
                p.3 = true;
            }
        }
        // Descriptions, categories, payout phones and images do not show in a cart.
        ProductEvent::ProductDetailsChanged { name: None, .. }
        | ProductEvent::ProductImageChanged { .. } => {}
    }
}

async fn write_products(
    conn: &mut PgConnection,
    products: Rows<Uuid, CartProduct>,
) -> Result<(), sqlx::Error> {
    let (rows, _) = products.into_changes();
    if rows.is_empty() {
        return Ok(());
    }
    let mut c = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, (name, price, currency, withdrawn)) in rows {
        c.0.push(id);
        c.1.push(name);
        c.2.push(price);
        c.3.push(currency);
        c.4.push(withdrawn);
    }
    sqlx::query(
        "INSERT INTO cart_products (product_id, name, price, currency, withdrawn) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::int8[], $4::text[], $5::bool[]) \
         ON CONFLICT (product_id) DO UPDATE SET name = excluded.name, \
             price = excluded.price, currency = excluded.currency, \
             withdrawn = excluded.withdrawn",
    )
    .bind(c.0)
    .bind(c.1)
    .bind(c.2)
    .bind(c.3)
    .bind(c.4)
    .execute(conn)
    .await?;
    Ok(())
}
