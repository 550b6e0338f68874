//! The orders projector: the order row and its tracking history through each path an order
//! can take.

use chrono::{DateTime, Duration, Utc};
use tillroll_events::order::OrderLine;
use tillroll_events::{Currency, OrderEvent, StreamId};
use tillroll_projections::orders::OrdersProjector;
use uuid::Uuid;

use crate::common::{TestDb, t0};

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Order {
    id: Uuid,
    customer_id: Uuid,
    status: String,
    items: serde_json::Value,
    total: i64,
    currency: String,
    phone: String,
    payment_status: String,
    payment_attempts: i32,
    checkout_request_id: Option<String>,
    mpesa_receipt: Option<String>,
    paid_amount: Option<i64>,
    paid_at: Option<DateTime<Utc>>,
    failure_reason: Option<String>,
    refund_due: bool,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

async fn order(db: &TestDb, id: Uuid) -> Order {
    sqlx::query_as("SELECT * FROM orders WHERE id = $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
        .expect("order row")
}

/// `(seq, status, at, note)` in order.
type Step = (i32, String, DateTime<Utc>, Option<String>);

async fn history(db: &TestDb, id: Uuid) -> Vec<Step> {
    sqlx::query_as(
        "SELECT seq, status, at, note FROM order_tracking WHERE order_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await
    .expect("history")
}

fn step(seq: i32, status: &str, at: DateTime<Utc>, note: Option<&str>) -> Step {
    (seq, status.into(), at, note.map(Into::into))
}

pub fn lines() -> Vec<OrderLine> {
    vec![
        OrderLine {
            product_id: Uuid::from_u128(1),
            name: "Kettle".into(),
            unit_price: 250_000,
            quantity: 2,
            line_total: 500_000,
            seller_id: None,
        },
        OrderLine {
            product_id: Uuid::from_u128(2),
            name: "Cup".into(),
            unit_price: 30_000,
            quantity: 1,
            line_total: 30_000,
            seller_id: None,
        },
    ]
}

pub fn placed(order_id: Uuid, customer_id: Uuid) -> OrderEvent {
    OrderEvent::OrderPlaced {
        order_id,
        customer_id,
        placed_by: customer_id,
        items: lines(),
        total: 530_000,
        currency: Currency::kes(),
        phone: "254712345678".into(),
        placed_at: t0(),
        expires_at: t0() + Duration::minutes(15),
    }
}

pub fn requested(order_id: Uuid, attempt_id: Uuid) -> OrderEvent {
    OrderEvent::PaymentRequested {
        order_id,
        attempt_id,
        phone: "254712345678".into(),
        amount: 530_000,
        requested_at: t0(),
    }
}

pub fn accepted(order_id: Uuid, attempt_id: Uuid, checkout: &str) -> OrderEvent {
    OrderEvent::PaymentRequestAccepted {
        order_id,
        attempt_id,
        checkout_request_id: checkout.into(),
        merchant_request_id: "29115-34620561-1".into(),
    }
}

pub fn failed(order_id: Uuid, attempt_id: Uuid, checkout: Option<&str>) -> OrderEvent {
    OrderEvent::PaymentFailed {
        order_id,
        attempt_id,
        checkout_request_id: checkout.map(Into::into),
        result_code: "1032".into(),
        reason: "Request cancelled by user".into(),
        mpesa_receipt: None,
        amount: None,
    }
}

pub fn confirmed(order_id: Uuid, attempt_id: Uuid, checkout: &str) -> OrderEvent {
    OrderEvent::PaymentConfirmed {
        order_id,
        attempt_id,
        checkout_request_id: checkout.into(),
        mpesa_receipt: "NLJ7RT61SV".into(),
        amount: 530_000,
        paid_at: t0() + Duration::minutes(3),
    }
}

#[tokio::test]
async fn the_full_order_lifecycle_produces_its_tracking_history() {
    let mut db = TestDb::new().await;
    let p = OrdersProjector;
    let (id, customer) = (Uuid::new_v4(), Uuid::new_v4());
    let stream = StreamId::order(id);
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());

    db.append(&stream, placed(id, customer)).await;
    // An order's creation is its own time, as the command answered it.
    let placed_at = t0();
    db.project(&p, 1).await;
    let mut expected = Order {
        id,
        customer_id: customer,
        status: "pending_payment".into(),
        items: serde_json::to_value(lines()).unwrap(),
        total: 530_000,
        currency: "KES".into(),
        phone: "254712345678".into(),
        payment_status: "not_started".into(),
        payment_attempts: 0,
        checkout_request_id: None,
        mpesa_receipt: None,
        paid_amount: None,
        paid_at: None,
        failure_reason: None,
        refund_due: false,
        expires_at: t0() + Duration::minutes(15),
        created_at: placed_at,
        updated_at: placed_at,
    };
    assert_eq!(order(&db, id).await, expected);
    assert_eq!(
        history(&db, id).await,
        vec![step(1, "pending_payment", placed_at, Some("order placed"))]
    );

    let at = db.append(&stream, requested(id, first)).await;
    db.project(&p, 1).await;
    expected.payment_status = "requested".into();
    expected.payment_attempts = 1;
    expected.updated_at = at;
    assert_eq!(order(&db, id).await, expected);

    let at = db.append(&stream, accepted(id, first, "ws_CO_1")).await;
    db.project(&p, 1).await;
    expected.checkout_request_id = Some("ws_CO_1".into());
    expected.updated_at = at;
    assert_eq!(order(&db, id).await, expected);

    let failed_at = db.append(&stream, failed(id, first, Some("ws_CO_1"))).await;
    db.project(&p, 1).await;
    expected.payment_status = "failed".into();
    expected.failure_reason = Some("Request cancelled by user".into());
    expected.updated_at = failed_at;
    assert_eq!(order(&db, id).await, expected);

    // A retry starts afresh: no checkout request and no failure yet.
    let at = db.append(&stream, requested(id, second)).await;
    db.project(&p, 1).await;
    expected.payment_status = "requested".into();
    expected.payment_attempts = 2;
    expected.checkout_request_id = None;
    expected.failure_reason = None;
    expected.updated_at = at;
    assert_eq!(order(&db, id).await, expected);

    db.append(&stream, accepted(id, second, "ws_CO_2")).await;
    let paid_at = db.append(&stream, confirmed(id, second, "ws_CO_2")).await;
    db.project(&p, 1).await;
    expected.status = "paid".into();
    expected.payment_status = "succeeded".into();
    expected.checkout_request_id = Some("ws_CO_2".into());
    expected.mpesa_receipt = Some("NLJ7RT61SV".into());
    expected.paid_amount = Some(530_000);
    expected.paid_at = Some(t0() + Duration::minutes(3));
    expected.updated_at = paid_at;
    assert_eq!(order(&db, id).await, expected);

    let shipped_at = db
        .append(
            &stream,
            OrderEvent::OrderShipped {
                order_id: id,
                carrier: Some("G4S".into()),
                tracking_number: Some("KE123".into()),
                note: None,
                shipped_at: t0(),
            },
        )
        .await;
    let delivered_at = db
        .append(
            &stream,
            OrderEvent::OrderDelivered {
                order_id: id,
                delivered_at: t0(),
            },
        )
        .await;
    db.project(&p, 1).await;
    expected.status = "delivered".into();
    expected.updated_at = delivered_at;
    assert_eq!(order(&db, id).await, expected);
    assert_eq!(
        history(&db, id).await,
        vec![
            step(1, "pending_payment", placed_at, Some("order placed")),
            step(
                2,
                "pending_payment",
                failed_at,
                Some("payment failed: Request cancelled by user (result code 1032)")
            ),
            step(3, "paid", paid_at, Some("M-Pesa receipt NLJ7RT61SV")),
            step(4, "shipped", shipped_at, Some("G4S, tracking number KE123")),
            step(5, "delivered", delivered_at, None),
        ]
    );
}

#[tokio::test]
async fn cancellation_expiry_mismatch_and_refunds() {
    let mut db = TestDb::new().await;
    let p = OrdersProjector;
    let customer = Uuid::new_v4();
    let [cancelled, expired, refunded, mismatched] = std::array::from_fn(|_| Uuid::new_v4());
    for id in [cancelled, expired, refunded, mismatched] {
        db.append(&StreamId::order(id), placed(id, customer)).await;
    }
    let placed_at: Vec<_> =
        project_and_created_at(&mut db, &p, &[cancelled, expired, refunded, mismatched]).await;

    // Cancelled before payment, with a reason.
    let at = db
        .append(
            &StreamId::order(cancelled),
            OrderEvent::OrderCancelled {
                order_id: cancelled,
                reason: Some("changed my mind".into()),
                cancelled_at: t0(),
            },
        )
        .await;
    // Expired, then paid late; the domain flags the refund.
    let attempt = Uuid::new_v4();
    let stream = StreamId::order(expired);
    db.append(&stream, requested(expired, attempt)).await;
    let expired_at = db
        .append(
            &stream,
            OrderEvent::OrderExpired {
                order_id: expired,
                expired_at: t0(),
            },
        )
        .await;
    let late_at = db
        .append(&stream, confirmed(expired, attempt, "ws_CO_9"))
        .await;
    let flagged_at = db
        .append(
            &stream,
            OrderEvent::RefundFlagged {
                order_id: expired,
                reason: "paid after expiry, out of stock".into(),
            },
        )
        .await;
    // Paid, then cancelled by an admin: refund due.
    let stream = StreamId::order(refunded);
    db.append(&stream, requested(refunded, attempt)).await;
    db.append(&stream, confirmed(refunded, attempt, "ws_CO_7"))
        .await;
    let admin_cancel = db
        .append(
            &stream,
            OrderEvent::OrderCancelled {
                order_id: refunded,
                reason: None,
                cancelled_at: t0(),
            },
        )
        .await;
    db.append(
        &stream,
        OrderEvent::RefundFlagged {
            order_id: refunded,
            reason: "cancelled after payment".into(),
        },
    )
    .await;
    // Paid the wrong amount: recorded, not accepted.
    let stream = StreamId::order(mismatched);
    db.append(&stream, requested(mismatched, attempt)).await;
    let mismatch_at = db
        .append(
            &stream,
            OrderEvent::PaymentAmountMismatch {
                order_id: mismatched,
                attempt_id: attempt,
                checkout_request_id: "ws_CO_5".into(),
                mpesa_receipt: "QWE123".into(),
                amount: 500,
                expected: 530_000,
            },
        )
        .await;
    db.project(&p, 3).await;

    let row = order(&db, cancelled).await;
    assert_eq!((row.status.as_str(), row.refund_due), ("cancelled", false));
    assert_eq!(
        history(&db, cancelled).await,
        vec![
            step(1, "pending_payment", placed_at[0], Some("order placed")),
            step(2, "cancelled", at, Some("changed my mind")),
        ]
    );

    let row = order(&db, expired).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.payment_status.as_str(),
            row.refund_due
        ),
        ("paid", "succeeded", true)
    );
    assert_eq!(row.mpesa_receipt.as_deref(), Some("NLJ7RT61SV"));
    assert_eq!(row.updated_at, flagged_at);
    assert_eq!(
        history(&db, expired).await,
        vec![
            step(1, "pending_payment", placed_at[1], Some("order placed")),
            step(2, "expired", expired_at, Some("not paid in time")),
            step(3, "paid", late_at, Some("M-Pesa receipt NLJ7RT61SV")),
            step(
                4,
                "paid",
                flagged_at,
                Some("refund due: paid after expiry, out of stock")
            ),
        ]
    );

    let row = order(&db, refunded).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.payment_status.as_str(),
            row.refund_due
        ),
        ("cancelled", "succeeded", true)
    );
    let steps = history(&db, refunded).await;
    assert_eq!(
        steps.iter().map(|s| s.1.as_str()).collect::<Vec<_>>(),
        ["pending_payment", "paid", "cancelled", "cancelled"]
    );
    assert_eq!(steps[2], step(3, "cancelled", admin_cancel, None));
    assert_eq!(
        steps[3].3.as_deref(),
        Some("refund due: cancelled after payment")
    );

    let row = order(&db, mismatched).await;
    assert_eq!(
        (row.status.as_str(), row.payment_status.as_str()),
        ("pending_payment", "failed")
    );
    assert_eq!(
        row.failure_reason.as_deref(),
        Some("amount mismatch: paid 500, expected 530000")
    );
    assert_eq!(row.checkout_request_id.as_deref(), Some("ws_CO_5"));
    assert_eq!((row.mpesa_receipt, row.paid_amount), (None, None));
    assert_eq!(
        history(&db, mismatched).await[1],
        step(
            2,
            "pending_payment",
            mismatch_at,
            Some("amount mismatch: paid 500, expected 530000 (M-Pesa receipt QWE123)")
        )
    );
}

/// Projects and returns the `created_at` of each order.
async fn project_and_created_at(
    db: &mut TestDb,
    p: &OrdersProjector,
    ids: &[Uuid],
) -> Vec<DateTime<Utc>> {
    db.project(p, 1).await;
    let mut times = Vec::new();
    for &id in ids {
        times.push(order(db, id).await.created_at);
    }
    times
}

#[tokio::test]
async fn a_late_failure_of_an_earlier_attempt_leaves_the_current_one() {
    let mut db = TestDb::new().await;
    let p = OrdersProjector;
    let id = Uuid::new_v4();
    let stream = StreamId::order(id);
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    db.append(&stream, placed(id, Uuid::new_v4())).await;
    db.append(&stream, requested(id, first)).await;
    db.append(&stream, accepted(id, first, "ws_CO_1")).await;
    db.append(&stream, requested(id, second)).await;
    db.append(&stream, accepted(id, second, "ws_CO_2")).await;
    // The first push times out after the retry was sent, and its acceptance comes late.
    let late = db.append(&stream, failed(id, first, Some("ws_CO_1"))).await;
    db.append(&stream, accepted(id, first, "ws_CO_1")).await;
    db.project(&p, 2).await;
    let row = order(&db, id).await;
    assert_eq!(
        (
            row.payment_status.as_str(),
            row.payment_attempts,
            row.checkout_request_id.as_deref(),
            row.failure_reason.as_deref()
        ),
        ("requested", 2, Some("ws_CO_2"), None)
    );
    // The attempt is still in the history.
    assert_eq!(history(&db, id).await[1].2, late);

    // The current attempt's failure counts, even without a checkout request id.
    db.append(&stream, failed(id, second, None)).await;
    db.project(&p, 2).await;
    let row = order(&db, id).await;
    assert_eq!(
        (
            row.payment_status.as_str(),
            row.checkout_request_id.as_deref()
        ),
        ("failed", Some("ws_CO_2"))
    );

    // A success is final: a failure arriving after it changes no payment field.
    db.append(&stream, confirmed(id, second, "ws_CO_2")).await;
    db.append(&stream, failed(id, second, Some("ws_CO_2")))
        .await;
    db.project(&p, 2).await;
    let row = order(&db, id).await;
    assert_eq!(
        (
            row.status.as_str(),
            row.payment_status.as_str(),
            row.failure_reason
        ),
        ("paid", "succeeded", None)
    );
    assert_eq!(history(&db, id).await.len(), 5);
}

/// An order is placed once; an `OrderPlaced` coming again (in the same batch or a later one)
/// must not reset it (its payment state, its history).
#[tokio::test]
async fn a_second_order_placed_for_the_same_order_changes_nothing() {
    let mut db = TestDb::new().await;
    let p = OrdersProjector;
    let (id, customer) = (Uuid::new_v4(), Uuid::new_v4());
    let stream = StreamId::order(id);
    db.append(&stream, placed(id, customer)).await;
    db.append(&stream, requested(id, Uuid::new_v4())).await;
    db.append(&stream, placed(id, Uuid::new_v4())).await;
    db.project(&p, 10).await;
    let once = order(&db, id).await;
    assert_eq!(once.customer_id, customer);
    assert_eq!(once.payment_status, "requested");
    assert_eq!(once.payment_attempts, 1);

    db.append(&stream, placed(id, Uuid::new_v4())).await;
    db.project(&p, 10).await;
    assert_eq!(order(&db, id).await, once);
    assert_eq!(history(&db, id).await.len(), 1);
}
