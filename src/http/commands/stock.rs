//! Stock commands over HTTP: `PUT /products/{id}/stock` (a count) and
//! `POST /products/{id}/stock/adjustments` (a delta with a reason), for the product's seller
//! or an admin.

use axum::extract::State;
use axum::response::Response;
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::catalog::actor;
use super::catalog::body::Body;
use crate::commands::stock;
use crate::domain::validate::FieldError;
use crate::http::answer;
use crate::http::command::Command;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path};
use crate::http::views::StockView;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_stock))
        .routes(routes!(adjust_stock))
}

/// `PUT /products/{id}/stock`.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "documents the body, which is read field by field")]
pub struct StockLevelBody {
    /// The counted stock, `≥ 0` and not below what open orders hold.
    #[schema(minimum = 0)]
    on_hand: i64,
}

/// `POST /products/{id}/stock/adjustments`.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "documents the body, which is read field by field")]
pub struct StockAdjustmentBody {
    /// Added to `on_hand` (negative removes).
    delta: i64,
    /// Why, 1 to 200 characters.
    #[schema(schema_with = crate::http::limits::reason)]
    reason: String,
}

fn any<T>(value: T) -> Result<T, FieldError> {
    Ok(value)
}

/// Set the counted stock of a product.
#[utoipa::path(put, path = "/products/{id}/stock", tag = "stock", request_body = StockLevelBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = StockView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn put_stock(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let mut body = Body::object(body, &["on_hand"])?;
    let on_hand = body.required("on_hand", any::<i64>);
    body.finish()?;
    let on_hand = on_hand.ok_or_else(|| ApiError::field("on_hand", "is required"))?;
    let outcome = stock::set_stock_level(
        &state.commands,
        &command.ctx,
        actor(&command.user),
        id,
        on_hand,
    )
    .await?;
    Ok(answer::<StockView, _>(&outcome))
}

/// Adjust a product's stock by a delta, with a reason.
#[utoipa::path(post, path = "/products/{id}/stock/adjustments", tag = "stock",
    request_body = StockAdjustmentBody, params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = StockView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn adjust_stock(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let mut body = Body::object(body, &["delta", "reason"])?;
    let delta = body.required("delta", any::<i64>);
    let reason = body.required("reason", any::<String>);
    body.finish()?;
    let (Some(delta), Some(reason)) = (delta, reason) else {
        return Err(ApiError::bad_request("delta and reason are required"));
    };
    let outcome = stock::adjust_stock(
        &state.commands,
        &command.ctx,
        actor(&command.user),
        id,
        delta,
        reason,
    )
    .await?;
    Ok(answer::<StockView, _>(&outcome))
}
