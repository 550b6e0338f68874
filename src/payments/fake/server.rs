//! The fake's HTTP side: the three Daraja endpoints it serves.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::prelude::*;
use chrono::Utc;
use serde_json::json;

use super::checks;
use super::state::{Attempt, Callback, FakeState, Refusal, Shared};
use super::{FakeConfig, FakeMode, FakeOutcome};
use crate::payments::simulator::{new_checkout_request_id, new_merchant_request_id};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/v1/generate", get(oauth))
        .route("/mpesa/stkpush/v1/processrequest", post(stk_push))
        .route("/mpesa/stkpushquery/v1/query", post(stk_query))
        .route("/mpesa/b2c/v3/paymentrequest", post(super::b2c::payment))
        .route(
            "/mpesa/transactionstatus/v1/query",
            post(super::b2c::status),
        )
        .with_state(shared)
}

async fn oauth(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut state = shared.state();
    state.token_requests += 1;
    issue_token(&shared.config, &mut state, &query, &headers).into_response()
}

fn issue_token(
    config: &FakeConfig,
    state: &mut FakeState,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, Refusal> {
    if state.mode() == FakeMode::Down {
        return Err(Refusal::Down);
    }
    if query.get("grant_type").map(String::as_str) != Some("client_credentials") {
        state
            .violations
            .push("grant_type: expected client_credentials".to_owned());
        return Err(Refusal::daraja(
            StatusCode::BAD_REQUEST,
            "400.008.02",
            "Invalid grant type passed",
        ));
    }
    let expected = format!("{}:{}", config.consumer_key, config.consumer_secret);
    if basic_credentials(headers).as_deref() != Some(expected.as_str()) {
        state
            .violations
            .push("Authorization: wrong Basic credentials".to_owned());
        let message = "Invalid Authentication passed";
        return Err(Refusal::daraja(
            StatusCode::BAD_REQUEST,
            "400.008.01",
            message,
        ));
    }
    let token = uuid::Uuid::new_v4().simple().to_string();
    state.tokens.insert(token.clone());
    let expires_in = state
        .token_lifetime
        .clone()
        .unwrap_or_else(|| "3599".to_owned());
    Ok(axum::Json(json!({ "access_token": token, "expires_in": expires_in })).into_response())
}

async fn stk_push(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let accepted = {
        let mut state = shared.state();
        state.push_calls += 1;
        accept_push(&shared.config, &mut state, &headers, &body)
    };
    let (checkout_request_id, merchant_request_id, callback) = match accepted {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    if shared.state().mode() == FakeMode::Stall {
        std::future::pending::<()>().await;
    }
    if let Some((url, body)) = callback {
        let http = shared.http.clone();
        tokio::spawn(async move {
            if let Err(err) = http.post(&url).json(&body).send().await {
                let error = err.without_url();
                tracing::warn!(%error, "fake Daraja could not deliver a callback");
            }
        });
    }
    axum::Json(json!({
        "MerchantRequestID": merchant_request_id,
        "CheckoutRequestID": checkout_request_id,
        "ResponseCode": "0",
        "ResponseDescription": "Success. Request accepted for processing",
        "CustomerMessage": "Success. Request accepted for processing",
    }))
    .into_response()
}

/// Validates and records one push: its CheckoutRequestID, MerchantRequestID and any callback due.
fn accept_push(
    config: &FakeConfig,
    state: &mut FakeState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, String, Option<Callback>), Refusal> {
    let mode = state.mode();
    if mode == FakeMode::Down {
        return Err(Refusal::Down);
    }
    state.authorize(headers)?;
    let (body, violations) = checks::push(config, body, Utc::now());
    state.check(violations)?;
    let outcome = match mode {
        FakeMode::Busy => {
            let message = "Unable to lock subscriber, a transaction is already in process";
            return Err(Refusal::busy(message));
        }
        FakeMode::Callback(outcome) => Some(outcome),
        FakeMode::NoCallback | FakeMode::Stall | FakeMode::Down => None,
    };
    let checkout_request_id = new_checkout_request_id(Utc::now());
    let attempt = Attempt {
        merchant_request_id: new_merchant_request_id(),
        body,
        outcome,
    };
    let callback = attempt.callback(&checkout_request_id);
    let merchant_request_id = attempt.merchant_request_id.clone();
    state.requests.push(attempt.body.clone());
    state.attempts.insert(checkout_request_id.clone(), attempt);
    Ok((checkout_request_id, merchant_request_id, callback))
}

async fn stk_query(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut state = shared.state();
    answer_query(&shared.config, &mut state, &headers, &body).into_response()
}

fn answer_query(
    config: &FakeConfig,
    state: &mut FakeState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Refusal> {
    let mode = state.mode();
    if mode == FakeMode::Down {
        return Err(Refusal::Down);
    }
    state.authorize(headers)?;
    let (body, violations) = checks::query(config, body, Utc::now());
    state.check(violations)?;
    state.queries.push(body.clone());
    let id = body["CheckoutRequestID"].as_str().unwrap_or_default();
    let attempt = state.attempts.get(id).ok_or_else(|| {
        let message = "Bad Request - Invalid CheckoutRequestID";
        Refusal::daraja(StatusCode::BAD_REQUEST, "400.002.02", message)
    })?;
    let (code, description) = match (&attempt.outcome, mode) {
        (_, FakeMode::Busy) | (None, _) => {
            return Err(Refusal::busy("The transaction is being processed"));
        }
        (Some(FakeOutcome::Success), _) => ("0", "The service request is processed successfully."),
        (
            Some(FakeOutcome::Failure {
                result_code,
                description,
            }),
            _,
        ) => (result_code.as_str(), description.as_str()),
    };
    Ok(axum::Json(json!({
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successfully",
        "MerchantRequestID": attempt.merchant_request_id,
        "CheckoutRequestID": id,
        "ResultCode": code,
        "ResultDesc": description,
    }))
    .into_response())
}

fn basic_credentials(headers: &HeaderMap) -> Option<String> {
    let header = headers.get("authorization")?.to_str().ok()?;
    let encoded = header.strip_prefix("Basic ")?;
    String::from_utf8(BASE64_STANDARD.decode(encoded.trim()).ok()?).ok()
}
