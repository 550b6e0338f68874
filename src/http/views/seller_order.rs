//! GET /seller/orders' item: an order as one of its sellers sees it — only their lines (and
//! their sum), the buyer's name and phone, and where it goes. Queries only (no command answers
//! it), from the `seller_orders` row joined with the order's and the buyer's read models.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::order::{OrderItemView, ShipmentView};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SellerOrderView {
    /// The order's id.
    pub id: Uuid,
    /// `pending_payment | paid | shipped | delivered | cancelled | expired | refunded`
    pub status: String,
    /// The seller's lines of the order only.
    pub items: Vec<OrderItemView>,
    /// The sum of the seller's lines, in minor units of `currency`.
    pub total: i64,
    pub currency: String,
    pub buyer: BuyerView,
    /// The order's delivery address; null for a collection (and for now: orders carry no
    /// address yet).
    #[schema(value_type = Option<Object>)]
    pub shipping_address: Option<serde_json::Value>,
    pub shipment: Option<ShipmentView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Who the seller ships to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BuyerView {
    pub customer_id: Uuid,
    /// Null if the account is unknown to the read model or closed.
    pub name: Option<String>,
    /// The order's phone.
    pub phone: String,
}

/// The columns of a [`SellerOrderRow`], over `seller_orders s`, `orders o`, `customers c`.
pub const SELLER_ORDER_COLUMNS: &str = "s.order_id, s.customer_id, o.status, s.items, s.total, \
    s.currency, c.name AS buyer_name, o.phone, o.shipment, s.created_at, o.updated_at";

#[derive(sqlx::FromRow)]
pub struct SellerOrderRow {
    pub order_id: Uuid,
    pub customer_id: Uuid,
    pub status: String,
    pub items: sqlx::types::Json<Vec<OrderItemView>>,
    pub total: i64,
    pub currency: String,
    pub buyer_name: Option<String>,
    pub phone: String,
    pub shipment: Option<sqlx::types::Json<ShipmentView>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<SellerOrderRow> for SellerOrderView {
    fn from(r: SellerOrderRow) -> Self {
        Self {
            id: r.order_id,
            status: r.status,
            items: r.items.0,
            total: r.total,
            currency: r.currency,
            buyer: BuyerView {
                customer_id: r.customer_id,
                name: r.buyer_name,
                phone: r.phone,
            },
            shipping_address: None,
            shipment: r.shipment.map(|s| s.0),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}
