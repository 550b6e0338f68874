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

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use tillroll_events::audit::ERASED;
use tillroll_events::{CustomerEvent, OrderEvent, RecordedEvent};
use uuid::Uuid;

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

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            if let Some(order) = decode::<OrderEvent>(event) {
                apply_order(conn, order?, event.recorded_at).await?;
            } else if event.event_type == "AccountClosed" {
                erase_phone(conn, event).await?;
            }
        }
        Ok(())
    }
}

/// The person's orders keep amounts and items; their phone reads as erased, as the order
/// events' own phone does once the store has shredded the person's key (so a rebuild agrees).
async fn erase_phone(
    conn: &mut PgConnection,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    if let Some(closed) = decode::<CustomerEvent>(event)
        && let CustomerEvent::AccountClosed { customer_id, .. } = closed?
    {
        sqlx::query("UPDATE orders SET phone = $2 WHERE customer_id = $1")
            .bind(customer_id)
            .bind(ERASED)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// SQL: the outcome of attempt `$2` applies to the payment fields: it is the attempt in
/// flight (or no attempt was recorded) and no attempt has succeeded.
macro_rules! current_attempt {
    () => {
        "(payment_status <> 'succeeded' AND coalesce(payment_attempt_id = $2, true))"
    };
}

async fn apply_order(
    conn: &mut PgConnection,
    event: OrderEvent,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    match event {
        OrderEvent::OrderPlaced {
            order_id,
            customer_id,
            items,
            total,
            currency,
            phone,
            placed_at: _,
            expires_at,
        } => {
            sqlx::query(
                "INSERT INTO orders (id, customer_id, status, items, total, currency, phone, \
                     payment_status, payment_attempts, refund_due, expires_at, created_at, \
                     updated_at) \
                 VALUES ($1, $2, 'pending_payment', $3, $4, $5, $6, 'not_started', 0, false, \
                     $7, $8, $8)",
            )
            .bind(order_id)
            .bind(customer_id)
            .bind(sqlx::types::Json(&items))
            .bind(total)
            .bind(currency.as_str())
            .bind(phone)
            .bind(expires_at)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            track(conn, order_id, at, Some("order placed".into())).await?;
        }
        OrderEvent::PaymentRequested {
            order_id,
            attempt_id,
            ..
        } => {
            sqlx::query(
                "UPDATE orders SET payment_status = 'requested', \
                     payment_attempts = payment_attempts + 1, payment_attempt_id = $2, \
                     checkout_request_id = NULL, failure_reason = NULL, updated_at = $3 \
                 WHERE id = $1 AND payment_status <> 'succeeded'",
            )
            .bind(order_id)
            .bind(attempt_id)
            .bind(at)
            .execute(conn)
            .await?;
        }
        OrderEvent::PaymentRequestAccepted {
            order_id,
            attempt_id,
            checkout_request_id,
            ..
        } => {
            sqlx::query(concat!(
                "UPDATE orders SET checkout_request_id = $3, updated_at = $4 \
                 WHERE id = $1 AND ",
                current_attempt!()
            ))
            .bind(order_id)
            .bind(attempt_id)
            .bind(checkout_request_id)
            .bind(at)
            .execute(conn)
            .await?;
        }
        OrderEvent::PaymentFailed {
            order_id,
            attempt_id,
            checkout_request_id,
            result_code,
            reason,
        } => {
            payment_not_accepted(conn, order_id, attempt_id, checkout_request_id, &reason, at)
                .await?;
            let note = format!("payment failed: {reason} (result code {result_code})");
            track(conn, order_id, at, Some(note)).await?;
        }
        OrderEvent::PaymentAmountMismatch {
            order_id,
            attempt_id,
            checkout_request_id,
            mpesa_receipt,
            amount,
            expected,
        } => {
            let reason = format!("amount mismatch: paid {amount}, expected {expected}");
            payment_not_accepted(
                conn,
                order_id,
                attempt_id,
                Some(checkout_request_id),
                &reason,
                at,
            )
            .await?;
            let note = format!("{reason} (M-Pesa receipt {mpesa_receipt})");
            track(conn, order_id, at, Some(note)).await?;
        }
        OrderEvent::PaymentConfirmed {
            order_id,
            attempt_id: _,
            checkout_request_id,
            mpesa_receipt,
            amount,
            paid_at,
        } => {
            sqlx::query(
                "UPDATE orders SET status = 'paid', payment_status = 'succeeded', \
                     checkout_request_id = $2, mpesa_receipt = $3, paid_amount = $4, \
                     paid_at = $5, failure_reason = NULL, updated_at = $6 \
                 WHERE id = $1",
            )
            .bind(order_id)
            .bind(checkout_request_id)
            .bind(&mpesa_receipt)
            .bind(amount)
            .bind(paid_at)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            track(
                conn,
                order_id,
                at,
                Some(format!("M-Pesa receipt {mpesa_receipt}")),
            )
            .await?;
        }
        OrderEvent::RefundFlagged { order_id, reason } => {
            sqlx::query("UPDATE orders SET refund_due = true, updated_at = $2 WHERE id = $1")
                .bind(order_id)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            track(conn, order_id, at, Some(format!("refund due: {reason}"))).await?;
        }
        OrderEvent::OrderCancelled {
            order_id, reason, ..
        } => set_status(conn, order_id, "cancelled", at, reason).await?,
        OrderEvent::OrderExpired { order_id, .. } => {
            let note = Some("not paid in time".to_owned());
            set_status(conn, order_id, "expired", at, note).await?;
        }
        OrderEvent::OrderShipped {
            order_id,
            carrier,
            tracking_number,
            ..
        } => {
            let note = match (carrier, tracking_number) {
                (Some(carrier), Some(number)) => {
                    Some(format!("{carrier}, tracking number {number}"))
                }
                (Some(carrier), None) => Some(carrier),
                (None, Some(number)) => Some(format!("tracking number {number}")),
                (None, None) => None,
            };
            set_status(conn, order_id, "shipped", at, note).await?;
        }
        OrderEvent::OrderDelivered { order_id, .. } => {
            set_status(conn, order_id, "delivered", at, None).await?;
        }
    }
    Ok(())
}

/// A failed or wrong-amount outcome of `attempt_id`: recorded on the order if it is the
/// attempt in flight.
async fn payment_not_accepted(
    conn: &mut PgConnection,
    order_id: Uuid,
    attempt_id: Uuid,
    checkout_request_id: Option<String>,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "UPDATE orders SET payment_status = CASE WHEN ",
        current_attempt!(),
        " THEN 'failed' ELSE payment_status END, failure_reason = CASE WHEN ",
        current_attempt!(),
        " THEN $3 ELSE failure_reason END, checkout_request_id = CASE WHEN ",
        current_attempt!(),
        " THEN coalesce($4, checkout_request_id) ELSE checkout_request_id END, \
         updated_at = $5 WHERE id = $1"
    ))
    .bind(order_id)
    .bind(attempt_id)
    .bind(reason)
    .bind(checkout_request_id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn set_status(
    conn: &mut PgConnection,
    order_id: Uuid,
    status: &str,
    at: DateTime<Utc>,
    note: Option<String>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(order_id)
        .bind(status)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    track(conn, order_id, at, note).await
}

/// Appends a history row with the order's status as it now is.
async fn track(
    conn: &mut PgConnection,
    order_id: Uuid,
    at: DateTime<Utc>,
    note: Option<String>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_tracking (order_id, seq, status, at, note) \
         SELECT o.id, \
             coalesce((SELECT max(t.seq) FROM order_tracking t WHERE t.order_id = o.id), 0) + 1, \
             o.status, $2, $3 \
         FROM orders o WHERE o.id = $1",
    )
    .bind(order_id)
    .bind(at)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}
