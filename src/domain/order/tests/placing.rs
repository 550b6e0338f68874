//! Placing an order: pricing, merging, M-Pesa payability.

use super::*;

fn line(product_id: Uuid, unit_price: i64, quantity: i64) -> NewOrderLine {
    let name = if product_id == KETTLE {
        "Kettle"
    } else {
        "Toaster"
    };
    NewOrderLine {
        product_id,
        name: name.into(),
        unit_price,
        quantity,
        seller_id: SELLER,
    }
}

fn place_cmd(lines: Vec<NewOrderLine>) -> PlaceOrder {
    PlaceOrder {
        order_id: ORDER,
        customer_id: CUSTOMER,
        placed_by: CUSTOMER,
        lines,
        currency: Currency::kes(),
        phone: Msisdn::parse("0712 345 678").unwrap(),
        attempt_id: FIRST,
        now: at(0),
        ttl: TimeDelta::minutes(15),
    }
}

#[test]
fn placing_records_the_order_and_requests_the_first_payment() {
    let cmd = place_cmd(vec![line(KETTLE, 249_900, 2), line(TOASTER, 300_000, 1)]);
    assert_eq!(
        place(&given(&[]), &cmd),
        Ok(vec![placed(), requested(FIRST, 0)])
    );
    let state = given(&[placed(), requested(FIRST, 0)]);
    assert_eq!(state.status, OrderStatus::PendingPayment);
    assert_eq!((state.total, state.expires_at), (TOTAL, Some(at(15))));
    assert_eq!(state.payment.status, PaymentStatus::Requested);
    assert_eq!(state.payment.attempts, 1);
}

#[test]
fn lines_of_the_same_product_are_merged() {
    let cmd = place_cmd(vec![
        line(KETTLE, 249_900, 1),
        line(TOASTER, 300_000, 1),
        line(KETTLE, 249_900, 1),
    ]);
    assert_eq!(place(&given(&[]), &cmd).unwrap()[0], placed());
}

#[test]
fn an_empty_order_is_refused() {
    assert_eq!(
        place(&given(&[]), &place_cmd(vec![])),
        Err(OrderError::EmptyOrder)
    );
}

#[test]
fn quantities_are_checked_per_line_and_after_merging() {
    let cmd = place_cmd(vec![line(KETTLE, 100, 600), line(KETTLE, 100, 401)]);
    assert_eq!(
        place(&given(&[]), &cmd),
        Err(OrderError::MergedQuantityTooLarge {
            product_id: KETTLE,
            quantity: 1001
        })
    );
    let cmd = place_cmd(vec![line(KETTLE, 100, 0)]);
    assert_eq!(
        place(&given(&[]), &cmd),
        Err(OrderError::InvalidQuantity {
            product_id: KETTLE,
            quantity: 0
        })
    );
}

#[test]
fn prices_must_be_valid() {
    for price in [0, -100, 1_000_000_000_100] {
        let cmd = place_cmd(vec![line(KETTLE, price, 1)]);
        assert_eq!(
            place(&given(&[]), &cmd),
            Err(OrderError::InvalidPrice { product_id: KETTLE })
        );
    }
}

#[test]
fn an_overflowing_total_is_refused_not_a_panic() {
    let lines = (0..9_300u128).map(|i| NewOrderLine {
        product_id: Uuid::from_u128(i + 1),
        name: "Gold".into(),
        unit_price: 1_000_000_000_000,
        quantity: 1000,
        seller_id: SELLER,
    });
    assert_eq!(
        place(&given(&[]), &place_cmd(lines.collect())),
        Err(OrderError::Overflow)
    );
}

#[test]
fn a_total_with_cents_cannot_be_paid_by_mpesa() {
    let cmd = place_cmd(vec![line(KETTLE, 249_950, 1)]);
    let Err(OrderError::NotPayableByMpesa(why)) = place(&given(&[]), &cmd) else {
        panic!()
    };
    assert!(why.contains("KES 2,499.50"), "{why}");
    let cents_cancel_out = place_cmd(vec![line(KETTLE, 250, 2)]);
    assert!(place(&given(&[]), &cents_cancel_out).is_ok());
}

#[test]
fn only_kes_can_be_paid_by_mpesa() {
    let cmd = PlaceOrder {
        currency: Currency::parse("USD").unwrap(),
        ..place_cmd(vec![line(KETTLE, 100, 1)])
    };
    assert!(matches!(
        place(&given(&[]), &cmd),
        Err(OrderError::NotPayableByMpesa(_))
    ));
}

#[test]
fn placing_twice_conflicts() {
    let cmd = place_cmd(vec![line(KETTLE, 249_900, 2)]);
    assert_eq!(
        place(&given(&pending()), &cmd),
        Err(OrderError::AlreadyExists)
    );
}

#[test]
fn the_state_survives_a_snapshot_round_trip() {
    let state = given(&paid());
    let back: Order = serde_json::from_value(serde_json::to_value(&state).unwrap()).unwrap();
    assert_eq!(back.attempts, state.attempts);
    assert_eq!(back.payment, state.payment);
    assert_eq!(
        (back.status, back.total, back.lines.len()),
        (OrderStatus::Paid, TOTAL, 2)
    );
    assert_eq!(
        serde_json::to_value(OrderStatus::PendingPayment).unwrap(),
        "pending_payment"
    );
    assert_eq!(
        serde_json::to_value(PaymentStatus::NotStarted).unwrap(),
        "not_started"
    );
    assert_eq!(Order::default().payment.status, PaymentStatus::NotStarted);
}
