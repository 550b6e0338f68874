//! The one owner of the M-Pesa rows kept beside the events:
//! - `stk_dispatches`: every STK push, recorded (fenced by the payment reactor's lease) before
//!   it is sent, never sent again, and Daraja's answer kept the moment it arrives;
//! - `mpesa_requests`: each accepted push (CheckoutRequestID → order and attempt), written with
//!   `PaymentRequestAccepted`, and when the reconciler should next ask Daraja about it;
//! - `mpesa_callbacks`: the inbox of callbacks (first real outcome kept), marked processed in
//!   the transaction that records their outcome.
//!
//! Writes that belong to a command's transaction are returned as [`SideWrite`]s; the rest run
//! on their own.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tillroll_projections::lease::{Fence, fence_sql};
use uuid::Uuid;

use crate::commands::SideWrite;

/// Records, under the payment reactor's lease, that this attempt's push is about to be sent;
/// `false` when it was recorded before (sent, or of unknown fate) or the lease is lost: then
/// nothing may be sent.
pub async fn record_dispatch(
    pool: &PgPool,
    fence: &Fence,
    order_id: Uuid,
    attempt_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO stk_dispatches (attempt_id, order_id, holder, epoch) \
         SELECT $1, $2, $4, $5 WHERE {} \
         ON CONFLICT (attempt_id) DO NOTHING",
        fence_sql(3)
    )))
    .bind(attempt_id)
    .bind(order_id)
    .bind(&fence.lease)
    .bind(&fence.holder)
    .bind(fence.epoch)
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Keeps Daraja's acceptance of a dispatched push before anything else is done with it, so a
/// crash before `PaymentRequestAccepted` is appended leaves a push whose CheckoutRequestID is
/// known ([`unrecorded_acceptances`]).
pub async fn record_answer(
    pool: &PgPool,
    attempt_id: Uuid,
    checkout_request_id: &str,
    merchant_request_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stk_dispatches SET checkout_request_id = $2, merchant_request_id = $3, \
             answered_at = now() \
         WHERE attempt_id = $1 AND checkout_request_id IS NULL",
    )
    .bind(attempt_id)
    .bind(checkout_request_id)
    .bind(merchant_request_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// A push Daraja accepted whose acceptance never made it into the log (the node crashed in
/// between).
#[derive(Debug, Clone)]
pub struct Unrecorded {
    pub order_id: Uuid,
    pub attempt_id: Uuid,
    pub checkout_request_id: String,
    pub merchant_request_id: String,
}

/// Accepted pushes answered more than `grace` ago with no `mpesa_requests` row: the node that
/// sent them stopped before recording their acceptance.
pub async fn unrecorded_acceptances(
    pool: &PgPool,
    grace: Duration,
    limit: i64,
) -> Result<Vec<Unrecorded>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, String, String)> = sqlx::query_as(
        "SELECT d.order_id, d.attempt_id, d.checkout_request_id, \
                coalesce(d.merchant_request_id, '') \
         FROM stk_dispatches d \
         WHERE d.answered_at < now() - $1 * interval '1 ms' AND d.abandoned_at IS NULL \
           AND d.answered_at > now() - interval '1 day' \
           AND NOT EXISTS (SELECT 1 FROM mpesa_requests r \
                           WHERE r.checkout_request_id = d.checkout_request_id) \
         ORDER BY d.answered_at LIMIT $2",
    )
    .bind(grace.as_millis() as i64)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(order_id, attempt_id, checkout_request_id, merchant_request_id)| Unrecorded {
                order_id,
                attempt_id,
                checkout_request_id,
                merchant_request_id,
            },
        )
        .collect())
}

/// An unrecorded acceptance that can no longer be recorded (its attempt ended otherwise): it
/// is not looked at again.
pub async fn abandon_answer(pool: &PgPool, attempt_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE stk_dispatches SET abandoned_at = now() WHERE attempt_id = $1")
        .bind(attempt_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// The `mpesa_requests` row of an accepted push, written with `PaymentRequestAccepted`.
pub fn accepted(
    checkout_request_id: &str,
    order_id: Uuid,
    attempt_id: Uuid,
    accepted_at: DateTime<Utc>,
    next_query_at: DateTime<Utc>,
) -> SideWrite {
    SideWrite::new(
        "INSERT INTO mpesa_requests (checkout_request_id, order_id, attempt_id, \
             accepted_at, next_query_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (checkout_request_id) DO NOTHING",
    )
    .bind(checkout_request_id.to_owned())
    .bind(order_id)
    .bind(attempt_id)
    .bind(accepted_at)
    .bind(next_query_at)
}

/// Marks a push settled and its callback processed, in the transaction that records the
/// outcome (so a crash never leaves one half-settled).
pub fn settled(checkout_request_id: &str, at: DateTime<Utc>) -> [SideWrite; 2] {
    [
        SideWrite::new(
            "UPDATE mpesa_requests SET settled_at = $2 \
             WHERE checkout_request_id = $1 AND settled_at IS NULL",
        )
        .bind(checkout_request_id.to_owned())
        .bind(at),
        SideWrite::new(
            "UPDATE mpesa_callbacks SET processed_at = $2 \
             WHERE checkout_request_id = $1 AND processed_at IS NULL",
        )
        .bind(checkout_request_id.to_owned())
        .bind(at),
    ]
}

/// Keeps a callback in the inbox; `false` for a repeat (no-op), except that a real outcome
/// replaces an "unreachable" one (1037, 4999), which settled nothing.
pub async fn store_callback(
    pool: &PgPool,
    checkout_request_id: &str,
    body: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let stored = sqlx::query(
        "INSERT INTO mpesa_callbacks (checkout_request_id, body) VALUES ($1, $2) \
         ON CONFLICT (checkout_request_id) DO UPDATE \
             SET body = excluded.body, received_at = now(), processed_at = NULL \
         WHERE mpesa_callbacks.body #>> '{Body,stkCallback,ResultCode}' IN ('1037', '4999') \
           AND excluded.body #>> '{Body,stkCallback,ResultCode}' NOT IN ('1037', '4999')",
    )
    .bind(checkout_request_id)
    .bind(body)
    .execute(pool)
    .await?;
    Ok(stored.rows_affected() == 1)
}

/// The unprocessed callback of an accepted push: its order and the stored body.
pub async fn pending_callback(
    pool: &PgPool,
    checkout_request_id: &str,
) -> Result<Option<(Uuid, serde_json::Value)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.order_id, c.body FROM mpesa_callbacks c \
         JOIN mpesa_requests r USING (checkout_request_id) \
         WHERE c.checkout_request_id = $1 AND c.processed_at IS NULL",
    )
    .bind(checkout_request_id)
    .fetch_optional(pool)
    .await
}

/// Callbacks waiting for settlement whose push is known (kept before its acceptance was).
pub async fn waiting_callbacks(pool: &PgPool, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT c.checkout_request_id FROM mpesa_callbacks c \
         JOIN mpesa_requests r USING (checkout_request_id) \
         WHERE c.processed_at IS NULL ORDER BY c.received_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// An unsettled callback (1037, 4999): processed, and the reconciler asks Daraja at once.
pub async fn query_now(pool: &PgPool, checkout_request_id: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE mpesa_callbacks SET processed_at = now() WHERE checkout_request_id = $1")
        .bind(checkout_request_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE mpesa_requests SET next_query_at = now() WHERE checkout_request_id = $1")
        .bind(checkout_request_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The reconciler asks about this push again at `at`.
pub async fn query_at(
    pool: &PgPool,
    checkout_request_id: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE mpesa_requests SET next_query_at = $2 WHERE checkout_request_id = $1")
        .bind(checkout_request_id)
        .bind(at)
        .execute(pool)
        .await?;
    Ok(())
}

/// Accepted pushes due for an STK query: `(CheckoutRequestID, order)`, oldest first.
pub async fn due_for_query(pool: &PgPool, limit: i64) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT checkout_request_id, order_id FROM mpesa_requests \
         WHERE settled_at IS NULL AND next_query_at <= now() ORDER BY next_query_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Stops asking about pushes accepted longer than `after` ago (Daraja keeps a push's result
/// for a limited time); how many.
pub async fn abandon_older_than(pool: &PgPool, after: Duration) -> Result<u64, sqlx::Error> {
    let abandoned = sqlx::query(
        "UPDATE mpesa_requests SET settled_at = now() \
         WHERE settled_at IS NULL AND accepted_at < now() - $1 * interval '1 ms'",
    )
    .bind(after.as_millis() as i64)
    .execute(pool)
    .await?;
    Ok(abandoned.rows_affected())
}
