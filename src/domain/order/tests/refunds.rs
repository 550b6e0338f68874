//! Refunds: how much may be requested, and what B2C results do.

use super::*;

const REFUND: Uuid = Uuid::from_u128(0xf1);
const OTHER: Uuid = Uuid::from_u128(0xf2);

fn refund(id: Uuid, amount: Option<i64>) -> RequestRefund {
    RequestRefund {
        refund_id: id,
        amount,
        reason: "damaged in transit".into(),
        now: at(20),
    }
}

fn cancelled() -> OrderEvent {
    OrderEvent::OrderCancelled {
        order_id: ORDER,
        reason: None,
        cancelled_at: at(5),
    }
}

fn paid_back(receipt: &str) -> RefundResult {
    RefundResult::Paid {
        mpesa_receipt: receipt.into(),
    }
}

fn not_paid() -> RefundResult {
    RefundResult::NotPaid {
        result_code: "2001".into(),
        reason: "M-Pesa refused the initiator's credentials".into(),
    }
}

fn settle(history: &[OrderEvent], id: Uuid, result: &RefundResult) -> Vec<OrderEvent> {
    settle_refund(&given(history), id, result, at(21)).unwrap()
}

#[test]
fn a_full_refund_of_a_cancelled_order_makes_it_refunded() {
    let mut history = with(paid(), [cancelled()]);
    let events = when(&mut history, request_refund, &refund(REFUND, None)).unwrap();
    assert!(matches!(
        &events[..],
        [OrderEvent::RefundRequested { amount: TOTAL, phone, customer_id: CUSTOMER, .. }] if phone == PHONE
    ));
    assert_eq!(given(&history).refundable(), 0);
    let settled = settle(&history, REFUND, &paid_back("TLC41HAY6Q"));
    assert!(matches!(
        &settled[..],
        [
            OrderEvent::RefundCompleted { amount: TOTAL, .. },
            OrderEvent::OrderRefunded { .. }
        ]
    ));
    history.extend(settled);
    let state = given(&history);
    assert_eq!(state.status, OrderStatus::Refunded);
    assert!(!state.refund_due);
    assert_eq!(state.payment.refunded_amount, TOTAL);
    assert_eq!(state.payment.mpesa_receipt.as_deref(), Some(RECEIPT));
}

#[test]
fn partial_refunds_add_up_to_what_was_paid_and_no_more() {
    let mut history = paid();
    when(&mut history, request_refund, &refund(REFUND, Some(300_000))).unwrap();
    assert_eq!(given(&history).refundable(), TOTAL - 300_000);
    assert_eq!(
        when(&mut history, request_refund, &refund(OTHER, Some(TOTAL))),
        Err(OrderError::NotRefundable {
            refundable: TOTAL - 300_000
        })
    );
    let rest = when(&mut history, request_refund, &refund(OTHER, None)).unwrap();
    assert!(
        matches!(&rest[..], [OrderEvent::RefundRequested { amount, .. }] if *amount == TOTAL - 300_000)
    );
    // A paid (not cancelled) order stays paid: the shop gave part of the money back.
    history.extend(settle(&history, REFUND, &paid_back("A")));
    history.extend(settle(&history, OTHER, &paid_back("B")));
    let state = given(&history);
    assert_eq!(state.status, OrderStatus::Paid);
    assert_eq!(state.refunded_amount(), TOTAL);
    assert_eq!(
        request_refund(&state, &refund(Uuid::from_u128(0xf3), None)),
        Err(OrderError::NotRefundable { refundable: 0 })
    );
}

#[test]
fn a_failed_refund_is_refundable_again() {
    let mut history = with(paid(), [cancelled()]);
    when(&mut history, request_refund, &refund(REFUND, None)).unwrap();
    let failed = settle(&history, REFUND, &not_paid());
    assert!(
        matches!(&failed[..], [OrderEvent::RefundFailed { result_code, .. }] if result_code == "2001")
    );
    history.extend(failed);
    let state = given(&history);
    assert_eq!(state.refundable(), TOTAL);
    assert_eq!(state.status, OrderStatus::Cancelled);
    assert!(when(&mut history, request_refund, &refund(OTHER, None)).is_ok());
}

#[test]
fn duplicate_and_late_results_change_nothing() {
    let mut history = with(paid(), [cancelled()]);
    when(&mut history, request_refund, &refund(REFUND, None)).unwrap();
    history.extend(settle(&history, REFUND, &paid_back("A")));
    assert_eq!(settle(&history, REFUND, &paid_back("A")), vec![]);
    assert_eq!(
        settle(&history, REFUND, &not_paid()),
        vec![],
        "a late failure"
    );
    assert_eq!(
        settle_refund(&given(&history), OTHER, &paid_back("A"), at(22)),
        Err(OrderError::UnknownRefund)
    );
}

#[test]
fn the_same_refund_id_again_is_a_no_op() {
    let mut history = paid();
    when(&mut history, request_refund, &refund(REFUND, Some(100_000))).unwrap();
    assert_eq!(
        when(&mut history, request_refund, &refund(REFUND, Some(100_000))),
        Ok(vec![])
    );
}

#[test]
fn amounts_mpesa_cannot_pay_are_refused_at_request_time() {
    let history = paid();
    let state = given(&history);
    let refused = |amount| request_refund(&state, &refund(REFUND, Some(amount)));
    assert!(
        matches!(refused(150), Err(OrderError::Invalid(e)) if e.field == "amount"),
        "cents"
    );
    assert!(matches!(refused(0), Err(OrderError::Invalid(e)) if e.field == "amount"));
    assert!(matches!(refused(-100), Err(OrderError::Invalid(e)) if e.field == "amount"));
    assert!(
        matches!(refused(900), Err(OrderError::NotPayableByMpesa(_))),
        "below KES 10"
    );
    let no_reason = RequestRefund {
        reason: "  ".into(),
        ..refund(REFUND, None)
    };
    assert!(
        matches!(request_refund(&state, &no_reason), Err(OrderError::Invalid(e)) if e.field == "reason")
    );
}

#[test]
fn nothing_received_nothing_refundable() {
    assert_eq!(
        request_refund(&given(&pending()), &refund(REFUND, None)),
        Err(OrderError::NotRefundable { refundable: 0 })
    );
    assert_eq!(
        request_refund(&Order::default(), &refund(REFUND, None)),
        Err(OrderError::NotFound)
    );
}

#[test]
fn late_money_on_an_expired_order_is_refunded_and_the_order_becomes_refunded() {
    let mut history = with(pending(), [expired()]);
    when(&mut history, confirm_payment, &confirm("ws_1")).unwrap();
    assert!(given(&history).refund_due);
    when(&mut history, request_refund, &refund(REFUND, None)).unwrap();
    history.extend(settle(&history, REFUND, &paid_back("A")));
    let state = given(&history);
    assert_eq!(
        (state.status, state.refund_due),
        (OrderStatus::Refunded, false)
    );
}

/// Random sequences of requests and results: whatever the order, refunds requested and not
/// failed never exceed what was received, and completed ones never either.
#[test]
fn refunds_never_exceed_what_was_received() {
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..200 {
        let mut history = with(paid(), [cancelled()]);
        let mut ids = Vec::new();
        for step in 0..30u128 {
            let state = given(&history);
            assert!(state.refund_committed() <= state.received());
            assert!(state.refunded_amount() <= state.received());
            match next(3) {
                0 => {
                    let id = Uuid::from_u128(0x1000 + step);
                    let amount = (next(4) > 0).then(|| (1 + next(40) as i64) * 10_000);
                    if request_refund(&state, &refund(id, amount))
                        .map(|e| history.extend(e))
                        .is_ok()
                    {
                        ids.push(id);
                    }
                }
                outcome if !ids.is_empty() => {
                    let id = ids[next(ids.len() as u64) as usize];
                    let result = if outcome == 1 {
                        paid_back("R")
                    } else {
                        not_paid()
                    };
                    history.extend(settle(&history, id, &result));
                }
                _ => {}
            }
        }
    }
}
