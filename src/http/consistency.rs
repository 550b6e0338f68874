//! `X-Min-Position`: a query waits (at most 5 s) until the read models have processed the
//! position a command answered with, so a client can read its own writes.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::state::AppState;

pub const MIN_POSITION: &str = "x-min-position";
pub const LOG_POSITION: &str = "x-log-position";
const MAX_WAIT: Duration = Duration::from_secs(5);

pub async fn wait_for_position(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(value) = request.headers().get(MIN_POSITION) else {
        return next.run(request).await;
    };
    let Some(position) = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
    else {
        return ApiError::field("X-Min-Position", "must be a position from X-Log-Position")
            .into_response();
    };
    match state.wait_for_position(position, MAX_WAIT).await {
        Ok(true) => next.run(request).await,
        Ok(false) => ApiError::unavailable(
            "the read models have not caught up with that position yet",
            1,
        )
        .into_response(),
        Err(error) => error.into_response(),
    }
}
