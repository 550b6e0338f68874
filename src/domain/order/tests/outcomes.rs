//! Outcomes of attempts: confirmations, wrong amounts, late and duplicate money, failures.

use super::*;

fn refund_reason(events: &[OrderEvent]) -> &str {
    match events.last() {
        Some(OrderEvent::RefundFlagged { reason, .. }) => reason,
        other => panic!("no refund flag: {other:?}"),
    }
}

#[test]
fn a_success_pays_the_order() {
    let events = confirm_payment(&given(&pending()), &confirm("ws_1")).unwrap();
    assert_eq!(events, vec![confirmed(FIRST, "ws_1")]);
    let state = given(&with(pending(), events));
    assert_eq!(state.status, OrderStatus::Paid);
    let p = &state.payment;
    assert_eq!(p.status, PaymentStatus::Succeeded);
    assert_eq!(
        (p.mpesa_receipt.as_deref(), p.paid_amount, p.paid_at),
        (Some(RECEIPT), Some(TOTAL), Some(at(3)))
    );
    assert!(!state.refund_due);
}

#[test]
fn the_same_success_twice_confirms_once() {
    let mut history = pending();
    assert_eq!(
        when(&mut history, confirm_payment, &confirm("ws_1")).map(|e| e.len()),
        Ok(1)
    );
    assert_eq!(
        when(&mut history, confirm_payment, &confirm("ws_1")),
        Ok(vec![])
    );
    assert_eq!(history, paid());
}

#[test]
fn an_unknown_checkout_id_is_reported() {
    assert_eq!(
        confirm_payment(&given(&pending()), &confirm("ws_x")),
        Err(OrderError::UnknownPayment)
    );
    assert_eq!(
        fail_payment(&given(&pending()), &fail("ws_x", "1032")),
        Err(OrderError::UnknownPayment)
    );
    assert_eq!(
        confirm_payment(&given(&[]), &confirm("ws_1")),
        Err(OrderError::UnknownPayment)
    );
}

#[test]
fn a_wrong_amount_is_recorded_and_flagged_not_accepted() {
    let cmd = ConfirmPayment {
        amount: Some(100),
        ..confirm("ws_1")
    };
    let events = confirm_payment(&given(&pending()), &cmd).unwrap();
    assert_eq!(
        events[0],
        OrderEvent::PaymentAmountMismatch {
            order_id: ORDER,
            attempt_id: FIRST,
            checkout_request_id: "ws_1".into(),
            mpesa_receipt: RECEIPT.into(),
            amount: 100,
            expected: TOTAL,
        }
    );
    assert_eq!(
        refund_reason(&events),
        "refund KES 1.00 (M-Pesa receipt SKP4XG7T2B): paid the wrong amount, the order is KES 7,998.00"
    );
    let mut history = with(pending(), events);
    let state = given(&history);
    assert_eq!(
        (state.status, state.refund_due),
        (OrderStatus::PendingPayment, true)
    );
    assert_eq!(state.payment.status, PaymentStatus::Failed);
    assert_eq!(
        state.payment.failure_reason.as_deref(),
        Some("amount mismatch: paid 100, expected 799800")
    );
    assert_eq!(
        confirm_payment(&state, &cmd),
        Ok(vec![]),
        "duplicate mismatch"
    );
    assert_eq!(
        confirm_payment(&state, &confirm("ws_1")),
        Ok(vec![]),
        "that attempt is settled"
    );
    when(&mut history, request_payment, &retry(SECOND, None, 5)).unwrap();
    history.push(accepted(SECOND, "ws_2"));
    assert_eq!(
        when(&mut history, confirm_payment, &confirm("ws_2")),
        Ok(vec![confirmed(SECOND, "ws_2")])
    );
    assert_eq!(
        given(&history).status,
        OrderStatus::Paid,
        "still payable after a mismatch"
    );
}

#[test]
fn money_after_a_1037_failure_still_pays_a_pending_order() {
    let history = with(pending(), [failed(FIRST, "ws_1", "1037")]);
    assert_eq!(given(&history).payment.status, PaymentStatus::Failed);
    let events = confirm_payment(&given(&history), &confirm("ws_1")).unwrap();
    assert_eq!(events, vec![confirmed(FIRST, "ws_1")]);
    let state = given(&with(history, events));
    assert_eq!(
        (state.status, state.payment.status),
        (OrderStatus::Paid, PaymentStatus::Succeeded)
    );
    assert_eq!(state.payment.failure_reason, None);
}

#[test]
fn a_late_success_with_stock_left_pays_the_expired_order() {
    let history = with(pending(), [expired()]);
    let cmd = ConfirmPayment {
        stock_available_for_late_payment: true,
        ..confirm("ws_1")
    };
    let events = confirm_payment(&given(&history), &cmd).unwrap();
    assert_eq!(events, vec![confirmed(FIRST, "ws_1")]);
    let state = given(&with(history, events));
    assert_eq!((state.status, state.refund_due), (OrderStatus::Paid, false));
}

#[test]
fn a_late_success_without_stock_keeps_the_order_expired_and_flags_the_refund() {
    let mut history = with(pending(), [expired()]);
    let events = when(&mut history, confirm_payment, &confirm("ws_1")).unwrap();
    assert_eq!(
        events[0],
        OrderEvent::PaymentFailed {
            order_id: ORDER,
            attempt_id: FIRST,
            checkout_request_id: Some("ws_1".into()),
            result_code: "0".into(),
            reason:
                "paid after the order expired, and its stock is gone; the money will be refunded"
                    .into(),
            mpesa_receipt: Some(RECEIPT.into()),
            amount: Some(TOTAL),
        }
    );
    assert_eq!(
        refund_reason(&events),
        "refund KES 7,998.00 (M-Pesa receipt SKP4XG7T2B): paid after the order expired, and its stock is gone"
    );
    let state = given(&history);
    assert_eq!(
        (state.status, state.refund_due),
        (OrderStatus::Expired, true)
    );
    // The money arrived: the payment shows it, receipt included, and it is refundable.
    assert_eq!(state.payment.status, PaymentStatus::Succeeded);
    assert_eq!(state.payment.mpesa_receipt.as_deref(), Some(RECEIPT));
    assert_eq!(state.refundable(), TOTAL);
    assert!(state.attempts[0].money_received());
    assert_eq!(
        when(&mut history, confirm_payment, &confirm("ws_1")),
        Ok(vec![]),
        "duplicate callback"
    );
    assert_eq!(
        when(&mut history, fail_payment, &fail("ws_1", "1032")),
        Ok(vec![]),
        "out of order"
    );
}

#[test]
fn a_success_after_cancellation_is_refunded_even_with_stock() {
    let history = with(
        pending(),
        [OrderEvent::OrderCancelled {
            order_id: ORDER,
            reason: None,
            cancelled_at: at(2),
        }],
    );
    let cmd = ConfirmPayment {
        stock_available_for_late_payment: true,
        ..confirm("ws_1")
    };
    let events = confirm_payment(&given(&history), &cmd).unwrap();
    assert!(
        matches!(&events[0], OrderEvent::PaymentFailed { result_code, .. } if result_code == "0")
    );
    assert!(refund_reason(&events).ends_with("paid after the order was cancelled"));
    let state = given(&with(history, events));
    assert_eq!(
        (state.status, state.refund_due),
        (OrderStatus::Cancelled, true)
    );
}

#[test]
fn a_second_success_is_refunded_and_the_first_stands() {
    let mut history = pending();
    when(&mut history, request_payment, &retry(SECOND, None, 1)).unwrap();
    history.push(accepted(SECOND, "ws_2"));
    when(&mut history, confirm_payment, &confirm("ws_1")).unwrap();
    let second = ConfirmPayment {
        mpesa_receipt: Some("SKP4XG7T2C".into()),
        ..confirm("ws_2")
    };
    let events = when(&mut history, confirm_payment, &second).unwrap();
    assert_eq!(
        refund_reason(&events),
        "refund KES 7,998.00 (M-Pesa receipt SKP4XG7T2C): the order was already paid by another attempt"
    );
    let state = given(&history);
    assert_eq!((state.status, state.refund_due), (OrderStatus::Paid, true));
    assert_eq!(state.payment.status, PaymentStatus::Succeeded);
    assert_eq!(state.payment.checkout_request_id.as_deref(), Some("ws_1"));
    assert_eq!(state.payment.mpesa_receipt.as_deref(), Some(RECEIPT));
    let confirmations = history
        .iter()
        .filter(|e| matches!(e, OrderEvent::PaymentConfirmed { .. }))
        .count();
    assert_eq!(confirmations, 1, "at most one success");
    assert_eq!(when(&mut history, confirm_payment, &second), Ok(vec![]));
}

#[test]
fn a_success_known_from_a_query_takes_the_pushed_amount() {
    let cmd = ConfirmPayment {
        mpesa_receipt: None,
        amount: None,
        ..confirm("ws_1")
    };
    let events = confirm_payment(&given(&pending()), &cmd).unwrap();
    assert!(matches!(
        &events[..],
        [OrderEvent::PaymentConfirmed { amount: TOTAL, mpesa_receipt, .. }] if mpesa_receipt.is_empty()
    ));
}

#[test]
fn a_failure_is_recorded_while_the_attempt_is_in_flight() {
    let mut history = pending();
    assert_eq!(
        when(&mut history, fail_payment, &fail("ws_1", "1032")),
        Ok(vec![failed(FIRST, "ws_1", "1032")])
    );
    let state = given(&history);
    assert_eq!(state.status, OrderStatus::PendingPayment, "still payable");
    assert_eq!(state.payment.status, PaymentStatus::Failed);
    assert_eq!(state.payment.failure_reason.as_deref(), Some("result 1032"));
    assert_eq!(state.attempts[0].result_code.as_deref(), Some("1032"));
    assert_eq!(
        when(&mut history, fail_payment, &fail("ws_1", "1032")),
        Ok(vec![]),
        "duplicate"
    );
    assert_eq!(
        when(&mut history, fail_payment, &fail("ws_1", "1")),
        Ok(vec![]),
        "another code"
    );
}

#[test]
fn a_failure_after_success_changes_nothing() {
    assert_eq!(
        fail_payment(&given(&paid()), &fail("ws_1", "1037")),
        Ok(vec![])
    );
}

#[test]
fn an_old_attempt_failing_does_not_hide_the_one_in_flight() {
    let mut history = pending();
    when(&mut history, request_payment, &retry(SECOND, None, 1)).unwrap();
    when(&mut history, fail_payment, &fail("ws_1", "1037")).unwrap();
    let state = given(&history);
    assert_eq!(state.payment.status, PaymentStatus::Requested);
    assert_eq!(
        state.payment.checkout_request_id, None,
        "the new push is not accepted yet"
    );
}
