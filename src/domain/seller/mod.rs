//! A seller's ledger (stream `seller-<id>`): earnings of delivered lines less the platform fee,
//! reversals by refunds, payouts by M-Pesa B2C. Balances are per payout phone, and a payout
//! is decided on the stream's expected version, so payouts never add up to more than the
//! earnings less reversals, whatever the concurrency. A reversal after a payout leaves the
//! balance negative: the next earnings make it up before anything is paid again.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tillroll_events::SellerEvent;
use uuid::Uuid;

use crate::domain::Aggregate;
use crate::domain::order::MIN_REFUND;

#[cfg(test)]
mod tests;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    #[default]
    Requested,
    Completed,
    Failed,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub payout_id: Uuid,
    pub phone: String,
    pub amount: i64,
    pub order_ids: Vec<Uuid>,
    pub status: PayoutStatus,
    pub requested_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Earning {
    pub order_id: Uuid,
    pub phone: String,
    pub net: i64,
    /// In a payout requested (and not failed) since.
    pub paid_in: Option<Uuid>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Seller {
    pub seller_id: Uuid,
    pub earnings: Vec<Earning>,
    /// `(phone, amount)` taken back by refunds.
    pub reversals: Vec<(String, i64)>,
    pub payouts: Vec<Payout>,
}

/// The payout reactor pays the balance of `phone`, unless it paid that phone less than
/// `every` ago or the balance is under what B2C pays (KES 10).
#[derive(Debug, Clone)]
pub struct RequestPayout {
    pub payout_id: Uuid,
    pub phone: String,
    pub every: TimeDelta,
    pub now: DateTime<Utc>,
}

impl Seller {
    /// Earned less reversed less paid out (or on its way), for `phone`; negative when a refund
    /// came after a payout.
    pub fn balance(&self, phone: &str) -> i64 {
        let earned: i64 = self
            .earnings
            .iter()
            .filter(|e| e.phone == phone)
            .map(|e| e.net)
            .sum();
        let reversed: i64 = self
            .reversals
            .iter()
            .filter(|(p, _)| p == phone)
            .map(|(_, a)| a)
            .sum();
        let paid: i64 = self
            .payouts
            .iter()
            .filter(|p| p.phone == phone && p.status != PayoutStatus::Failed)
            .map(|p| p.amount)
            .sum();
        earned - reversed - paid
    }

    pub fn payout(&self, payout_id: Uuid) -> Option<&Payout> {
        self.payouts.iter().find(|p| p.payout_id == payout_id)
    }

    /// The phone an order's earning is payable to.
    pub fn earning(&self, order_id: Uuid) -> Option<&Earning> {
        self.earnings.iter().find(|e| e.order_id == order_id)
    }
}

pub fn request_payout(state: &Seller, cmd: &RequestPayout) -> Vec<SellerEvent> {
    let recent = state.payouts.iter().any(|p| {
        p.phone == cmd.phone
            && p.status != PayoutStatus::Failed
            && p.requested_at.is_some_and(|at| cmd.now - at < cmd.every)
    });
    if recent || state.payout(cmd.payout_id).is_some() {
        return vec![];
    }
    // Whole shillings only: the cents wait for the next payout.
    let amount = state.balance(&cmd.phone) / 100 * 100;
    if amount < MIN_REFUND {
        return vec![];
    }
    let order_ids = state
        .earnings
        .iter()
        .filter(|e| e.phone == cmd.phone && e.paid_in.is_none())
        .map(|e| e.order_id)
        .collect();
    vec![SellerEvent::PayoutRequested {
        seller_id: state.seller_id,
        payout_id: cmd.payout_id,
        phone: cmd.phone.clone(),
        amount,
        order_ids,
        requested_at: cmd.now,
    }]
}

/// The B2C result of a payout still `requested`; anything else is a duplicate.
pub fn settle_payout(
    state: &Seller,
    payout_id: Uuid,
    result: &crate::domain::order::RefundResult,
    now: DateTime<Utc>,
) -> Vec<SellerEvent> {
    use crate::domain::order::RefundResult;
    if state
        .payout(payout_id)
        .is_none_or(|p| p.status != PayoutStatus::Requested)
    {
        return vec![];
    }
    let seller_id = state.seller_id;
    vec![match result {
        RefundResult::Paid { mpesa_receipt } => SellerEvent::PayoutCompleted {
            seller_id,
            payout_id,
            mpesa_receipt: mpesa_receipt.clone(),
            completed_at: now,
        },
        RefundResult::NotPaid {
            result_code,
            reason,
        } => SellerEvent::PayoutFailed {
            seller_id,
            payout_id,
            result_code: result_code.clone(),
            reason: reason.clone(),
            failed_at: now,
        },
    }]
}

/// What delivering an order earns each seller: `gross` less `fee_bps` basis points.
pub fn fee(gross: i64, fee_bps: u32) -> i64 {
    gross.saturating_mul(i64::from(fee_bps)) / 10_000
}

impl Aggregate for Seller {
    type Event = SellerEvent;

    fn evolve(&mut self, event: &SellerEvent) {
        self.seller_id = event.seller_id();
        match event {
            SellerEvent::EarningsRecorded {
                order_id,
                phone,
                net,
                ..
            } => {
                if self.earning(*order_id).is_none() {
                    self.earnings.push(Earning {
                        order_id: *order_id,
                        phone: phone.clone(),
                        net: *net,
                        paid_in: None,
                    });
                }
            }
            SellerEvent::EarningsReversed { phone, amount, .. } => {
                self.reversals.push((phone.clone(), *amount));
            }
            SellerEvent::PayoutRequested {
                payout_id,
                phone,
                amount,
                order_ids,
                requested_at,
                ..
            } => {
                for e in &mut self.earnings {
                    if order_ids.contains(&e.order_id) {
                        e.paid_in = Some(*payout_id);
                    }
                }
                self.payouts.push(Payout {
                    payout_id: *payout_id,
                    phone: phone.clone(),
                    amount: *amount,
                    order_ids: order_ids.clone(),
                    status: PayoutStatus::Requested,
                    requested_at: Some(*requested_at),
                });
            }
            SellerEvent::PayoutCompleted { payout_id, .. } => {
                if let Some(p) = self.payouts.iter_mut().find(|p| p.payout_id == *payout_id) {
                    p.status = PayoutStatus::Completed;
                }
            }
            SellerEvent::PayoutFailed { payout_id, .. } => {
                if let Some(p) = self.payouts.iter_mut().find(|p| p.payout_id == *payout_id) {
                    p.status = PayoutStatus::Failed;
                }
                for e in &mut self.earnings {
                    if e.paid_in == Some(*payout_id) {
                        e.paid_in = None;
                    }
                }
            }
        }
    }
}
