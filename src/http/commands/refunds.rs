//! `POST /orders/{id}/refunds` (admin): pay money back by M-Pesa B2C. The refund is decided on
//! the order's stream (at most what was received and not yet paid back, whatever the
//! concurrency) and answered 202: the B2C reactor sends it, its result settles it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::orders::optional_body;
use crate::auth::Role;
use crate::http::command::Command;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path};
use crate::http::views::refund::RefundView;
use crate::http::with_position;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(refund_order))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Minor units, a whole number of shillings of at least KES 10; default: everything paid
    /// and not yet refunded.
    #[schema(schema_with = crate::http::limits::refund_amount)]
    pub amount: Option<i64>,
    /// Why (kept in the order's history).
    #[schema(schema_with = crate::http::limits::refund_reason)]
    pub reason: String,
}

/// Refund (part of) what the order's customer paid, to the phone that paid (admin).
#[utoipa::path(post, path = "/orders/{id}/refunds", tag = "orders", request_body = RefundBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 202, body = RefundView, description = "requested: M-Pesa B2C pays it"),
        (status = 400, body = Problem, description = "no reason, or an amount that is not a positive whole number of shillings"),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "more than is refundable (`refundable`), or less than M-Pesa B2C pays (KES 10)")))]
async fn refund_order(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Response, ApiError> {
    command.user.require(&[Role::Admin])?;
    let body: RefundBody = optional_body(&body)?;
    let refund_id = Uuid::now_v7();
    let outcome = state
        .commands
        .request_refund(&command.ctx, id, refund_id, body.amount, body.reason)
        .await?;
    let order = &outcome.value;
    let refund = order
        .refund(refund_id)
        .ok_or_else(|| ApiError::conflict("the refund was not recorded"))?;
    let view = RefundView::of(order, refund);
    Ok(with_position(
        (StatusCode::ACCEPTED, Json(view)),
        outcome.position,
    ))
}
