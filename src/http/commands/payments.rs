//! Daraja's callback (`POST /payments/mpesa/callback/{token}`) and the admin's "ask Daraja
//! now" (`POST /orders/{id}/payment/reconcile`).
//!
//! The callback is stored in the `mpesa_callbacks` inbox (first body kept; duplicates are
//! no-ops) and settled in the same short request when its push is known; otherwise the payment
//! reactor settles it right after recording the push, or the sweep does. Daraja gets 200 for
//! every well-formed body under the right token, unknown CheckoutRequestIDs included.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::orders::answer;
use crate::auth::Role;
use crate::commands::payments::{ReconcileError, Settlement};
use crate::domain::order::AttemptStatus;
use crate::http::command::Command;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path};
use crate::payments::{GatewayError, inbox, parse_callback};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive_mpesa_callback))
        .routes(routes!(reconcile_payment))
}

/// Compares digests so the time taken says nothing about how much of the token matched.
pub(super) fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Daraja's STK push result. The token is the secret part of our CallBackURL.
#[utoipa::path(post, path = "/payments/mpesa/callback/{token}", tag = "payments",
    params(("token" = String, Path)),
    request_body(content = serde_json::Value, description = "Daraja's stkCallback body"),
    responses((status = 200, description = "`{\"ResultCode\": 0, \"ResultDesc\": \"Accepted\"}`"),
        (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn receive_mpesa_callback(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !token_matches(&token, &state.callback_token) {
        return Err(ApiError::not_found("no such route"));
    }
    let callback = parse_callback(&body).map_err(|e| match e.field() {
        Some(field) => ApiError::field(field, e.to_string()),
        None => ApiError::bad_request(e.to_string()),
    })?;
    let outcome = match callback.outcome {
        crate::payments::CallbackOutcome::Paid { .. } => "succeeded",
        crate::payments::CallbackOutcome::NotPaid { .. } => "failed",
    };
    let id = callback.checkout_request_id;
    let mut stored: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    // The inbox keeps no personal data: the payer's phone is not needed to settle, and would
    // outlive an account's erasure.
    if let Some(items) = stored
        .pointer_mut("/Body/stkCallback/CallbackMetadata/Item")
        .and_then(|i| i.as_array_mut())
    {
        items.retain(|item| item["Name"] != "PhoneNumber");
    }
    let inserted = inbox::store_callback(&state.pool, &id, &stored).await?;
    if !inserted {
        tracing::info!(checkout_request_id = %id, "duplicate M-Pesa callback");
    }
    state.metrics.payment("callback_received");
    match state.commands.settle_callback(&id).await {
        Ok(Settlement::Recorded(_)) if inserted => state.metrics.payment(outcome),
        Ok(Settlement::Unknown) if inserted => {
            tracing::info!(checkout_request_id = %id, "M-Pesa callback for no recorded push (yet); kept in the inbox");
        }
        Ok(_) => {}
        // Kept in the inbox: the sweep settles it later.
        Err(error) => tracing::warn!(%error, checkout_request_id = %id, "callback not settled yet"),
    }
    Ok(Json(json!({"ResultCode": 0, "ResultDesc": "Accepted"})))
}

/// Ask Daraja now about the order's payment attempt awaiting an answer (admin).
#[utoipa::path(post, path = "/orders/{id}/payment/reconcile", tag = "payments",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = crate::http::views::OrderView),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "no attempt awaits an answer"),
        (status = 502, body = Problem), (status = 503, body = Problem)))]
async fn reconcile_payment(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    command.user.require(&[Role::Admin])?;
    let ctx = command.ctx.clone().correlated(id);
    let order = state.commands.load_order(&ctx, id).await?;
    let waiting = order
        .attempts
        .iter()
        .rev()
        .filter(|a| a.status == AttemptStatus::Accepted)
        .find_map(|a| a.checkout_request_id.clone())
        .ok_or_else(|| ApiError::conflict("no payment attempt of this order awaits M-Pesa"))?;
    let settled = state
        .commands
        .reconcile_attempt(
            state.gateway.as_ref(),
            id,
            &waiting,
            state.config.reconcile_after,
        )
        .await;
    match settled {
        Ok(Settlement::Recorded(outcome)) => Ok(answer(*outcome, StatusCode::OK)),
        Ok(Settlement::Pending | Settlement::Unknown) => {
            let order = state.commands.load_order(&ctx, id).await?;
            let outcome = crate::commands::Outcome {
                value: order,
                position: None,
                event_ids: Vec::new(),
            };
            Ok(answer(outcome, StatusCode::OK))
        }
        Err(ReconcileError::Command(error)) => Err(error.into()),
        Err(ReconcileError::Gateway(GatewayError::Unavailable(why))) => Err(ApiError::unavailable(
            format!("M-Pesa could not be reached: {why}"),
            5,
        )),
        Err(ReconcileError::Gateway(GatewayError::Rejected { code, message })) => {
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("M-Pesa refused the query: {code} {message}"),
            ))
        }
    }
}
