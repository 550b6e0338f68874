//! Admins manage webhook subscriptions: `POST /webhooks` (the answer carries the secret, once),
//! `PATCH`, `DELETE`, and `POST /webhooks/{id}/test`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::Role;
use crate::http::command::Command;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path};
use crate::http::queries::webhooks::{WebhookView, find};
use crate::state::AppState;
use crate::webhooks::{Webhooks, deliver};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook))
        .routes(routes!(update_webhook, delete_webhook))
        .routes(routes!(test_webhook))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    /// `http(s)://…`; loopback and private addresses are refused unless
    /// `TILLROLL_WEBHOOKS_ALLOW_PRIVATE=true`.
    #[schema(schema_with = crate::http::limits::webhook_url)]
    url: String,
    /// Event types (`OrderPlaced`, …), or `["*"]` for every event.
    #[schema(schema_with = crate::http::limits::event_types)]
    event_types: Vec<String>,
    #[schema(schema_with = crate::http::limits::webhook_description)]
    description: Option<String>,
}

/// Absent fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookChange {
    #[schema(schema_with = crate::http::limits::webhook_url)]
    url: Option<String>,
    #[schema(schema_with = crate::http::limits::event_types)]
    event_types: Option<Vec<String>>,
    #[schema(schema_with = crate::http::limits::webhook_description)]
    description: Option<String>,
    /// `false` re-enables it: deliveries resume from the first undelivered event.
    disabled: Option<bool>,
}

async fn checked_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    if url.len() > 2000 {
        return Err(ApiError::field("url", "is longer than 2,000 characters"));
    }
    crate::webhooks::check_url(url, state.webhooks.allow_private)
        .await
        .map(|u| u.to_string())
        .map_err(|e| ApiError::field("url", e.to_string()))
}

fn checked_types(types: Vec<String>) -> Result<Vec<String>, ApiError> {
    if types.is_empty() {
        return Err(ApiError::field(
            "event_types",
            "names at least one event type, or \"*\"",
        ));
    }
    if types.len() > 100 {
        return Err(ApiError::field("event_types", "names more than 100 types"));
    }
    let known = tillroll_events::all_event_types();
    for kind in &types {
        if kind != "*" && !known.contains(&kind.as_str()) {
            return Err(ApiError::field(
                "event_types",
                format!("{kind:?} is not an event type"),
            ));
        }
    }
    if types.len() > 1 && types.iter().any(|t| t == "*") {
        return Err(ApiError::field(
            "event_types",
            "\"*\" stands alone (it is every type)",
        ));
    }
    let mut types = types;
    types.sort();
    types.dedup();
    Ok(types)
}

fn checked_description(description: Option<String>) -> Result<Option<String>, ApiError> {
    match description {
        Some(d) if d.chars().count() > 500 => Err(ApiError::field(
            "description",
            "is longer than 500 characters",
        )),
        Some(d)
            if d.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            Err(ApiError::field(
                "description",
                "contains control characters",
            ))
        }
        other => Ok(other),
    }
}

/// Subscribe a URL to events; the answer carries the secret (the only time it is shown).
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = NewWebhook,
    security(("bearer" = [])),
    responses((status = 201, body = WebhookView), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_webhook(
    State(state): State<AppState>,
    command: Command,
    Json(body): Json<NewWebhook>,
) -> Result<Response, ApiError> {
    command.user.require(&[Role::Admin])?;
    let event_types = checked_types(body.event_types)?;
    let description = checked_description(body.description)?;
    let url = checked_url(&state, &body.url).await?;
    let id = Uuid::now_v7();
    let secret = Webhooks::new_secret();
    let sealed = state.webhooks.seal(id, &secret);
    // Deliveries start with the events after this moment.
    let head = state.store.head().await?;
    let now = Utc::now();
    sqlx::query(
        "INSERT INTO webhooks (id, url, event_types, description, secret_sealed, created_at, \
             updated_at, cursor_index, cursor_position) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)",
    )
    .bind(id)
    .bind(&url)
    .bind(&event_types)
    .bind(&description)
    .bind(&sealed)
    .bind(now)
    .bind(head.log_index)
    .bind(head.position)
    .execute(&state.pool)
    .await?;
    let mut view = WebhookView::from(find(&state, id).await?);
    view.secret = Some(secret);
    Ok(crate::http::created(
        &format!("/webhooks/{id}"),
        Json(view),
        None,
    ))
}

/// Change a subscription's URL, types, description, or disable / re-enable it.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", request_body = WebhookChange,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = WebhookView), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
async fn update_webhook(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
    Json(body): Json<WebhookChange>,
) -> Result<Json<WebhookView>, ApiError> {
    command.user.require(&[Role::Admin])?;
    find(&state, id).await?;
    let url = match &body.url {
        Some(url) => Some(checked_url(&state, url).await?),
        None => None,
    };
    let event_types = body.event_types.map(checked_types).transpose()?;
    let description = checked_description(body.description)?;
    // Re-enabling a disabled subscription starts its retries afresh, from the first
    // undelivered event (an enabled one keeps its count, so it still gives up after 24 h).
    sqlx::query(
        "UPDATE webhooks SET url = coalesce($2, url), \
             event_types = coalesce($3, event_types), \
             description = coalesce($4, description), \
             disabled = coalesce($5, disabled), \
             disabled_reason = CASE WHEN $5 = false THEN NULL ELSE disabled_reason END, \
             attempts = CASE WHEN $5 = false AND disabled THEN 0 ELSE attempts END, \
             failing_since = CASE WHEN $5 = false AND disabled THEN NULL ELSE failing_since END, \
             next_attempt_at = CASE WHEN $5 = false AND disabled THEN NULL \
                                    ELSE next_attempt_at END, \
             updated_at = clock_timestamp() \
         WHERE id = $1",
    )
    .bind(id)
    .bind(url)
    .bind(event_types)
    .bind(description)
    .bind(body.disabled)
    .execute(&state.pool)
    .await?;
    find(&state, id).await.map(|s| Json(s.into()))
}

/// Remove a subscription (its delivery records go with it).
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
async fn delete_webhook(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    command.user.require(&[Role::Admin])?;
    let deleted = sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(&state.pool)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::not_found("no such webhook"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Send a `WebhookTest` message now (once, not retried; listed with the deliveries).
#[utoipa::path(post, path = "/webhooks/{id}/test", tag = "webhooks", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 202), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
async fn test_webhook(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    command.user.require(&[Role::Admin])?;
    let (url, sealed): (String, Vec<u8>) =
        sqlx::query_as("SELECT url, secret_sealed FROM webhooks WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.pool)
            .await?
            .ok_or_else(|| ApiError::not_found("no such webhook"))?;
    let secret = state
        .webhooks
        .open(id, &sealed)
        .ok_or_else(|| ApiError::conflict("the webhook's secret does not open with this key"))?;
    let message = Uuid::now_v7();
    let body = json!({"type": "WebhookTest", "webhook_id": id, "message_id": message,
        "sent_at": Utc::now()});
    let body = serde_json::to_vec(&body).expect("JSON serialises");
    let delivery = deliver::record_attempt(&state.pool, id, message, None, 1).await?;
    tokio::spawn(async move {
        let answer =
            deliver::send(&state.webhooks, &url, &secret, &message.to_string(), &body).await;
        if let Err(error) = deliver::record_answer(&state.pool, delivery, &answer, None).await {
            tracing::warn!(%error, "webhook test answer not recorded");
        }
    });
    Ok(StatusCode::ACCEPTED)
}
