//! Given a seller's ledger, when a payout or its result, then events.

use chrono::{DateTime, TimeDelta, Utc};
use tillroll_events::SellerEvent;
use uuid::Uuid;

use super::*;
use crate::domain::order::RefundResult;

const SELLER: Uuid = Uuid::from_u128(0x5e);
const PHONE: &str = "254700000001";
const OTHER_PHONE: &str = "254700000002";

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_000_000 + minute * 60, 0).unwrap()
}

fn earned(order: u128, phone: &str, net: i64) -> SellerEvent {
    SellerEvent::EarningsRecorded {
        seller_id: SELLER,
        order_id: Uuid::from_u128(order),
        phone: phone.into(),
        gross: net,
        fee: 0,
        net,
        recorded_at: at(0),
    }
}

fn reversed(order: u128, amount: i64) -> SellerEvent {
    SellerEvent::EarningsReversed {
        seller_id: SELLER,
        order_id: Uuid::from_u128(order),
        refund_id: Uuid::now_v7(),
        phone: PHONE.into(),
        amount,
        reversed_at: at(1),
    }
}

fn pay(id: u128, phone: &str, minute: i64) -> RequestPayout {
    RequestPayout {
        payout_id: Uuid::from_u128(id),
        phone: phone.into(),
        every: TimeDelta::hours(1),
        now: at(minute),
    }
}

fn given(events: &[SellerEvent]) -> Seller {
    Seller::from_events(events)
}

#[test]
fn the_balance_of_each_phone_is_paid_in_whole_shillings() {
    let history = vec![earned(1, PHONE, 135_050), earned(2, OTHER_PHONE, 20_000)];
    let events = request_payout(&given(&history), &pay(0xa, PHONE, 10));
    assert!(matches!(
        &events[..],
        [SellerEvent::PayoutRequested { amount: 135_000, order_ids, .. }] if order_ids == &[Uuid::from_u128(1)]
    ));
    let state = given(&[history, events].concat());
    assert_eq!(state.balance(PHONE), 50, "the cents wait");
    assert_eq!(state.balance(OTHER_PHONE), 20_000);
}

#[test]
fn at_most_one_payout_per_phone_per_period() {
    let mut history = vec![earned(1, PHONE, 100_000)];
    history.extend(request_payout(&given(&history), &pay(0xa, PHONE, 0)));
    history.push(earned(2, PHONE, 50_000));
    assert_eq!(
        request_payout(&given(&history), &pay(0xb, PHONE, 30)),
        vec![]
    );
    assert_eq!(
        request_payout(&given(&history), &pay(0xb, PHONE, 61)).len(),
        1
    );
}

#[test]
fn a_refund_after_a_payout_is_a_negative_balance_made_up_by_the_next_earnings() {
    let mut history = vec![earned(1, PHONE, 100_000)];
    history.extend(request_payout(&given(&history), &pay(0xa, PHONE, 0)));
    history.push(reversed(1, 30_000));
    assert_eq!(given(&history).balance(PHONE), -30_000);
    assert_eq!(
        request_payout(&given(&history), &pay(0xb, PHONE, 120)),
        vec![]
    );
    history.push(earned(2, PHONE, 50_000));
    let events = request_payout(&given(&history), &pay(0xb, PHONE, 120));
    assert!(matches!(
        &events[..],
        [SellerEvent::PayoutRequested { amount: 20_000, .. }]
    ));
}

#[test]
fn a_failed_payout_is_paid_again_and_results_count_once() {
    let mut history = vec![earned(1, PHONE, 100_000)];
    history.extend(request_payout(&given(&history), &pay(0xa, PHONE, 0)));
    let failed = RefundResult::NotPaid {
        result_code: "2001".into(),
        reason: "refused".into(),
    };
    history.extend(settle_payout(
        &given(&history),
        Uuid::from_u128(0xa),
        &failed,
        at(1),
    ));
    assert_eq!(given(&history).balance(PHONE), 100_000);
    let paid = RefundResult::Paid {
        mpesa_receipt: "R".into(),
    };
    assert_eq!(
        settle_payout(&given(&history), Uuid::from_u128(0xa), &paid, at(2)),
        vec![]
    );
    let again = request_payout(&given(&history), &pay(0xb, PHONE, 2));
    assert!(
        matches!(&again[..], [SellerEvent::PayoutRequested { amount: 100_000, order_ids, .. }] if order_ids.len() == 1)
    );
}

/// Random earnings, reversals, payouts and results: a payout never takes more than the
/// balance, so what was paid out never exceeds what was earned less fees and refunds, but for
/// refunds that came after the money left (the negative balance).
#[test]
fn payouts_never_exceed_earnings_less_reversals() {
    let mut seed: u64 = 0xfeed;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..200 {
        let mut history: Vec<SellerEvent> = Vec::new();
        let mut reversed_after_payouts = 0;
        for step in 0..40u128 {
            let state = given(&history);
            let minute = step as i64 * 61;
            match next(4) {
                0 => history.push(earned(step, PHONE, (1 + next(50) as i64) * 1_000)),
                1 if !state.earnings.is_empty() => {
                    // A refund takes back at most what the seller's lines earned.
                    let earned: i64 = state.earnings.iter().map(|e| e.net).sum();
                    let taken: i64 = state.reversals.iter().map(|(_, a)| a).sum();
                    let amount = ((next(20) as i64) * 500).min(earned - taken);
                    if state
                        .payouts
                        .iter()
                        .any(|p| p.status != PayoutStatus::Failed)
                    {
                        reversed_after_payouts += amount;
                    }
                    history.push(reversed(step, amount));
                }
                2 => {
                    let before = state.balance(PHONE);
                    let events = request_payout(&state, &pay(0x1000 + step, PHONE, minute));
                    if let Some(SellerEvent::PayoutRequested { amount, .. }) = events.first() {
                        assert!(*amount <= before && *amount >= MIN_REFUND);
                    }
                    history.extend(events);
                }
                _ => {
                    if let Some(p) = state.payouts.last() {
                        let result = if next(2) == 0 {
                            RefundResult::Paid {
                                mpesa_receipt: "R".into(),
                            }
                        } else {
                            RefundResult::NotPaid {
                                result_code: "1".into(),
                                reason: "no".into(),
                            }
                        };
                        history.extend(settle_payout(&state, p.payout_id, &result, at(minute)));
                    }
                }
            }
            let state = given(&history);
            let earned: i64 = state.earnings.iter().map(|e| e.net).sum();
            let reversed: i64 = state.reversals.iter().map(|(_, a)| a).sum();
            let paid: i64 = state
                .payouts
                .iter()
                .filter(|p| p.status != PayoutStatus::Failed)
                .map(|p| p.amount)
                .sum();
            assert!(paid <= earned - reversed + reversed_after_payouts);
        }
    }
}
