//! Webhook subscriptions as admins see them (`GET /webhooks`, `/webhooks/{id}`, and each one's
//! delivery attempts): never their secrets.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::page::{self, Page};
use crate::auth::Role;
use crate::http::auth::User;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path, Query};
use crate::state::AppState;
use crate::webhooks::{COLUMNS, Subscription};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks))
        .routes(routes!(get_webhook))
        .routes(routes!(list_deliveries))
}

/// API.md's `webhook`; `secret` only in the answer that created it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    /// Event types, or `["*"]`.
    pub event_types: Vec<String>,
    pub description: Option<String>,
    /// `whsec_…`: shown once, when the subscription is made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Subscription> for WebhookView {
    fn from(s: Subscription) -> Self {
        Self {
            id: s.id,
            url: s.url,
            event_types: s.event_types,
            description: s.description,
            secret: None,
            disabled: s.disabled,
            created_at: s.created_at,
        }
    }
}

pub async fn find(state: &AppState, id: Uuid) -> Result<Subscription, ApiError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhooks WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("no such webhook"))
}

pub type WebhookPage = Page<WebhookView>;

/// Every webhook subscription, oldest first (admins).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", security(("bearer" = [])),
    params(ListWebhooks),
    responses((status = 200, body = Page<WebhookView>), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
async fn list_webhooks(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<ListWebhooks>,
) -> Result<Json<WebhookPage>, ApiError> {
    user.require(&[Role::Admin])?;
    let rows: Vec<Subscription> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM webhooks ORDER BY created_at, id"
    )))
    .fetch_all(&state.pool)
    .await?;
    let total = (query.count == Some(true)).then_some(rows.len() as i64);
    Ok(Json(Page {
        items: rows.into_iter().map(WebhookView::from).collect(),
        next_cursor: None,
        total,
    }))
}

/// One webhook subscription (admins).
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_webhook(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Uuid>,
) -> Result<Json<WebhookView>, ApiError> {
    user.require(&[Role::Admin])?;
    find(&state, id).await.map(|s| Json(s.into()))
}

/// One delivery attempt.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeliveryView {
    /// The event's id (the `webhook-id` header), or a test message's.
    event_id: Uuid,
    /// 1 for the first try of this event, 2 for the first retry, …
    attempt: i32,
    /// The receiver's HTTP status; null when there was no answer (see `error`) or none yet.
    status_code: Option<i32>,
    error: Option<String>,
    /// When the attempt was made (recorded just before it was sent).
    at: DateTime<Utc>,
    /// When the event will be tried again after this failed attempt; null otherwise.
    next_attempt_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListDeliveries {
    /// 1 to 100, default 20.
    #[param(schema_with = crate::http::limits::page_limit)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::http::limits::cursor)]
    cursor: Option<String>,
    /// `true` adds `total`, the subscription's delivery attempts.
    count: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListWebhooks {
    /// `true` adds `total`, the number of subscriptions (all are on the one page).
    count: Option<bool>,
}

pub type DeliveryPage = Page<DeliveryView>;

/// A subscription's delivery attempts, newest first (admins).
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    security(("bearer" = [])), params(("id" = Uuid, Path), ListDeliveries),
    responses((status = 200, body = Page<DeliveryView>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
async fn list_deliveries(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Uuid>,
    Query(query): Query<ListDeliveries>,
) -> Result<Json<DeliveryPage>, ApiError> {
    user.require(&[Role::Admin])?;
    find(&state, id).await?;
    let limit = page::limit(query.limit)?;
    let before: Option<i64> = match query.cursor.as_deref() {
        None => None,
        Some(raw) => Some(
            page::decode_cursor(raw).ok_or_else(|| ApiError::field("cursor", "is not valid"))?,
        ),
    };
    let rows: Vec<(i64, DeliveryView)> = sqlx::query_as::<
        _,
        (
            i64,
            Uuid,
            i32,
            Option<i32>,
            Option<String>,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
        ),
    >(
        "SELECT id, event_id, attempt, status_code, error, at, next_attempt_at \
         FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::bigint IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(id)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .map(
        |(row, event_id, attempt, status_code, error, at, next_attempt_at)| {
            (
                row,
                DeliveryView {
                    event_id,
                    attempt,
                    status_code,
                    error,
                    at,
                    next_attempt_at,
                },
            )
        },
    )
    .collect();
    let more = rows.len() as i64 > limit;
    let mut items: Vec<(i64, DeliveryView)> = rows;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|(row, _)| page::encode_cursor(row)))
        .flatten();
    let total = page::total(
        query.count,
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1")
            .bind(id)
            .fetch_one(&state.pool),
    )
    .await?;
    Ok(Json(Page {
        items: items.into_iter().map(|(_, d)| d).collect(),
        next_cursor,
        total,
    }))
}
