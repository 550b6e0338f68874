//! Given order events, when a command, then events or a rejection. Shared fixtures here; the
//! cases by use case in the submodules.

mod effects;
mod outcomes;
mod placing;
mod refunds;
mod requests;
mod transitions;

use chrono::{DateTime, TimeDelta, Utc};
use tillroll_events::{Currency, OrderEvent, order::OrderLine};
use uuid::Uuid;

use super::*;
use crate::domain::Aggregate;
use crate::domain::phone::Msisdn;
use crate::domain::validate::{Actor, Role};

const ORDER: Uuid = Uuid::from_u128(0x0a);
const CUSTOMER: Uuid = Uuid::from_u128(0xc0);
const KETTLE: Uuid = Uuid::from_u128(0x100);
const TOASTER: Uuid = Uuid::from_u128(0x200);
const SELLER: Uuid = Uuid::from_u128(0x5e);
const FIRST: Uuid = Uuid::from_u128(0xa1);
const SECOND: Uuid = Uuid::from_u128(0xa2);
const PHONE: &str = "254712345678";
const RECEIPT: &str = "SKP4XG7T2B";
/// 2 × KES 2,499.00 + 1 × KES 3,000.00.
const TOTAL: i64 = 799_800;

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_764_000_000 + minute * 60, 0).unwrap()
}

fn given(events: &[OrderEvent]) -> Order {
    Order::from_events(events)
}

fn owner() -> Actor {
    Actor {
        id: CUSTOMER,
        role: Role::Customer,
    }
}

fn admin() -> Actor {
    Actor {
        id: Uuid::from_u128(0xad),
        role: Role::Admin,
    }
}

fn stranger() -> Actor {
    Actor {
        id: Uuid::from_u128(0x0bad),
        role: Role::Customer,
    }
}

fn placed() -> OrderEvent {
    OrderEvent::OrderPlaced {
        order_id: ORDER,
        customer_id: CUSTOMER,
        placed_by: CUSTOMER,
        items: vec![
            OrderLine {
                product_id: KETTLE,
                name: "Kettle".into(),
                unit_price: 249_900,
                quantity: 2,
                line_total: 499_800,
                seller_id: Some(SELLER),
            },
            OrderLine {
                product_id: TOASTER,
                name: "Toaster".into(),
                unit_price: 300_000,
                quantity: 1,
                line_total: 300_000,
                seller_id: Some(SELLER),
            },
        ],
        total: TOTAL,
        currency: Currency::kes(),
        phone: PHONE.into(),
        placed_at: at(0),
        expires_at: at(15),
    }
}

fn requested(attempt_id: Uuid, minute: i64) -> OrderEvent {
    OrderEvent::PaymentRequested {
        order_id: ORDER,
        attempt_id,
        phone: PHONE.into(),
        amount: TOTAL,
        requested_at: at(minute),
    }
}

fn accepted(attempt_id: Uuid, checkout: &str) -> OrderEvent {
    OrderEvent::PaymentRequestAccepted {
        order_id: ORDER,
        attempt_id,
        checkout_request_id: checkout.into(),
        merchant_request_id: format!("m-{checkout}"),
    }
}

fn confirmed(attempt_id: Uuid, checkout: &str) -> OrderEvent {
    OrderEvent::PaymentConfirmed {
        order_id: ORDER,
        attempt_id,
        checkout_request_id: checkout.into(),
        mpesa_receipt: RECEIPT.into(),
        amount: TOTAL,
        paid_at: at(3),
    }
}

fn failed(attempt_id: Uuid, checkout: &str, code: &str) -> OrderEvent {
    OrderEvent::PaymentFailed {
        order_id: ORDER,
        attempt_id,
        checkout_request_id: Some(checkout.into()),
        result_code: code.into(),
        reason: format!("result {code}"),
        mpesa_receipt: None,
        amount: None,
    }
}

fn expired() -> OrderEvent {
    OrderEvent::OrderExpired {
        order_id: ORDER,
        expired_at: at(15),
    }
}

/// Placed, first push requested and accepted as `ws_1`.
fn pending() -> Vec<OrderEvent> {
    vec![placed(), requested(FIRST, 0), accepted(FIRST, "ws_1")]
}

fn paid() -> Vec<OrderEvent> {
    [pending(), vec![confirmed(FIRST, "ws_1")]].concat()
}

fn with(history: Vec<OrderEvent>, more: impl IntoIterator<Item = OrderEvent>) -> Vec<OrderEvent> {
    history.into_iter().chain(more).collect()
}

fn confirm(checkout: &str) -> ConfirmPayment {
    ConfirmPayment {
        checkout_request_id: checkout.into(),
        mpesa_receipt: Some(RECEIPT.into()),
        amount: Some(TOTAL),
        paid_at: at(3),
        stock_available_for_late_payment: false,
    }
}

/// Decides, then folds the events in: the next command sees them.
fn when<C>(
    history: &mut Vec<OrderEvent>,
    decide: fn(&Order, &C) -> Result<Vec<OrderEvent>, OrderError>,
    cmd: &C,
) -> Result<Vec<OrderEvent>, OrderError> {
    let events = decide(&given(history), cmd)?;
    history.extend(events.clone());
    Ok(events)
}

fn retry(attempt_id: Uuid, phone: Option<&str>, minute: i64) -> RequestPayment {
    RequestPayment {
        actor: owner(),
        attempt_id,
        phone: phone.map(|p| Msisdn::parse(p).unwrap()),
        now: at(minute),
    }
}

fn fail(checkout: &str, code: &str) -> FailPayment {
    FailPayment {
        checkout_request_id: checkout.into(),
        result_code: code.into(),
        reason: format!("result {code}"),
    }
}
