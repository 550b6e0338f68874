//! The one owner of the B2C rows kept beside the events:
//! - `b2c_dispatches`: every B2C payment, recorded (fenced by the B2C reactor's lease) before
//!   it is sent, never sent again; Daraja's acceptance kept the moment it arrives; when the
//!   reconciler should ask Daraja about it (a transaction status query);
//! - `b2c_status_queries`: the queries sent, so that their answers find their payment;
//! - `b2c_results`: the inbox of results (first body kept), marked processed in the
//!   transaction that records their outcome.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tillroll_projections::lease::{Fence, fence_sql};
use uuid::Uuid;

use crate::commands::SideWrite;

pub const REFUND: &str = "refund";
pub const PAYOUT: &str = "payout";

/// One B2C payment: its id (the OriginatorConversationID), what it pays and for which order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Dispatch {
    pub id: Uuid,
    pub kind: String,
    /// A refund's order.
    pub order_id: Option<Uuid>,
    /// A payout's seller.
    pub seller_id: Option<Uuid>,
}

/// Records, under the B2C reactor's lease, that this payment is about to be sent; `false`
/// when it was recorded before (sent, or of unknown fate) or the lease is lost: then nothing
/// may be sent.
pub async fn record_dispatch(
    pool: &PgPool,
    fence: &Fence,
    dispatch: &Dispatch,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO b2c_dispatches (id, kind, order_id, seller_id, holder, epoch) \
         SELECT $1, $2, $3, $4, $6, $7 WHERE {} \
         ON CONFLICT (id) DO NOTHING",
        fence_sql(5)
    )))
    .bind(dispatch.id)
    .bind(&dispatch.kind)
    .bind(dispatch.order_id)
    .bind(dispatch.seller_id)
    .bind(&fence.lease)
    .bind(&fence.holder)
    .bind(fence.epoch)
    .execute(pool)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Keeps Daraja's acceptance; the reconciler asks about the payment at `query_at` unless its
/// result came first (or a queue time-out did: then it asks at once).
pub async fn record_answer(
    pool: &PgPool,
    id: Uuid,
    conversation_id: Option<&str>,
    query_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE b2c_dispatches SET conversation_id = coalesce($2, conversation_id), \
             answered_at = now(), \
             next_query_at = CASE WHEN timed_out_at IS NULL THEN $3 ELSE next_query_at END \
         WHERE id = $1 AND settled_at IS NULL",
    )
    .bind(id)
    .bind(conversation_id)
    .bind(query_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// A queue time-out for this payment: its fate is unknown, so the reconciler asks at once.
/// `false` when no such payment is waiting.
pub async fn timed_out(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE b2c_dispatches SET timed_out_at = coalesce(timed_out_at, now()), \
             next_query_at = now() \
         WHERE id = $1 AND settled_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Keeps a result in the inbox; `false` for a repeat (a no-op: the first result stands).
pub async fn store_result(
    pool: &PgPool,
    originator_conversation_id: &str,
    body: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let stored = sqlx::query(
        "INSERT INTO b2c_results (originator_conversation_id, body) VALUES ($1, $2) \
         ON CONFLICT (originator_conversation_id) DO NOTHING",
    )
    .bind(originator_conversation_id)
    .bind(body)
    .execute(pool)
    .await?;
    Ok(stored.rows_affected() == 1)
}

/// An unprocessed result and the payment it is about; `true` when it is a status query's
/// answer rather than the payment's own result.
pub async fn pending_result(
    pool: &PgPool,
    originator_conversation_id: &str,
) -> Result<Option<(Dispatch, serde_json::Value, bool)>, sqlx::Error> {
    type Row = (
        Uuid,
        String,
        Option<Uuid>,
        Option<Uuid>,
        serde_json::Value,
        bool,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT d.id, d.kind, d.order_id, d.seller_id, r.body, q.id IS NOT NULL \
         FROM b2c_results r \
         LEFT JOIN b2c_status_queries q ON q.id::text = r.originator_conversation_id \
         JOIN b2c_dispatches d ON d.id = coalesce(q.dispatch_id, \
             CASE WHEN r.originator_conversation_id ~* '^[0-9a-f-]{36}$' \
                  THEN r.originator_conversation_id::uuid END) \
         WHERE r.originator_conversation_id = $1 AND r.processed_at IS NULL",
    )
    .bind(originator_conversation_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, kind, order_id, seller_id, body, is_status)| {
        let dispatch = Dispatch {
            id,
            kind,
            order_id,
            seller_id,
        };
        (dispatch, body, is_status)
    }))
}

/// Results waiting for settlement whose payment is known (arrived before the dispatch was
/// recorded, or their settling failed).
pub async fn waiting_results(pool: &PgPool, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT originator_conversation_id FROM b2c_results \
         WHERE processed_at IS NULL AND received_at < now() - interval '1 second' \
         ORDER BY received_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Marks the payment settled and the result processed, in the transaction that records the
/// outcome.
pub fn settled(dispatch_id: Uuid, result_id: &str, at: DateTime<Utc>) -> [SideWrite; 2] {
    [
        SideWrite::new(
            "UPDATE b2c_dispatches SET settled_at = $2 WHERE id = $1 AND settled_at IS NULL",
        )
        .bind(dispatch_id)
        .bind(at),
        SideWrite::new(
            "UPDATE b2c_results SET processed_at = $2 \
             WHERE originator_conversation_id = $1 AND processed_at IS NULL",
        )
        .bind(result_id.to_owned())
        .bind(at),
    ]
}

/// A result that settles nothing (a status answer "not known yet"): processed, and the payment
/// asked about again at `next`.
pub async fn unsettled(
    pool: &PgPool,
    dispatch_id: Uuid,
    result_id: &str,
    next: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE b2c_results SET processed_at = now() WHERE originator_conversation_id = $1",
    )
    .bind(result_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE b2c_dispatches SET next_query_at = $2 WHERE id = $1")
        .bind(dispatch_id)
        .bind(next)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// A status query about to be sent; the payment is asked about again at `next` unless the
/// answer settles it first.
pub async fn record_status_query(
    pool: &PgPool,
    query_id: Uuid,
    dispatch_id: Uuid,
    next: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO b2c_status_queries (id, dispatch_id) VALUES ($1, $2)")
        .bind(query_id)
        .bind(dispatch_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE b2c_dispatches SET next_query_at = $2 WHERE id = $1")
        .bind(dispatch_id)
        .bind(next)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Payments due for a transaction status query, oldest first.
pub async fn due_for_query(pool: &PgPool, limit: i64) -> Result<Vec<Dispatch>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, order_id, seller_id FROM b2c_dispatches \
         WHERE settled_at IS NULL AND next_query_at <= now() ORDER BY next_query_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Stops asking about payments recorded longer than `after` ago; how many (they are left to
/// an admin: their money may or may not have left).
pub async fn abandon_older_than(pool: &PgPool, after: Duration) -> Result<u64, sqlx::Error> {
    let abandoned = sqlx::query(
        "UPDATE b2c_dispatches SET next_query_at = NULL \
         WHERE settled_at IS NULL AND next_query_at IS NOT NULL \
           AND recorded_at < now() - $1 * interval '1 ms'",
    )
    .bind(after.as_millis() as i64)
    .execute(pool)
    .await?;
    Ok(abandoned.rows_affected())
}
