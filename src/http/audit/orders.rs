//! An order's history and its state as of a moment.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Auditor;
use crate::audit::{history, replay};
use crate::domain::order::{Order, PaymentSummary};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path, Query};
use crate::http::views::event::EventView;
use crate::state::AppState;

/// `[event]` of the order's stream and of every stock and payment event it caused, found
/// through correlation and causation metadata, in log order.
#[utoipa::path(get, path = "/audit/orders/{id}/history", tag = "audit",
    params(("id" = Uuid, Path, description = "order id")),
    responses((status = 200, body = Vec<EventView>), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_order_history(
    _: Auditor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    let events = history::order_history(&state.store, id).await?;
    if events.is_empty() {
        return Err(ApiError::not_found("no order with this id"));
    }
    Ok(Json(events.iter().map(EventView::from).collect()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// RFC 3339 time; now if absent.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    at: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderLineView {
    product_id: Uuid,
    name: String,
    unit_price: i64,
    quantity: i64,
    line_total: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PaymentView {
    /// `not_started | requested | failed | succeeded`
    status: String,
    attempts: usize,
    checkout_request_id: Option<String>,
    mpesa_receipt: Option<String>,
    paid_amount: Option<i64>,
    paid_at: Option<DateTime<Utc>>,
    failure_reason: Option<String>,
}

/// API.md's `order` as the replayed state has it, with the moment and the stream version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderAtView {
    id: Uuid,
    customer_id: Uuid,
    status: String,
    items: Vec<OrderLineView>,
    total: i64,
    currency: String,
    phone: String,
    payment: PaymentView,
    refund_due: bool,
    expires_at: Option<DateTime<Utc>>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    /// The moment asked for.
    as_of: DateTime<Utc>,
    /// The order stream's version at that moment (its last event applied).
    version: i64,
}

fn payment_view(p: &PaymentSummary) -> PaymentView {
    let status = serde_json::to_value(p.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    PaymentView {
        status,
        attempts: p.attempts,
        checkout_request_id: p.checkout_request_id.clone(),
        mpesa_receipt: p.mpesa_receipt.clone(),
        paid_amount: p.paid_amount,
        paid_at: p.paid_at,
        failure_reason: p.failure_reason.clone(),
    }
}

fn order_view(order: Order, version: i64, as_of: DateTime<Utc>) -> OrderAtView {
    OrderAtView {
        id: order.order_id,
        customer_id: order.customer_id,
        status: order.status.as_str().to_owned(),
        items: order
            .lines
            .into_iter()
            .map(|l| OrderLineView {
                product_id: l.product_id,
                name: l.name,
                unit_price: l.unit_price,
                quantity: l.quantity,
                line_total: l.line_total,
            })
            .collect(),
        total: order.total,
        currency: order.currency.to_string(),
        phone: order.phone,
        payment: payment_view(&order.payment),
        refund_due: order.refund_due,
        expires_at: order.expires_at,
        created_at: order.created_at,
        updated_at: order.updated_at,
        as_of,
        version,
    }
}

/// RFC 3339; a `+` of an offset that arrived unescaped (as a space) is taken back.
fn parse_at(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .or_else(|_| DateTime::parse_from_rfc3339(&raw.replace(' ', "+")))
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| ApiError::field("at", "must be an RFC 3339 time, e.g. 2026-11-25T10:00:00Z"))
}

/// The order's state as of `at`, replayed from the order stream's events recorded up to then
/// through the domain's `evolve`; 404 if the order did not exist yet.
#[utoipa::path(get, path = "/audit/orders/{id}", tag = "audit",
    params(("id" = Uuid, Path, description = "order id"), AtQuery),
    responses((status = 200, body = OrderAtView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_order_at(
    _: Auditor,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(query): Query<AtQuery>,
) -> Result<Json<OrderAtView>, ApiError> {
    let at = match query.at.as_deref() {
        Some(raw) => parse_at(raw)?,
        None => Utc::now(),
    };
    let Some((order, version)) = replay::order_at(&state.store, id, at).await? else {
        return Err(ApiError::not_found(
            "the order did not exist at that moment",
        ));
    };
    Ok(Json(order_view(order, version, at)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_takes_rfc3339_and_an_unescaped_plus() {
        let z = parse_at("2026-11-25T10:00:00Z").unwrap();
        assert_eq!(parse_at("2026-11-25T13:00:00+03:00").unwrap(), z);
        assert_eq!(parse_at("2026-11-25T13:00:00 03:00").unwrap(), z);
        assert!(parse_at("yesterday").is_err());
        assert!(parse_at("").is_err());
    }
}
