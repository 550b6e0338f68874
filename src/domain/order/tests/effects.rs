//! The stock each transition implies, decided on real stock state.

use tillroll_events::StockEvent;

use super::*;
use crate::domain::stock::{ReleaseReason, Stock};

fn effects_of(before: &[OrderEvent], events: &[OrderEvent]) -> Vec<(Uuid, i64, StockEffectKind)> {
    stock_effects(&given(before), events)
        .into_iter()
        .inspect(|e| assert_eq!(e.order_id, ORDER))
        .map(|e| (e.product_id, e.quantity, e.kind))
        .collect()
}

fn per_line(kind: StockEffectKind) -> Vec<(Uuid, i64, StockEffectKind)> {
    vec![(KETTLE, 2, kind), (TOASTER, 1, kind)]
}

fn cancelled() -> OrderEvent {
    OrderEvent::OrderCancelled {
        order_id: ORDER,
        reason: None,
        cancelled_at: at(5),
    }
}

#[test]
fn placing_reserves_every_line() {
    assert_eq!(
        effects_of(&[], &[placed(), requested(FIRST, 0)]),
        per_line(StockEffectKind::Reserve)
    );
}

#[test]
fn paying_sells_the_reservation() {
    assert_eq!(
        effects_of(&pending(), &[confirmed(FIRST, "ws_1")]),
        per_line(StockEffectKind::Sell)
    );
}

#[test]
fn paying_after_expiry_reserves_and_sells() {
    let before = with(pending(), [expired()]);
    assert_eq!(
        effects_of(&before, &[confirmed(FIRST, "ws_1")]),
        per_line(StockEffectKind::ReserveAndSell)
    );
}

#[test]
fn cancelling_or_expiring_before_payment_releases() {
    let released = |r| per_line(StockEffectKind::Release(r));
    assert_eq!(
        effects_of(&pending(), &[cancelled()]),
        released(ReleaseReason::Cancelled)
    );
    assert_eq!(
        effects_of(&pending(), &[expired()]),
        released(ReleaseReason::Expired)
    );
}

#[test]
fn cancelling_after_payment_restocks() {
    let refund = OrderEvent::RefundFlagged {
        order_id: ORDER,
        reason: "r".into(),
    };
    assert_eq!(
        effects_of(&paid(), &[cancelled(), refund]),
        per_line(StockEffectKind::Restock)
    );
}

#[test]
fn payment_events_that_settle_nothing_move_no_stock() {
    let refused = confirm_payment(&given(&with(pending(), [expired()])), &confirm("ws_1")).unwrap();
    assert_eq!(effects_of(&with(pending(), [expired()]), &refused), vec![]);
    let second = vec![requested(SECOND, 1), accepted(SECOND, "ws_2")];
    let mismatch = OrderEvent::PaymentAmountMismatch {
        order_id: ORDER,
        attempt_id: FIRST,
        checkout_request_id: "ws_1".into(),
        mpesa_receipt: RECEIPT.into(),
        amount: 1,
        expected: TOTAL,
    };
    let shipped = OrderEvent::OrderShipped {
        order_id: ORDER,
        carrier: None,
        tracking_number: None,
        note: None,
        shipped_at: at(9),
    };
    let delivered = OrderEvent::OrderDelivered {
        order_id: ORDER,
        delivered_at: at(20),
    };
    assert_eq!(effects_of(&pending(), &second), vec![]);
    assert_eq!(
        effects_of(&pending(), &[failed(FIRST, "ws_1", "1032"), mismatch]),
        vec![],
        "failures hold the reservation"
    );
    assert_eq!(effects_of(&paid(), &[shipped.clone(), delivered]), vec![]);
    assert_eq!(
        effects_of(&with(pending(), [cancelled()]), &[expired()]),
        vec![],
        "not pending any more"
    );
}

#[test]
fn effects_follow_the_status_within_one_batch() {
    let batch = [
        placed(),
        requested(FIRST, 0),
        accepted(FIRST, "ws_1"),
        confirmed(FIRST, "ws_1"),
    ];
    let kinds: Vec<_> = effects_of(&[], &batch)
        .into_iter()
        .map(|(_, _, k)| k)
        .collect();
    assert_eq!(
        kinds,
        [[StockEffectKind::Reserve; 2], [StockEffectKind::Sell; 2]].concat()
    );
}

/// Checkout, then a callback: the stock the handler appends along with the order's events.
#[test]
fn effects_decide_on_the_stock() {
    let level = StockEvent::StockLevelSet {
        product_id: KETTLE,
        on_hand: 3,
    };
    let mut stock = Stock::from_events(&[level]);
    let mut order = Vec::new();
    let place_cmd = PlaceOrder {
        order_id: ORDER,
        customer_id: CUSTOMER,
        placed_by: CUSTOMER,
        lines: vec![NewOrderLine {
            product_id: KETTLE,
            name: "Kettle".into(),
            unit_price: 249_900,
            quantity: 2,
            seller_id: SELLER,
        }],
        currency: Currency::kes(),
        phone: Msisdn::parse(PHONE).unwrap(),
        attempt_id: FIRST,
        now: at(0),
        ttl: TimeDelta::minutes(15),
    };
    let step = |order: &mut Vec<OrderEvent>, events: Vec<OrderEvent>, stock: &mut Stock| {
        for effect in stock_effects(&given(order), &events) {
            for e in effect.decide(stock).unwrap() {
                stock.evolve(&e);
            }
        }
        order.extend(events);
    };
    let placed = place(&given(&order), &place_cmd).unwrap();
    step(&mut order, placed, &mut stock);
    assert_eq!((stock.on_hand, stock.reserved), (3, 2));
    order.push(accepted(FIRST, "ws_1"));
    let cmd = ConfirmPayment {
        amount: Some(499_800),
        ..confirm("ws_1")
    };
    let paid = confirm_payment(&given(&order), &cmd).unwrap();
    step(&mut order, paid, &mut stock);
    assert_eq!((stock.on_hand, stock.reserved), (1, 0));
    let cancel_cmd = Cancel {
        actor: admin(),
        reason: None,
        now: at(5),
    };
    let cancelled = cancel(&given(&order), &cancel_cmd).unwrap();
    step(&mut order, cancelled, &mut stock);
    assert_eq!((stock.on_hand, stock.reserved), (3, 0), "restocked");
}

#[test]
fn a_short_line_names_itself() {
    let effect = StockEffect {
        product_id: KETTLE,
        order_id: ORDER,
        quantity: 5,
        kind: StockEffectKind::Reserve,
    };
    let stock = Stock::from_events(&[StockEvent::StockLevelSet {
        product_id: KETTLE,
        on_hand: 3,
    }]);
    assert_eq!(
        effect.decide(&stock),
        Err(crate::domain::stock::StockError::Insufficient {
            product_id: KETTLE,
            requested: 5,
            available: 3
        })
    );
    let late = StockEffect {
        kind: StockEffectKind::ReserveAndSell,
        ..effect
    };
    assert!(
        late.decide(&stock).is_err(),
        "the handler asks this before confirming a late payment"
    );
}
