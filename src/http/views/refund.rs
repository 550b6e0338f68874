//! API.md's `refund`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::order::{Order, Refund};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RefundView {
    pub id: Uuid,
    pub order_id: Uuid,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
    /// The phone the money went back to (the one that paid).
    pub phone: String,
    pub reason: String,
    /// `requested | completed | failed`
    pub status: String,
    pub mpesa_receipt: Option<String>,
    pub failure_reason: Option<String>,
    pub requested_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl RefundView {
    pub fn of(order: &Order, refund: &Refund) -> Self {
        Self {
            id: refund.refund_id,
            order_id: order.order_id,
            amount: refund.amount,
            // M-Pesa pays shillings only.
            currency: "KES".to_owned(),
            phone: refund.phone.clone(),
            reason: refund.reason.clone(),
            status: refund.status.as_str().to_owned(),
            mpesa_receipt: refund.mpesa_receipt.clone(),
            failure_reason: refund.failure_reason.clone(),
            requested_at: refund.requested_at,
            completed_at: refund.completed_at,
        }
    }
}
