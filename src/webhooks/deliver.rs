//! The delivery worker (lease `webhooks:deliver`): one loop per enabled subscription, so a slow
//! or dead endpoint delays only its own subscription. Each loop follows the log from the
//! subscription's cursor, sends the next matching event until it is answered 2xx (then moves
//! the cursor, fenced by the lease), retrying with exponential backoff; after 24 h of failures
//! the subscription is disabled. Every attempt is recorded in `webhook_deliveries` before it is
//! sent. Delivery is at least once: a crash between a 2xx and the cursor's move sends that event
//! again, under the same `webhook-id`, which receivers deduplicate on (Standard Webhooks).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tillroll_events::{LogPosition, RecordedEvent};
use tillroll_projections::lease::{Fence, fence_sql};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};
use uuid::Uuid;

use super::{RETRY_FOR, Webhooks, backoff, signature};
use crate::http::views::event::EventView;
use crate::state::AppState;

pub const LEASE: &str = "webhooks:deliver";
/// How often the worker looks for new, changed and removed subscriptions.
const SCAN: Duration = Duration::from_millis(500);

pub async fn run(state: AppState, fence: Fence, mut stop: watch::Receiver<bool>) {
    // The loops belong to this set: when the lease is lost and this future is dropped, the set
    // is dropped and every loop is aborted with it (a detached loop would send once more).
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut loops: HashMap<Uuid, (DateTime<Utc>, AbortHandle)> = HashMap::new();
    loop {
        match enabled(&state).await {
            Ok(subscriptions) => {
                while tasks.try_join_next().is_some() {}
                loops.retain(|id, (updated, handle)| {
                    let current = subscriptions.get(id) == Some(updated) && !handle.is_finished();
                    if !current {
                        handle.abort();
                    }
                    current
                });
                for (id, updated) in subscriptions {
                    loops.entry(id).or_insert_with(|| {
                        let (state, fence) = (state.clone(), fence.clone());
                        let handle = tasks.spawn(async move {
                            if let Err(error) = deliver(&state, &fence, id).await {
                                tracing::warn!(%error, webhook = %id, "webhook deliveries pause");
                            }
                        });
                        (updated, handle)
                    });
                }
            }
            Err(error) => tracing::warn!(%error, "webhook subscriptions unreadable"),
        }
        if !crate::workers::pause(&mut stop, SCAN).await {
            break;
        }
    }
    tasks.abort_all();
}

async fn enabled(state: &AppState) -> Result<HashMap<Uuid, DateTime<Utc>>, sqlx::Error> {
    let rows: Vec<(Uuid, DateTime<Utc>)> =
        sqlx::query_as("SELECT id, updated_at FROM webhooks WHERE NOT disabled")
            .fetch_all(&state.pool)
            .await?;
    Ok(rows.into_iter().collect())
}

#[derive(sqlx::FromRow)]
struct Target {
    url: String,
    event_types: Vec<String>,
    secret_sealed: Vec<u8>,
    cursor_index: i64,
    cursor_position: i64,
    attempts: i32,
    failing_since: Option<DateTime<Utc>>,
    next_attempt_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
enum DeliverError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the subscription's secret does not open (another TILLROLL_WEBHOOKS_KEY?)")]
    Secret,
    #[error("the lease moved on")]
    LeaseLost,
}

/// One attempt's answer: the status code, or why there was none.
pub type Answer = Result<u16, String>;

/// Sends one message (`body` under `id`) to `url`, signed with `secret`.
pub async fn send(webhooks: &Webhooks, url: &str, secret: &str, id: &str, body: &[u8]) -> Answer {
    let timestamp = Utc::now().timestamp();
    let signed = signature(secret, id, timestamp, body).ok_or("the secret is malformed")?;
    let parsed = super::check_url(url, webhooks.allow_private)
        .await
        .map_err(|e| format!("url {e}"))?;
    let answer = webhooks
        .http
        .post(parsed)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signed)
        .body(body.to_vec())
        .send()
        .await;
    match answer {
        Ok(response) => Ok(response.status().as_u16()),
        Err(error) if error.is_timeout() => Err("timed out".to_owned()),
        Err(error) => Err(format!("{}", error.without_url())),
    }
}

/// Records an attempt before it is sent; its row id.
pub async fn record_attempt(
    pool: &sqlx::PgPool,
    webhook: Uuid,
    event_id: Uuid,
    log_index: Option<i64>,
    attempt: i32,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO webhook_deliveries (webhook_id, event_id, log_index, attempt, at) \
         VALUES ($1, $2, $3, $4, now()) RETURNING id",
    )
    .bind(webhook)
    .bind(event_id)
    .bind(log_index)
    .bind(attempt)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

pub async fn record_answer(
    pool: &sqlx::PgPool,
    delivery: i64,
    answer: &Answer,
    next_attempt_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let (status, error) = match answer {
        Ok(status) => (Some(i32::from(*status)), None),
        Err(error) => (None, Some(error.as_str())),
    };
    sqlx::query(
        "UPDATE webhook_deliveries SET status_code = $2, error = $3, next_attempt_at = $4 \
         WHERE id = $1",
    )
    .bind(delivery)
    .bind(status)
    .bind(error)
    .bind(next_attempt_at)
    .execute(pool)
    .await?;
    Ok(())
}

async fn deliver(state: &AppState, fence: &Fence, id: Uuid) -> Result<(), DeliverError> {
    let target: Option<Target> = sqlx::query_as(
        "SELECT url, event_types, secret_sealed, cursor_index, cursor_position, attempts, \
                failing_since, next_attempt_at \
         FROM webhooks WHERE id = $1 AND NOT disabled",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await?;
    let Some(mut target) = target else {
        return Ok(());
    };
    let webhooks = Arc::clone(&state.webhooks);
    let secret = webhooks
        .open(id, &target.secret_sealed)
        .ok_or(DeliverError::Secret)?;
    let after = LogPosition {
        log_index: target.cursor_index,
        position: target.cursor_position,
    };
    let mut subscription = state.store.subscribe(after).batch_size(100);
    if !target.event_types.iter().any(|t| t == "*") {
        subscription = subscription.only_types(target.event_types.clone());
    }
    loop {
        for event in subscription.next_batch().await? {
            if !deliver_one(state, fence, &webhooks, id, &mut target, &secret, &event).await? {
                return Ok(());
            }
        }
    }
}

/// Sends `event` until it is answered 2xx (moving the cursor past it): `true`; or until the
/// subscription is disabled after failing for 24 h: `false`.
async fn deliver_one(
    state: &AppState,
    fence: &Fence,
    webhooks: &Webhooks,
    id: Uuid,
    target: &mut Target,
    secret: &str,
    event: &RecordedEvent,
) -> Result<bool, DeliverError> {
    let body = serde_json::to_vec(&EventView::from(event)).expect("an event serialises");
    let message_id = event.event_id.to_string();
    loop {
        if let Some(at) = target.next_attempt_at {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
        }
        // Nothing goes out once the lease has moved on (the next holder delivers it).
        if !fence.holds(&state.pool).await? {
            return Err(DeliverError::LeaseLost);
        }
        let attempt = target.attempts + 1;
        let delivery =
            record_attempt(&state.pool, id, event.event_id, event.log_index, attempt).await?;
        let answer = send(webhooks, &target.url, secret, &message_id, &body).await;
        if matches!(answer, Ok(status) if (200..300).contains(&status)) {
            record_answer(&state.pool, delivery, &answer, None).await?;
            let moved = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE webhooks SET cursor_index = $2, cursor_position = $3, attempts = 0, \
                     failing_since = NULL, next_attempt_at = NULL \
                 WHERE id = $1 AND cursor_index <= $2 AND {}",
                fence_sql(4)
            )))
            .bind(id)
            .bind(event.log_index.unwrap_or(target.cursor_index))
            .bind(event.position)
            .bind(&fence.lease)
            .bind(&fence.holder)
            .bind(fence.epoch)
            .execute(&state.pool)
            .await?;
            if moved.rows_affected() == 0 {
                return Err(DeliverError::LeaseLost);
            }
            target.attempts = 0;
            target.failing_since = None;
            target.next_attempt_at = None;
            return Ok(true);
        }
        let now = Utc::now();
        let failed = u32::try_from(attempt).unwrap_or(u32::MAX);
        let retry_at = now
            + chrono::TimeDelta::from_std(backoff(webhooks.first_retry, failed))
                .unwrap_or_default();
        // Failing since the first failure the database knows of (an admin's or another
        // loop's record wins over this loop's memory).
        let since: Option<(DateTime<Utc>,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE webhooks SET attempts = $2, failing_since = coalesce(failing_since, $3), \
                 next_attempt_at = $4 \
             WHERE id = $1 AND {} RETURNING failing_since",
            fence_sql(5)
        )))
        .bind(id)
        .bind(attempt)
        .bind(now)
        .bind(retry_at)
        .bind(&fence.lease)
        .bind(&fence.holder)
        .bind(fence.epoch)
        .fetch_optional(&state.pool)
        .await?;
        let Some((failing_since,)) = since else {
            return Err(DeliverError::LeaseLost);
        };
        let give_up = (now - failing_since).to_std().unwrap_or_default() >= RETRY_FOR;
        let why = match &answer {
            Ok(status) => format!("HTTP {status}"),
            Err(error) => error.clone(),
        };
        record_answer(
            &state.pool,
            delivery,
            &answer,
            (!give_up).then_some(retry_at),
        )
        .await?;
        if give_up {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE webhooks SET disabled = true, disabled_reason = $2, \
                     next_attempt_at = NULL, updated_at = clock_timestamp() \
                 WHERE id = $1 AND {}",
                fence_sql(3)
            )))
            .bind(id)
            .bind(format!("failing for 24 h (last: {why})"))
            .bind(&fence.lease)
            .bind(&fence.holder)
            .bind(fence.epoch)
            .execute(&state.pool)
            .await?;
            tracing::warn!(webhook = %id, %why, "webhook failing for 24 h: disabled");
            return Ok(false);
        }
        tracing::info!(webhook = %id, attempt, %why, "webhook delivery failed; retrying later");
        target.attempts = attempt;
        target.failing_since = Some(failing_since);
        target.next_attempt_at = Some(retry_at);
    }
}
