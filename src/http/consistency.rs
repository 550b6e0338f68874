//! `X-Min-Position`: a query waits (at most 5 s) until its read model has processed the
//! position a command answered with, so a client can read its own writes. Only the read model
//! the route reads is waited for (API.md: "until its read model has caught up"): a cart read
//! does not wait on the orders projector.

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
    let names = read_models_of(request.uri().path());
    match state.wait_for_position(position, names, MAX_WAIT).await {
        Ok(true) => next.run(request).await,
        Ok(false) => ApiError::unavailable(
            "the read models have not caught up with that position yet",
            1,
        )
        .into_response(),
        Err(error) => error.into_response(),
    }
}

/// The projectors whose tables a query route reads; `None`: every read model.
fn read_models_of(path: &str) -> Option<&'static [&'static str]> {
    let mut segments = path.trim_start_matches('/').split('/');
    let first = segments.next().unwrap_or("");
    if first == "me" && segments.next() == Some("addresses") {
        return Some(&["addresses"]);
    }
    match first {
        "cart" | "carts" => Some(&["carts"]),
        "products" | "categories" | "home" | "stock" => Some(&["catalog"]),
        // An order's refunded amount and its refunds come from the refunds read model.
        "orders" => Some(&["orders", "refunds"]),
        "payouts" => Some(&["payouts"]),
        "seller" => Some(&["payouts", "orders", "catalog", "seller_orders", "customers"]),
        "me" | "users" => Some(&["customers"]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::read_models_of;

    #[test]
    fn routes_wait_for_the_read_model_they_read() {
        assert_eq!(read_models_of("/cart"), Some(&["carts"][..]));
        assert_eq!(read_models_of("/products/1/stock"), Some(&["catalog"][..]));
        assert_eq!(
            read_models_of("/orders/1/tracking"),
            Some(&["orders", "refunds"][..])
        );
        assert_eq!(read_models_of("/me"), Some(&["customers"][..]));
        assert_eq!(read_models_of("/me/addresses"), Some(&["addresses"][..]));
        assert_eq!(read_models_of("/images/abc"), None);
        let known: Vec<&str> = tillroll_projections::all()
            .iter()
            .map(|p| p.name())
            .collect();
        for path in ["/cart", "/products", "/orders", "/users"] {
            for name in read_models_of(path).unwrap() {
                assert!(known.contains(name), "{name} is no projector");
            }
        }
    }
}
