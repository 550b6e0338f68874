//! The orders read model, serving `order` (GET /orders, GET /orders/{id}) and the tracking
//! history (GET /orders/{id}/tracking): `orders` and `order_tracking`.
//!
//! Tracking: every status change appends a row (`seq` = next per order, `at` = the event's
//! `recorded_at`, `note` = what the customer wants to know: the receipt, the cancellation
//! reason, the carrier). Some events that leave the status alone append a row too, with the
//! order's current status, so the history tells the whole payment story: each failed attempt
//! (`payment failed: …`), a payment of the wrong amount (`amount mismatch: …`) and a refund
//! flag (`refund due: …`). Requests and Daraja's acceptance of a push are not in the history;
//! the order's `payment` fields show them.
//!
//! Payment attempts: `payment_attempt_id` is the attempt of the last `PaymentRequested`. A
//! late failure (or wrong amount) of an earlier attempt is still appended to the history but
//! does not overwrite the payment status of the attempt in flight, nor a success. A
//! confirmation always applies, whichever attempt it belongs to: the money was received.
//!
//! `PaymentConfirmed` makes the order `paid` whatever its status (a late payment after
//! expiry included); when the domain cannot honour it, a `RefundFlagged` (and possibly a
//! cancellation) follows and sets `refund_due`.
//!
//! `AccountClosed` sets the phone of the person's orders to `[erased]`.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use tillroll_events::audit::ERASED;
use tillroll_events::{CustomerEvent, DomainEvent, OrderEvent, RecordedEvent};
use uuid::Uuid;

use crate::batch::{Rows, distinct};
use crate::{ProjectionError, Projector, decode};

pub struct OrdersProjector;

#[async_trait]
impl Projector for OrdersProjector {
    fn name(&self) -> &'static str {
        "orders"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["orders", "order_tracking"]
    }

    fn handles(&self, event_type: &str) -> bool {
        OrderEvent::event_types().contains(&event_type) || event_type == "AccountClosed"
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let mut changes = Vec::new();
        for event in events {
            if let Some(order) = decode::<OrderEvent>(event) {
                changes.push(Change::Order(order?, event.recorded_at));
            } else if event.event_type == "AccountClosed"
                && let Some(closed) = decode::<CustomerEvent>(event)
            {
                changes.push(Change::Closed(closed?.customer_id()));
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let ids = distinct(changes.iter().filter_map(|c| match c {
            Change::Order(event, _) => Some(event.order_id()),
            Change::Closed(_) => None,
        }));
        let mut batch = Batch {
            orders: Rows::loaded(ids.iter().copied(), load(conn, &ids).await?),
            last_seq: last_seqs(conn, &ids).await?,
            tracking: Vec::new(),
        };
        for change in changes {
            match change {
                Change::Order(event, at) => batch.apply(event, at),
                Change::Closed(customer_id) => {
                    erase_phone(conn, customer_id).await?;
                    batch
                        .orders
                        .values_mut()
                        .filter(|o| o.customer_id == customer_id)
                        .for_each(|o| o.phone = ERASED.to_owned());
                }
            }
        }
        batch.write(conn).await?;
        Ok(())
    }
}

enum Change {
    Order(OrderEvent, DateTime<Utc>),
    /// An account closed: its orders' phone reads as erased.
    Closed(Uuid),
}

/// The person's orders keep amounts and items; their phone reads as erased, as the order
/// events' own phone does once the store has shredded the person's key (so a rebuild agrees).
async fn erase_phone(conn: &mut PgConnection, customer_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE orders SET phone = $2 WHERE customer_id = $1")
        .bind(customer_id)
        .bind(ERASED)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Order {
    id: Uuid,
    customer_id: Uuid,
    status: String,
    items: Json<serde_json::Value>,
    total: i64,
    currency: String,
    phone: String,
    payment_status: String,
    payment_attempts: i32,
    payment_attempt_id: Option<Uuid>,
    checkout_request_id: Option<String>,
    mpesa_receipt: Option<String>,
    paid_amount: Option<i64>,
    paid_at: Option<DateTime<Utc>>,
    failure_reason: Option<String>,
    refund_due: bool,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    placed_by: Uuid,
    refunded_amount: i64,
    /// API.md's `order.shipment`, as the view shows it.
    shipment: Option<Json<serde_json::Value>>,
}

impl Order {
    /// The outcome of `attempt_id` applies to the payment fields: it is the attempt in flight
    /// (or no attempt was recorded) and no attempt has succeeded.
    fn is_current_attempt(&self, attempt_id: Uuid) -> bool {
        self.payment_status != "succeeded"
            && self.payment_attempt_id.is_none_or(|a| a == attempt_id)
    }
}

const COLUMNS: &str = "id, customer_id, status, items, total, currency, phone, payment_status, \
    payment_attempts, payment_attempt_id, checkout_request_id, mpesa_receipt, paid_amount, \
    paid_at, failure_reason, refund_due, expires_at, created_at, updated_at, placed_by, \
    refunded_amount, shipment";

async fn load(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<(Uuid, Order)>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM orders WHERE id = ANY($1)");
    let rows: Vec<Order> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ids)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|o| (o.id, o)).collect())
}

/// The last history row of each order.
async fn last_seqs(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, i32>, sqlx::Error> {
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT order_id, max(seq) FROM order_tracking WHERE order_id = ANY($1) \
         GROUP BY order_id",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

struct Tracking {
    order_id: Uuid,
    seq: i32,
    status: String,
    at: DateTime<Utc>,
    note: Option<String>,
}

struct Batch {
    orders: Rows<Uuid, Order>,
    last_seq: HashMap<Uuid, i32>,
    tracking: Vec<Tracking>,
}

impl Batch {
    fn apply(&mut self, event: OrderEvent, at: DateTime<Utc>) {
        if let OrderEvent::OrderPlaced {
            order_id,
            customer_id,
            placed_by,
            items,
            total,
            currency,
            phone,
            placed_at,
            expires_at,
        } = event
        {
            let order = Order {
                id: order_id,
                customer_id,
                status: "pending_payment".into(),
                items: Json(serde_json::to_value(&items).expect("order lines serialise")),
                total,
                currency: currency.as_str().to_owned(),
                phone,
                payment_status: "not_started".into(),
                payment_attempts: 0,
                payment_attempt_id: None,
                checkout_request_id: None,
                mpesa_receipt: None,
                paid_amount: None,
                paid_at: None,
                failure_reason: None,
                refund_due: false,
                expires_at,
                // The order's own time, as its command answered it (the same instant).
                created_at: placed_at,
                updated_at: placed_at,
                placed_by,
                refunded_amount: 0,
                shipment: None,
            };
            // An order is placed once (its stream is created by it); should the event ever
            // come again, the order it would reset stays as it is.
            if self.orders.get_mut(&order_id).is_some() {
                tracing::warn!(%order_id, "OrderPlaced for an order already placed; ignored");
                return;
            }
            self.orders.put(order_id, order);
            return self.track(order_id, placed_at, Some("order placed".into()));
        }
        let order_id = event.order_id();
        let Some(o) = self.orders.get_mut(&order_id) else {
            return;
        };
        let note = match event {
            OrderEvent::OrderPlaced { .. } => return,
            OrderEvent::PaymentRequested { attempt_id, .. } => {
                if o.payment_status != "succeeded" {
                    o.payment_status = "requested".into();
                    o.payment_attempts += 1;
                    o.payment_attempt_id = Some(attempt_id);
                    o.checkout_request_id = None;
                    o.failure_reason = None;
                    o.updated_at = at;
                }
                return;
            }
            OrderEvent::PaymentRequestAccepted {
                attempt_id,
                checkout_request_id,
                ..
            } => {
                if o.is_current_attempt(attempt_id) {
                    o.checkout_request_id = Some(checkout_request_id);
                    o.updated_at = at;
                }
                return;
            }
            OrderEvent::PaymentFailed {
                checkout_request_id,
                result_code,
                reason,
                mpesa_receipt: Some(receipt),
                amount,
                ..
            } => {
                // Money that arrived but could not pay the order: received, with its receipt.
                let note = format!("payment failed: {reason} (result code {result_code})");
                if o.payment_status != "succeeded" {
                    o.payment_status = "succeeded".into();
                    o.checkout_request_id = checkout_request_id.or(o.checkout_request_id.take());
                    o.mpesa_receipt = Some(receipt);
                    o.paid_amount = amount;
                    o.failure_reason = None;
                }
                o.updated_at = at;
                Some(note)
            }
            OrderEvent::PaymentFailed {
                attempt_id,
                checkout_request_id,
                result_code,
                reason,
                ..
            } => {
                let note = format!("payment failed: {reason} (result code {result_code})");
                payment_not_accepted(o, attempt_id, checkout_request_id, reason, at);
                Some(note)
            }
            OrderEvent::PaymentAmountMismatch {
                attempt_id,
                checkout_request_id,
                mpesa_receipt,
                amount,
                expected,
                ..
            } => {
                let reason = format!("amount mismatch: paid {amount}, expected {expected}");
                let note = format!("{reason} (M-Pesa receipt {mpesa_receipt})");
                payment_not_accepted(o, attempt_id, Some(checkout_request_id), reason, at);
                Some(note)
            }
            OrderEvent::PaymentConfirmed {
                checkout_request_id,
                mpesa_receipt,
                amount,
                paid_at,
                ..
            } => {
                let note = format!("M-Pesa receipt {mpesa_receipt}");
                o.status = "paid".into();
                o.payment_status = "succeeded".into();
                o.checkout_request_id = Some(checkout_request_id);
                o.mpesa_receipt = Some(mpesa_receipt);
                o.paid_amount = Some(amount);
                o.paid_at = Some(paid_at);
                o.failure_reason = None;
                o.updated_at = at;
                Some(note)
            }
            OrderEvent::RefundFlagged { reason, .. } => {
                o.refund_due = true;
                o.updated_at = at;
                Some(format!("refund due: {reason}"))
            }
            OrderEvent::OrderCancelled { reason, .. } => {
                set_status(o, "cancelled", at);
                reason
            }
            OrderEvent::OrderExpired { .. } => {
                set_status(o, "expired", at);
                Some("not paid in time".to_owned())
            }
            OrderEvent::OrderShipped {
                carrier,
                tracking_number,
                note,
                shipped_at,
                ..
            } => {
                set_status(o, "shipped", at);
                o.shipment = Some(Json(serde_json::json!({
                    "carrier": carrier, "tracking_number": tracking_number,
                    "shipped_at": shipped_at, "delivered_at": null,
                })));
                let shipment = match (carrier, tracking_number) {
                    (Some(carrier), Some(number)) => {
                        Some(format!("{carrier}, tracking number {number}"))
                    }
                    (Some(carrier), None) => Some(carrier),
                    (None, Some(number)) => Some(format!("tracking number {number}")),
                    (None, None) => None,
                };
                match (shipment, note) {
                    (Some(shipment), Some(note)) => Some(format!("{shipment}: {note}")),
                    (shipment, note) => shipment.or(note),
                }
            }
            OrderEvent::OrderDelivered { delivered_at, .. } => {
                set_status(o, "delivered", at);
                if let Some(Json(serde_json::Value::Object(shipment))) = o.shipment.as_mut() {
                    shipment.insert("delivered_at".into(), serde_json::json!(delivered_at));
                }
                None
            }
            OrderEvent::RefundRequested { amount, reason, .. } => {
                o.updated_at = at;
                Some(format!("refund of {amount} requested: {reason}"))
            }
            OrderEvent::RefundCompleted {
                amount,
                mpesa_receipt,
                ..
            } => {
                o.refunded_amount += amount;
                o.updated_at = at;
                Some(format!(
                    "refund of {amount} paid (M-Pesa receipt {mpesa_receipt})"
                ))
            }
            OrderEvent::RefundFailed { reason, .. } => {
                o.updated_at = at;
                Some(format!("refund failed: {reason}"))
            }
            OrderEvent::OrderRefunded { .. } => {
                set_status(o, "refunded", at);
                o.refund_due = false;
                Some("everything paid was refunded".to_owned())
            }
        };
        self.track(order_id, at, note);
    }

    /// Appends a history row with the order's status as it now is (none for an unknown
    /// order).
    fn track(&mut self, order_id: Uuid, at: DateTime<Utc>, note: Option<String>) {
        let Some(order) = self.orders.get_mut(&order_id) else {
            return;
        };
        let status = order.status.clone();
        let seq = self.last_seq.entry(order_id).or_insert(0);
        *seq += 1;
        self.tracking.push(Tracking {
            order_id,
            seq: *seq,
            status,
            at,
            note,
        });
    }

    async fn write(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let (orders, _) = self.orders.into_changes();
        write_orders(conn, orders).await?;
        write_tracking(conn, self.tracking).await
    }
}

/// A failed or wrong-amount outcome of `attempt_id`: recorded on the order if it is the
/// attempt in flight.
fn payment_not_accepted(
    o: &mut Order,
    attempt_id: Uuid,
    checkout_request_id: Option<String>,
    reason: String,
    at: DateTime<Utc>,
) {
    if o.is_current_attempt(attempt_id) {
        o.payment_status = "failed".into();
        o.failure_reason = Some(reason);
        o.checkout_request_id = checkout_request_id.or(o.checkout_request_id.take());
    }
    o.updated_at = at;
}

fn set_status(o: &mut Order, status: &str, at: DateTime<Utc>) {
    o.status = status.to_owned();
    o.updated_at = at;
}

async fn write_orders(
    conn: &mut PgConnection,
    rows: Vec<(Uuid, Order)>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut c = OrderColumns::default();
    for (_, order) in rows {
        c.push(order);
    }
    let sql = format!(
        "INSERT INTO orders ({COLUMNS}) \
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[], $5::int8[], \
             $6::text[], $7::text[], $8::text[], $9::int4[], $10::uuid[], $11::text[], \
             $12::text[], $13::int8[], $14::timestamptz[], $15::text[], $16::bool[], \
             $17::timestamptz[], $18::timestamptz[], $19::timestamptz[], $20::uuid[], \
             $21::int8[], $22::jsonb[]) \
         ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, \
             status = excluded.status, items = excluded.items, total = excluded.total, \
             currency = excluded.currency, phone = excluded.phone, \
             payment_status = excluded.payment_status, \
             payment_attempts = excluded.payment_attempts, \
             payment_attempt_id = excluded.payment_attempt_id, \
             checkout_request_id = excluded.checkout_request_id, \
             mpesa_receipt = excluded.mpesa_receipt, paid_amount = excluded.paid_amount, \
             paid_at = excluded.paid_at, failure_reason = excluded.failure_reason, \
             refund_due = excluded.refund_due, expires_at = excluded.expires_at, \
             created_at = excluded.created_at, updated_at = excluded.updated_at, \
             placed_by = excluded.placed_by, refunded_amount = excluded.refunded_amount, \
             shipment = excluded.shipment"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(c.id)
        .bind(c.customer_id)
        .bind(c.status)
        .bind(c.items)
        .bind(c.total)
        .bind(c.currency)
        .bind(c.phone)
        .bind(c.payment_status)
        .bind(c.payment_attempts)
        .bind(c.payment_attempt_id)
        .bind(c.checkout_request_id)
        .bind(c.mpesa_receipt)
        .bind(c.paid_amount)
        .bind(c.paid_at)
        .bind(c.failure_reason)
        .bind(c.refund_due)
        .bind(c.expires_at)
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.placed_by)
        .bind(c.refunded_amount)
        .bind(c.shipment)
        .execute(conn)
        .await?;
    Ok(())
}

/// `orders` rows as columns, for `unnest`.
#[derive(Default)]
struct OrderColumns {
    id: Vec<Uuid>,
    customer_id: Vec<Uuid>,
    status: Vec<String>,
    items: Vec<Json<serde_json::Value>>,
    total: Vec<i64>,
    currency: Vec<String>,
    phone: Vec<String>,
    payment_status: Vec<String>,
    payment_attempts: Vec<i32>,
    payment_attempt_id: Vec<Option<Uuid>>,
    checkout_request_id: Vec<Option<String>>,
    mpesa_receipt: Vec<Option<String>>,
    paid_amount: Vec<Option<i64>>,
    paid_at: Vec<Option<DateTime<Utc>>>,
    failure_reason: Vec<Option<String>>,
    refund_due: Vec<bool>,
    expires_at: Vec<DateTime<Utc>>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    placed_by: Vec<Uuid>,
    refunded_amount: Vec<i64>,
    shipment: Vec<Option<Json<serde_json::Value>>>,
}

impl OrderColumns {
    fn push(&mut self, o: Order) {
        self.id.push(o.id);
        self.customer_id.push(o.customer_id);
        self.status.push(o.status);
        self.items.push(o.items);
        self.total.push(o.total);
        self.currency.push(o.currency);
        self.phone.push(o.phone);
        self.payment_status.push(o.payment_status);
        self.payment_attempts.push(o.payment_attempts);
        self.payment_attempt_id.push(o.payment_attempt_id);
        self.checkout_request_id.push(o.checkout_request_id);
        self.mpesa_receipt.push(o.mpesa_receipt);
        self.paid_amount.push(o.paid_amount);
        self.paid_at.push(o.paid_at);
        self.failure_reason.push(o.failure_reason);
        self.refund_due.push(o.refund_due);
        self.expires_at.push(o.expires_at);
        self.placed_by.push(o.placed_by);
        self.refunded_amount.push(o.refunded_amount);
        self.shipment.push(o.shipment);
        self.created_at.push(o.created_at);
        self.updated_at.push(o.updated_at);
    }
}

async fn write_tracking(conn: &mut PgConnection, rows: Vec<Tracking>) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let (mut order, mut seq, mut status, mut at, mut note) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        order.push(row.order_id);
        seq.push(row.seq);
        status.push(row.status);
        at.push(row.at);
        note.push(row.note);
    }
    sqlx::query(
        "INSERT INTO order_tracking (order_id, seq, status, at, note) \
         SELECT * FROM unnest($1::uuid[], $2::int4[], $3::text[], $4::timestamptz[], \
             $5::text[])",
    )
    .bind(order)
    .bind(seq)
    .bind(status)
    .bind(at)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}
