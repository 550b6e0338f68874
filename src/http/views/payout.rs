//! API.md's `payout`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PayoutView {
    pub id: Uuid,
    pub seller_id: Uuid,
    /// The M-Pesa number paid.
    pub phone: String,
    /// Minor units.
    pub amount: i64,
    pub currency: String,
    /// The delivered orders whose earnings it pays.
    pub order_ids: Vec<Uuid>,
    /// `requested | completed | failed`
    pub status: String,
    pub mpesa_receipt: Option<String>,
    pub failure_reason: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}
