//! Payment attempts: the owner's retries and Daraja's answer to each push.

use super::*;

#[test]
fn the_owner_retries_after_a_failure() {
    let history = with(pending(), [failed(FIRST, "ws_1", "1032")]);
    let events = request_payment(&given(&history), &retry(SECOND, None, 5)).unwrap();
    assert_eq!(events, vec![requested(SECOND, 5)]);
    let state = given(&with(history, events));
    assert_eq!(state.payment.status, PaymentStatus::Requested);
    assert_eq!(
        (state.payment.attempts, state.payment.failure_reason.clone()),
        (2, None)
    );
}

#[test]
fn a_retry_may_use_another_phone_which_later_retries_reuse() {
    let events =
        request_payment(&given(&pending()), &retry(SECOND, Some("0112345678"), 5)).unwrap();
    let OrderEvent::PaymentRequested { phone, .. } = &events[0] else {
        panic!()
    };
    assert_eq!(phone, "254112345678");
    let history = with(pending(), events);
    let third = request_payment(&given(&history), &retry(Uuid::from_u128(0xa3), None, 6)).unwrap();
    assert!(
        matches!(&third[0], OrderEvent::PaymentRequested { phone, .. } if phone == "254112345678")
    );
    assert_eq!(
        given(&history).phone,
        PHONE,
        "the order keeps the phone it was placed with"
    );
}

#[test]
fn a_replayed_request_is_a_no_op() {
    assert_eq!(
        request_payment(&given(&pending()), &retry(FIRST, None, 5)),
        Ok(vec![])
    );
}

#[test]
fn a_paid_order_cannot_be_paid_again() {
    assert_eq!(
        request_payment(&given(&paid()), &retry(SECOND, None, 5)),
        Err(OrderError::AlreadyPaid)
    );
    let shipped = with(
        paid(),
        [OrderEvent::OrderShipped {
            order_id: ORDER,
            carrier: None,
            tracking_number: None,
            note: None,
            shipped_at: at(9),
        }],
    );
    assert_eq!(
        request_payment(&given(&shipped), &retry(SECOND, None, 10)),
        Err(OrderError::AlreadyPaid)
    );
}

#[test]
fn closed_orders_and_late_retries_are_refused() {
    let state = given(&with(pending(), [expired()]));
    assert_eq!(
        request_payment(&state, &retry(SECOND, None, 5)),
        Err(OrderError::WrongState(OrderStatus::Expired))
    );
    let cancelled = with(
        pending(),
        [OrderEvent::OrderCancelled {
            order_id: ORDER,
            reason: None,
            cancelled_at: at(2),
        }],
    );
    assert_eq!(
        request_payment(&given(&cancelled), &retry(SECOND, None, 5)),
        Err(OrderError::WrongState(OrderStatus::Cancelled))
    );
    assert_eq!(
        request_payment(&given(&pending()), &retry(SECOND, None, 15)),
        Err(OrderError::DeadlinePassed)
    );
}

#[test]
fn only_the_owner_retries() {
    let by = |actor| RequestPayment {
        actor,
        ..retry(SECOND, None, 5)
    };
    assert_eq!(
        request_payment(&given(&pending()), &by(stranger())),
        Err(OrderError::NotFound)
    );
    assert_eq!(
        request_payment(&given(&pending()), &by(admin())),
        Err(OrderError::NotFound)
    );
    assert_eq!(
        request_payment(&given(&[]), &by(owner())),
        Err(OrderError::NotFound)
    );
}

#[test]
fn attempts_are_limited() {
    let mut history = pending();
    for i in 1..MAX_ATTEMPTS {
        let id = Uuid::from_u128(0xb00 + i as u128);
        when(&mut history, request_payment, &retry(id, None, 1)).unwrap();
    }
    assert_eq!(given(&history).attempts.len(), MAX_ATTEMPTS);
    assert_eq!(
        request_payment(&given(&history), &retry(SECOND, None, 2)),
        Err(OrderError::TooManyAttempts)
    );
}

#[test]
fn an_accepted_push_is_recorded_once() {
    let history = vec![placed(), requested(FIRST, 0)];
    let cmd = RecordPushAccepted {
        attempt_id: FIRST,
        checkout_request_id: "ws_1".into(),
        merchant_request_id: "m-ws_1".into(),
    };
    assert_eq!(
        record_push_accepted(&given(&history), &cmd),
        Ok(vec![accepted(FIRST, "ws_1")])
    );
    let state = given(&pending());
    assert_eq!(state.payment.checkout_request_id.as_deref(), Some("ws_1"));
    assert_eq!(state.attempts[0].status, AttemptStatus::Accepted);
    assert_eq!(record_push_accepted(&state, &cmd), Ok(vec![]));
    let unknown = RecordPushAccepted {
        attempt_id: SECOND,
        ..cmd
    };
    assert_eq!(
        record_push_accepted(&state, &unknown),
        Err(OrderError::UnknownAttempt)
    );
}

#[test]
fn a_rejected_push_fails_the_attempt_without_a_checkout_id() {
    let history = vec![placed(), requested(FIRST, 0)];
    let cmd = RecordPushRejected {
        attempt_id: FIRST,
        code: "400.002.02".into(),
        reason: "Invalid Amount".into(),
    };
    let events = record_push_rejected(&given(&history), &cmd).unwrap();
    assert_eq!(
        events,
        vec![OrderEvent::PaymentFailed {
            order_id: ORDER,
            attempt_id: FIRST,
            checkout_request_id: None,
            result_code: "400.002.02".into(),
            reason: "Invalid Amount".into(),
            mpesa_receipt: None,
            amount: None,
        }]
    );
    let state = given(&with(history, events));
    assert_eq!(state.payment.status, PaymentStatus::Failed);
    assert_eq!(
        state.payment.failure_reason.as_deref(),
        Some("Invalid Amount")
    );
    assert_eq!(
        record_push_rejected(&state, &cmd),
        Ok(vec![]),
        "already failed"
    );
    assert_eq!(
        record_push_rejected(&given(&pending()), &cmd),
        Ok(vec![]),
        "already accepted"
    );
}
