//! `Idempotency-Key` on POST commands: the first response per (caller, key) is stored and a
//! repeat of the same request gets it back; the same key with another request is a 409.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::state::AppState;
use crate::store::idempotency::{self, Claim, StoredResponse};

pub const HEADER: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;
/// Replayed responses carry this header so clients can tell.
const REPLAYED: &str = "idempotent-replayed";
const KEPT_HEADERS: [&str; 3] = ["content-type", "x-log-position", "location"];
const MAX_BODY: usize = 1024 * 1024;

pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_KEY_LEN => k.to_owned(),
        _ => {
            return ApiError::field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
            .into_response();
        }
    };
    // The caller's identity scopes the key; anonymous callers (register, login) share one
    // scope, so their keys should be random. A protected route called without a valid token
    // is left to answer 401: no anonymous record may stand in for it.
    let actor = match actor_of(&state, &request) {
        Some(actor) => actor,
        None if ANONYMOUS_COMMANDS.contains(&request.uri().path()) => "anonymous".to_owned(),
        None => return next.run(request).await,
    };
    let (parts, body) = request.into_parts();
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is larger than 1 MiB",
            )
            .into_response();
        }
    };
    let hash = idempotency::request_hash(parts.method.as_str(), parts.uri.path(), &body);
    let pool = state.store.pool();
    match idempotency::claim(pool, &actor, &key, &hash).await {
        Ok(Claim::Acquired) => {}
        Ok(Claim::Replay(stored)) => return replay(stored),
        Ok(Claim::Mismatch) => {
            return ApiError::conflict("this Idempotency-Key was used with another request")
                .into_response();
        }
        Ok(Claim::InProgress) => {
            return ApiError::conflict("a request with this Idempotency-Key is still running")
                .into_response();
        }
        Err(error) => return ApiError::from(error).into_response(),
    }

    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if response.status().is_server_error() {
        if let Err(error) = idempotency::release(pool, &actor, &key).await {
            tracing::warn!(%error, "idempotency claim not released");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return ApiError::internal("response body could not be read").into_response();
    };
    let stored = StoredResponse {
        status: parts.status.as_u16(),
        headers: KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = parts.headers.get(*name)?.to_str().ok()?;
                Some(((*name).to_owned(), value.to_owned()))
            })
            .collect(),
        body: bytes.to_vec(),
    };
    if let Err(error) = idempotency::complete(pool, &actor, &key, &stored).await {
        tracing::warn!(%error, "idempotent response not stored");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The POST routes anyone may call, which share the anonymous scope of keys.
const ANONYMOUS_COMMANDS: &[&str] = &["/auth/register", "/auth/login", "/auth/refresh"];

fn actor_of(state: &AppState, request: &Request) -> Option<String> {
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    token
        .and_then(|t| state.jwt.verify(t, chrono::Utc::now()).ok())
        .map(|claims| claims.sub.to_string())
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}
