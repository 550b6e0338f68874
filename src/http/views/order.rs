//! API.md's `order`, built from the order aggregate (command answers) or from the orders read
//! model row (queries), so both answer the same shape. One file, so a new order field is added
//! to the view, the aggregate mapping and the row mapping together.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::order::Order;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderView {
    pub id: Uuid,
    /// The owner: the order is theirs.
    pub customer_id: Uuid,
    /// The customer, or the admin who placed the order on their behalf.
    pub placed_by: Uuid,
    /// `pending_payment | paid | shipped | delivered | cancelled | expired | refunded`
    pub status: String,
    pub items: Vec<OrderItemView>,
    pub total: i64,
    pub currency: String,
    pub phone: String,
    /// Set once the order is shipped.
    pub shipment: Option<ShipmentView>,
    pub payment: PaymentView,
    pub refund_due: bool,
    /// The deadline to pay; null once the order is settled (paid, cancelled, expired…).
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderItemView {
    pub product_id: Uuid,
    pub name: String,
    pub unit_price: i64,
    pub quantity: i64,
    pub line_total: i64,
    /// The product's seller; null only for lines of orders placed before lines named their
    /// seller.
    #[serde(default)]
    pub seller_id: Option<Uuid>,
}

/// `order.shipment`: who carries it and when it left and arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShipmentView {
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub shipped_at: DateTime<Utc>,
    /// Null until delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentView {
    /// `not_started | requested | failed | succeeded`
    pub status: String,
    pub attempts: i64,
    pub checkout_request_id: Option<String>,
    pub mpesa_receipt: Option<String>,
    pub paid_amount: Option<i64>,
    pub paid_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    /// Minor units paid back by completed refunds.
    pub refunded_amount: i64,
}

/// Only an order still waiting for its payment has a deadline.
fn pending(status: &str) -> bool {
    status == "pending_payment"
}

fn snake<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl From<&Order> for OrderView {
    fn from(order: &Order) -> Self {
        let payment = &order.payment;
        Self {
            id: order.order_id,
            customer_id: order.customer_id,
            placed_by: order.placed_by,
            status: order.status.as_str().to_owned(),
            items: order
                .lines
                .iter()
                .map(|l| OrderItemView {
                    product_id: l.product_id,
                    name: l.name.clone(),
                    unit_price: l.unit_price,
                    quantity: l.quantity,
                    line_total: l.line_total,
                    seller_id: l.seller_id,
                })
                .collect(),
            total: order.total,
            currency: order.currency.as_str().to_owned(),
            phone: order.phone.clone(),
            shipment: order.shipped_at.map(|shipped_at| ShipmentView {
                carrier: order.carrier.clone(),
                tracking_number: order.tracking_number.clone(),
                shipped_at,
                delivered_at: order.delivered_at,
            }),
            payment: PaymentView {
                status: snake(&payment.status),
                attempts: i64::try_from(payment.attempts).unwrap_or(i64::MAX),
                checkout_request_id: payment.checkout_request_id.clone(),
                mpesa_receipt: payment.mpesa_receipt.clone(),
                paid_amount: payment.paid_amount,
                paid_at: payment.paid_at,
                failure_reason: payment.failure_reason.clone(),
                refunded_amount: payment.refunded_amount,
            },
            refund_due: order.refund_due,
            expires_at: order.expires_at.filter(|_| pending(order.status.as_str())),
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }
}

/// The columns of an [`OrderRow`].
pub const ORDER_COLUMNS: &str = "id, customer_id, status, items, total, currency, phone, \
     payment_status, payment_attempts, checkout_request_id, mpesa_receipt, paid_amount, paid_at, \
     failure_reason, refund_due, expires_at, created_at, updated_at, placed_by, refunded_amount, \
     shipment";

/// A row of the `orders` read model.
#[derive(sqlx::FromRow)]
pub struct OrderRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub status: String,
    pub items: sqlx::types::Json<Vec<OrderItemView>>,
    pub total: i64,
    pub currency: String,
    pub phone: String,
    pub payment_status: String,
    pub payment_attempts: i32,
    pub checkout_request_id: Option<String>,
    pub mpesa_receipt: Option<String>,
    pub paid_amount: Option<i64>,
    pub paid_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub refund_due: bool,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub placed_by: Uuid,
    pub shipment: Option<sqlx::types::Json<ShipmentView>>,
    pub refunded_amount: i64,
}

impl From<OrderRow> for OrderView {
    fn from(r: OrderRow) -> Self {
        Self {
            id: r.id,
            customer_id: r.customer_id,
            placed_by: r.placed_by,
            expires_at: Some(r.expires_at).filter(|_| pending(&r.status)),
            status: r.status,
            items: r.items.0,
            total: r.total,
            currency: r.currency,
            phone: r.phone,
            shipment: r.shipment.map(|s| s.0),
            payment: PaymentView {
                status: r.payment_status,
                attempts: i64::from(r.payment_attempts),
                checkout_request_id: r.checkout_request_id,
                mpesa_receipt: r.mpesa_receipt,
                paid_amount: r.paid_amount,
                paid_at: r.paid_at,
                failure_reason: r.failure_reason,
                refunded_amount: r.refunded_amount,
            },
            refund_due: r.refund_due,
            created_at: Some(r.created_at),
            updated_at: Some(r.updated_at),
        }
    }
}
