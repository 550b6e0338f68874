//! Cancel, expire, ship, deliver: who may, and from which status.

use super::*;

fn cancel_by(actor: Actor, reason: Option<&str>) -> Cancel {
    Cancel {
        actor,
        reason: reason.map(str::to_owned),
        now: at(5),
    }
}

fn ship_cmd(carrier: Option<&str>, tracking_number: Option<&str>) -> Ship {
    Ship {
        carrier: carrier.map(Into::into),
        tracking_number: tracking_number.map(Into::into),
        note: None,
        now: at(30),
    }
}
#[test]
fn the_owner_cancels_before_payment() {
    let events = cancel(
        &given(&pending()),
        &cancel_by(owner(), Some("  changed my mind ")),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![OrderEvent::OrderCancelled {
            order_id: ORDER,
            reason: Some("changed my mind".into()),
            cancelled_at: at(5)
        }]
    );
    let state = given(&with(pending(), events));
    assert_eq!(state.status, OrderStatus::Cancelled);
    assert!(!state.refund_due);
    let blank = cancel(&given(&pending()), &cancel_by(owner(), Some("   "))).unwrap();
    assert!(matches!(
        &blank[0],
        OrderEvent::OrderCancelled { reason: None, .. }
    ));
}

#[test]
fn the_owner_cannot_cancel_after_payment() {
    assert_eq!(
        cancel(&given(&paid()), &cancel_by(owner(), None)),
        Err(OrderError::WrongState(OrderStatus::Paid))
    );
}

#[test]
fn an_admin_cancels_a_pending_order_without_refund() {
    let events = cancel(&given(&pending()), &cancel_by(admin(), None)).unwrap();
    assert_eq!(events.len(), 1);
}

#[test]
fn an_admin_cancelling_a_paid_order_flags_the_refund() {
    let events = cancel(&given(&paid()), &cancel_by(admin(), Some("fraud"))).unwrap();
    assert_eq!(
        events,
        vec![
            OrderEvent::OrderCancelled { order_id: ORDER, reason: Some("fraud".into()), cancelled_at: at(5) },
            OrderEvent::RefundFlagged {
                order_id: ORDER,
                reason: "refund KES 7,998.00 (M-Pesa receipt SKP4XG7T2B): cancelled after payment: fraud".into(),
            },
        ]
    );
    let state = given(&with(paid(), events));
    assert_eq!(
        (state.status, state.refund_due),
        (OrderStatus::Cancelled, true)
    );
    assert_eq!(
        state.payment.status,
        PaymentStatus::Succeeded,
        "the money was received"
    );
}

#[test]
fn nobody_cancels_after_shipping_or_after_the_end() {
    let shipped = with(
        paid(),
        [OrderEvent::OrderShipped {
            order_id: ORDER,
            carrier: None,
            tracking_number: None,
            note: None,
            shipped_at: at(30),
        }],
    );
    let delivered = with(
        shipped.clone(),
        [OrderEvent::OrderDelivered {
            order_id: ORDER,
            delivered_at: at(90),
        }],
    );
    let cancelled = with(
        pending(),
        [OrderEvent::OrderCancelled {
            order_id: ORDER,
            reason: None,
            cancelled_at: at(5),
        }],
    );
    let cases = [
        (shipped, OrderStatus::Shipped),
        (delivered, OrderStatus::Delivered),
        (cancelled, OrderStatus::Cancelled),
        (with(pending(), [expired()]), OrderStatus::Expired),
    ];
    for (history, status) in cases {
        for actor in [admin(), owner()] {
            assert_eq!(
                cancel(&given(&history), &cancel_by(actor, None)),
                Err(OrderError::WrongState(status))
            );
        }
    }
}

#[test]
fn another_customer_does_not_see_the_order() {
    assert_eq!(
        cancel(&given(&pending()), &cancel_by(stranger(), None)),
        Err(OrderError::NotFound)
    );
    let seller = Actor {
        id: Uuid::from_u128(0x5e11),
        role: Role::Seller,
    };
    assert_eq!(
        cancel(&given(&pending()), &cancel_by(seller, None)),
        Err(OrderError::NotFound)
    );
    assert_eq!(
        cancel(&given(&[]), &cancel_by(admin(), None)),
        Err(OrderError::NotFound)
    );
}

#[test]
fn a_cancellation_reason_is_bounded() {
    let long = "x".repeat(501);
    let Err(OrderError::Invalid(e)) = cancel(&given(&pending()), &cancel_by(owner(), Some(&long)))
    else {
        panic!()
    };
    assert_eq!(e.field, "reason");
}

#[test]
fn expiry_before_the_deadline_does_nothing() {
    assert_eq!(
        expire(&given(&pending()), &Expire { now: at(14) }),
        Ok(vec![])
    );
}

#[test]
fn a_pending_order_expires_at_its_deadline() {
    assert_eq!(
        expire(&given(&pending()), &Expire { now: at(15) }),
        Ok(vec![expired()])
    );
    let late = expire(&given(&pending()), &Expire { now: at(40) }).unwrap();
    assert_eq!(
        late,
        vec![OrderEvent::OrderExpired {
            order_id: ORDER,
            expired_at: at(40)
        }]
    );
    let state = given(&with(pending(), [expired()]));
    assert_eq!(state.status, OrderStatus::Expired);
    assert_eq!(state.expired_at, Some(at(15)));
}

#[test]
fn expiry_of_anything_but_a_pending_order_is_a_no_op() {
    assert_eq!(expire(&given(&paid()), &Expire { now: at(60) }), Ok(vec![]));
    assert_eq!(
        expire(
            &given(&with(pending(), [expired()])),
            &Expire { now: at(60) }
        ),
        Ok(vec![]),
        "twice"
    );
    assert_eq!(
        expire(&given(&[]), &Expire { now: at(60) }),
        Err(OrderError::NotFound)
    );
}

#[test]
fn a_paid_order_ships_with_optional_tracking() {
    let events = ship(&given(&paid()), &ship_cmd(Some(" G4S "), Some(""))).unwrap();
    assert_eq!(
        events,
        vec![OrderEvent::OrderShipped {
            order_id: ORDER,
            carrier: Some("G4S".into()),
            tracking_number: None,
            note: None,
            shipped_at: at(30)
        }]
    );
    let state = given(&with(paid(), events));
    assert_eq!(state.status, OrderStatus::Shipped);
    assert_eq!(state.carrier.as_deref(), Some("G4S"));
    assert_eq!(state.updated_at, Some(at(30)));
}

#[test]
fn only_a_paid_order_ships() {
    assert_eq!(
        ship(&given(&pending()), &ship_cmd(None, None)),
        Err(OrderError::WrongState(OrderStatus::PendingPayment))
    );
    let shipped = with(
        paid(),
        ship(&given(&paid()), &ship_cmd(None, None)).unwrap(),
    );
    assert_eq!(
        ship(&given(&shipped), &ship_cmd(None, None)),
        Err(OrderError::WrongState(OrderStatus::Shipped))
    );
    assert_eq!(
        ship(&given(&[]), &ship_cmd(None, None)),
        Err(OrderError::NotFound)
    );
    let long = "x".repeat(101);
    let Err(OrderError::Invalid(e)) = ship(&given(&paid()), &ship_cmd(None, Some(&long))) else {
        panic!()
    };
    assert_eq!(e.field, "tracking_number");
}

#[test]
fn only_a_shipped_order_is_delivered() {
    assert_eq!(
        deliver(&given(&paid()), &Deliver { now: at(90) }),
        Err(OrderError::WrongState(OrderStatus::Paid))
    );
    assert_eq!(
        deliver(&given(&[]), &Deliver { now: at(90) }),
        Err(OrderError::NotFound)
    );
    let shipped = with(
        paid(),
        ship(&given(&paid()), &ship_cmd(None, None)).unwrap(),
    );
    let events = deliver(&given(&shipped), &Deliver { now: at(90) }).unwrap();
    assert_eq!(
        events,
        vec![OrderEvent::OrderDelivered {
            order_id: ORDER,
            delivered_at: at(90)
        }]
    );
    let state = given(&with(shipped, events));
    assert_eq!(
        (state.status, state.delivered_at),
        (OrderStatus::Delivered, Some(at(90)))
    );
    assert_eq!(
        deliver(&state, &Deliver { now: at(91) }),
        Err(OrderError::WrongState(OrderStatus::Delivered))
    );
}
