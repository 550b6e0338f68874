//! Daraja's B2C result and queue time-out callbacks (`POST /payments/mpesa/b2c/result/{token}`
//! and `/timeout/{token}`), under the same secret token as the STK callback.
//!
//! A result is kept typed in the `b2c_results` inbox (first body per OriginatorConversationID;
//! repeats and late duplicates are no-ops; the payee's name and phone are stripped) and settled
//! in the same short request when its payment is known, else by the sweep. A time-out only
//! makes the reconciler ask M-Pesa at once: the payment may or may not have happened.

use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::payments::token_matches;
use crate::commands::payments::B2cSettlement;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path};
use crate::payments::b2c::{parse_result, strip_personal, timeout_id};
use crate::payments::b2c_inbox;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive_b2c_result))
        .routes(routes!(receive_b2c_timeout))
}

fn accepted() -> Json<Value> {
    Json(json!({"ResultCode": 0, "ResultDesc": "Accepted"}))
}

fn read(state: &AppState, token: &str, body: &Bytes) -> Result<Value, ApiError> {
    if !token_matches(token, &state.callback_token) {
        return Err(ApiError::not_found("no such route"));
    }
    serde_json::from_slice(body).map_err(|_| ApiError::bad_request("the body is not JSON"))
}

/// A B2C payment's result, or a transaction status query's answer.
#[utoipa::path(post, path = "/payments/mpesa/b2c/result/{token}", tag = "payments",
    params(("token" = String, Path)),
    request_body(content = serde_json::Value, description = "Daraja's B2C `Result` body"),
    responses((status = 200, description = "`{\"ResultCode\": 0, \"ResultDesc\": \"Accepted\"}`"),
        (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn receive_b2c_result(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut body = read(&state, &token, &body)?;
    // Whether it parses as a payment result is enough to keep it; what it means is decided
    // when its payment (or status query) is known.
    let result = parse_result(&body, false).ok_or_else(|| {
        ApiError::field(
            "Result",
            "expected Daraja's Result with OriginatorConversationID and ResultCode",
        )
    })?;
    let id = result.originator_conversation_id;
    strip_personal(&mut body);
    let inserted = b2c_inbox::store_result(&state.pool, &id, &body).await?;
    if !inserted {
        tracing::info!(originator_conversation_id = %id, "duplicate B2C result; the first stands");
        return Ok(accepted());
    }
    state.metrics.payment("b2c_result_received");
    match state
        .commands
        .settle_b2c_result(&id, state.config.reconcile_after)
        .await
    {
        Ok(B2cSettlement::Unknown) => {
            tracing::info!(originator_conversation_id = %id, "B2C result for no recorded payment (yet); kept in the inbox");
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, originator_conversation_id = %id, "B2C result not settled yet")
        }
    }
    Ok(accepted())
}

/// A B2C request timed out in Daraja's queue: its outcome is unknown until a result or a
/// transaction status query settles it.
#[utoipa::path(post, path = "/payments/mpesa/b2c/timeout/{token}", tag = "payments",
    params(("token" = String, Path)),
    request_body(content = serde_json::Value, description = "Daraja's queue time-out body"),
    responses((status = 200, description = "`{\"ResultCode\": 0, \"ResultDesc\": \"Accepted\"}`"),
        (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn receive_b2c_timeout(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = read(&state, &token, &body)?;
    let id = timeout_id(&body).ok_or_else(|| {
        ApiError::field("OriginatorConversationID", "missing from the time-out body")
    })?;
    match Uuid::parse_str(&id) {
        Ok(payment) if b2c_inbox::timed_out(&state.pool, payment).await? => {
            tracing::warn!(%payment, "B2C request timed out in Daraja's queue; asking M-Pesa");
        }
        _ => {
            tracing::info!(originator_conversation_id = %id, "B2C time-out for no waiting payment")
        }
    }
    Ok(accepted())
}
