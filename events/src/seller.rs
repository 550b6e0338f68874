//! Events of a seller's ledger, stream `seller-<id>`: what delivered lines earned them, what
//! refunds took back, and the payouts made by M-Pesa B2C. Balances are per payout phone.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain_event;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SellerEvent {
    /// An order was delivered: the seller's lines earned `net` = `gross` − `fee` (minor units),
    /// payable to `phone` (the products' payout phone, else the seller's profile phone).
    EarningsRecorded {
        seller_id: Uuid,
        order_id: Uuid,
        phone: String,
        gross: i64,
        fee: i64,
        net: i64,
        recorded_at: DateTime<Utc>,
    },
    /// A refund of a delivered order took back the seller's share: the balance of `phone`
    /// goes down (below zero when it was paid out already).
    EarningsReversed {
        seller_id: Uuid,
        order_id: Uuid,
        refund_id: Uuid,
        phone: String,
        amount: i64,
        reversed_at: DateTime<Utc>,
    },
    /// The payout reactor asked M-Pesa B2C to pay the balance of `phone`; `payout_id` is the
    /// OriginatorConversationID.
    PayoutRequested {
        seller_id: Uuid,
        payout_id: Uuid,
        phone: String,
        amount: i64,
        order_ids: Vec<Uuid>,
        requested_at: DateTime<Utc>,
    },
    PayoutCompleted {
        seller_id: Uuid,
        payout_id: Uuid,
        mpesa_receipt: String,
        completed_at: DateTime<Utc>,
    },
    /// Not paid: the amount is in the balance again.
    PayoutFailed {
        seller_id: Uuid,
        payout_id: Uuid,
        result_code: String,
        reason: String,
        failed_at: DateTime<Utc>,
    },
}

domain_event!(
    SellerEvent,
    seller_id,
    EarningsRecorded,
    EarningsReversed,
    PayoutRequested,
    PayoutCompleted,
    PayoutFailed,
);
