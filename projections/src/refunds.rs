//! The refunds read model (`order_refunds`), serving `refund` (GET /orders/{id}/refunds) and
//! the order's `payment.refunded_amount`. `AccountClosed` erases the refunds' phone, as the
//! store's shredding does in the events.

use async_trait::async_trait;
use sqlx::PgConnection;
use tillroll_events::audit::ERASED;
use tillroll_events::{CustomerEvent, OrderEvent, RecordedEvent};

use crate::{ProjectionError, Projector, decode};

pub struct RefundsProjector;

const TYPES: [&str; 3] = ["RefundRequested", "RefundCompleted", "RefundFailed"];

#[async_trait]
impl Projector for RefundsProjector {
    fn name(&self) -> &'static str {
        "refunds"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["order_refunds"]
    }

    fn handles(&self, event_type: &str) -> bool {
        TYPES.contains(&event_type) || event_type == "AccountClosed"
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            if event.event_type == "AccountClosed" {
                if let Some(closed) = decode::<CustomerEvent>(event) {
                    sqlx::query("UPDATE order_refunds SET phone = $2 WHERE customer_id = $1")
                        .bind(closed?.customer_id())
                        .bind(ERASED)
                        .execute(&mut *conn)
                        .await?;
                }
                continue;
            }
            if !TYPES.contains(&event.event_type.as_str()) {
                continue;
            }
            let Some(order) = decode::<OrderEvent>(event) else {
                continue;
            };
            apply_one(conn, order?).await?;
        }
        Ok(())
    }
}

async fn apply_one(conn: &mut PgConnection, event: OrderEvent) -> Result<(), sqlx::Error> {
    match event {
        OrderEvent::RefundRequested {
            order_id,
            customer_id,
            refund_id,
            amount,
            phone,
            reason,
            requested_at,
        } => {
            // M-Pesa pays shillings only: a refund is always in KES.
            sqlx::query(
                "INSERT INTO order_refunds (id, order_id, customer_id, amount, currency, phone, \
                     reason, status, requested_at) \
                 VALUES ($1, $2, $3, $4, 'KES', $5, $6, 'requested', $7) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(refund_id)
            .bind(order_id)
            .bind(customer_id)
            .bind(amount)
            .bind(phone)
            .bind(reason)
            .bind(requested_at)
            .execute(conn)
            .await?;
        }
        OrderEvent::RefundCompleted {
            refund_id,
            mpesa_receipt,
            completed_at,
            ..
        } => {
            sqlx::query(
                "UPDATE order_refunds SET status = 'completed', mpesa_receipt = $2, \
                     completed_at = $3 WHERE id = $1",
            )
            .bind(refund_id)
            .bind(mpesa_receipt)
            .bind(completed_at)
            .execute(conn)
            .await?;
        }
        OrderEvent::RefundFailed {
            refund_id,
            reason,
            failed_at,
            ..
        } => {
            sqlx::query(
                "UPDATE order_refunds SET status = 'failed', failure_reason = $2, \
                     completed_at = $3 WHERE id = $1",
            )
            .bind(refund_id)
            .bind(reason)
            .bind(failed_at)
            .execute(conn)
            .await?;
        }
        _ => {}
    }
    Ok(())
}
