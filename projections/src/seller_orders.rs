//! The seller orders read model (`seller_orders`, GET /seller/orders): for each order, one row
//! per seller whose products it holds, with only that seller's lines. Written once, from
//! `OrderPlaced` (an order's lines never change); what does change (status, phone, shipment)
//! is read from the orders read model by the query. Lines placed before lines named their
//! seller (OrderPlaced before schema version 3) belong to no seller here.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::types::Json;
use tillroll_events::order::OrderLine;
use tillroll_events::{OrderEvent, RecordedEvent};
use uuid::Uuid;

use crate::{ProjectionError, Projector, decode};

pub struct SellerOrdersProjector;

#[async_trait]
impl Projector for SellerOrdersProjector {
    fn name(&self) -> &'static str {
        "seller_orders"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["seller_orders"]
    }

    fn handles(&self, event_type: &str) -> bool {
        event_type == "OrderPlaced"
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            if let Some(order) = decode::<OrderEvent>(event) {
                placed(conn, order?).await?;
            }
        }
        Ok(())
    }
}

/// An order's lines, grouped by their seller.
fn by_seller(items: Vec<OrderLine>) -> BTreeMap<Uuid, Vec<OrderLine>> {
    let mut sellers: BTreeMap<Uuid, Vec<OrderLine>> = BTreeMap::new();
    for line in items {
        if let Some(seller) = line.seller_id {
            sellers.entry(seller).or_default().push(line);
        }
    }
    sellers
}

async fn placed(conn: &mut PgConnection, event: OrderEvent) -> Result<(), sqlx::Error> {
    let OrderEvent::OrderPlaced {
        order_id,
        customer_id,
        items,
        currency,
        placed_at,
        ..
    } = event
    else {
        return Ok(());
    };
    for (seller_id, lines) in by_seller(items) {
        // Line totals were checked on placing; a seller's share of them cannot overflow
        // where the whole order's sum did not.
        let total: i64 = lines.iter().map(|l| l.line_total).sum();
        sqlx::query(
            "INSERT INTO seller_orders \
                 (seller_id, order_id, customer_id, items, total, currency, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (seller_id, order_id) DO NOTHING",
        )
        .bind(seller_id)
        .bind(order_id)
        .bind(customer_id)
        .bind(Json(&lines))
        .bind(total)
        .bind(currency.as_str())
        .bind(placed_at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
