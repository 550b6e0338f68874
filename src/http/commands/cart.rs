//! Cart commands over HTTP: add, change, remove a line; clear the cart. Each answers the cart
//! built from its aggregate (current catalog prices) with `X-Log-Position`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::http::command::Command;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path};
use crate::http::views::CartView;
use crate::http::{answer, with_position};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_cart_item))
        .routes(routes!(change_cart_item, remove_cart_item))
        .routes(routes!(clear_cart))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AddItemBody {
    pub product_id: Uuid,
    /// 1 to 1000; adds to the line already in the cart.
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChangeItemBody {
    /// 0 to 1000; 0 removes the line.
    #[schema(minimum = 0, maximum = 1000)]
    pub quantity: i64,
}

/// Add a product to the caller's cart.
#[utoipa::path(post, path = "/cart/items", tag = "cart", request_body = AddItemBody,
    security(("bearer" = [])),
    responses((status = 200, body = CartView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn add_cart_item(
    State(state): State<AppState>,
    command: Command,
    Json(body): Json<AddItemBody>,
) -> Result<Response, ApiError> {
    let outcome = state
        .commands
        .add_cart_item(
            &command.ctx,
            command.user.id,
            body.product_id,
            body.quantity,
        )
        .await?;
    Ok(answer::<CartView, _>(&outcome))
}

/// Set the quantity of a line (0 removes it).
#[utoipa::path(patch, path = "/cart/items/{product_id}", tag = "cart",
    request_body = ChangeItemBody, params(("product_id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = CartView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn change_cart_item(
    State(state): State<AppState>,
    command: Command,
    Path(product_id): Path<Uuid>,
    Json(body): Json<ChangeItemBody>,
) -> Result<Response, ApiError> {
    let outcome = state
        .commands
        .change_cart_item(&command.ctx, command.user.id, product_id, body.quantity)
        .await?;
    Ok(answer::<CartView, _>(&outcome))
}

/// Remove a line from the cart.
#[utoipa::path(delete, path = "/cart/items/{product_id}", tag = "cart",
    params(("product_id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = CartView), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
async fn remove_cart_item(
    State(state): State<AppState>,
    command: Command,
    Path(product_id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let outcome = state
        .commands
        .remove_cart_item(&command.ctx, command.user.id, product_id)
        .await?;
    Ok(answer::<CartView, _>(&outcome))
}

/// Empty the cart.
#[utoipa::path(delete, path = "/cart", tag = "cart", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn clear_cart(State(state): State<AppState>, command: Command) -> Result<Response, ApiError> {
    let outcome = state
        .commands
        .clear_cart(&command.ctx, command.user.id)
        .await?;
    Ok(with_position(
        StatusCode::NO_CONTENT.into_response(),
        outcome.position,
    ))
}
