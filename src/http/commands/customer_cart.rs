//! An admin acting on a customer's cart (`/users/{id}/cart…`), as the customer would through
//! `/cart…`: the events carry the admin as actor, the cart stays the customer's. An unknown or
//! closed account is a 404.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::cart::{AddItemBody, ChangeItemBody};
use crate::auth::Role;
use crate::commands::accounts::existing_customer;
use crate::http::command::Command;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path};
use crate::http::views::CartView;
use crate::http::{answer, with_position};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_customer_cart_item))
        .routes(routes!(
            change_customer_cart_item,
            remove_customer_cart_item
        ))
        .routes(routes!(clear_customer_cart))
}

/// The admin may act, and the customer exists.
async fn on_behalf(state: &AppState, command: &Command, customer: Uuid) -> Result<(), ApiError> {
    command.user.require(&[Role::Admin])?;
    existing_customer(&state.commands, &command.ctx, customer).await?;
    Ok(())
}

/// Add a product to a customer's cart (admins).
#[utoipa::path(post, path = "/users/{id}/cart/items", tag = "cart", request_body = AddItemBody,
    params(("id" = Uuid, Path, description = "the customer")), security(("bearer" = [])),
    responses((status = 200, body = CartView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn add_customer_cart_item(
    State(state): State<AppState>,
    command: Command,
    Path(customer): Path<Uuid>,
    Json(body): Json<AddItemBody>,
) -> Result<Response, ApiError> {
    on_behalf(&state, &command, customer).await?;
    let outcome = state
        .commands
        .add_cart_item(&command.ctx, customer, body.product_id, body.quantity)
        .await?;
    Ok(answer::<CartView, _>(&outcome))
}

/// Set the quantity of a line of a customer's cart (admins; 0 removes it).
#[utoipa::path(patch, path = "/users/{id}/cart/items/{product_id}", tag = "cart",
    request_body = ChangeItemBody,
    params(("id" = Uuid, Path, description = "the customer"), ("product_id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = CartView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn change_customer_cart_item(
    State(state): State<AppState>,
    command: Command,
    Path((customer, product_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<ChangeItemBody>,
) -> Result<Response, ApiError> {
    on_behalf(&state, &command, customer).await?;
    let outcome = state
        .commands
        .change_cart_item(&command.ctx, customer, product_id, body.quantity)
        .await?;
    Ok(answer::<CartView, _>(&outcome))
}

/// Remove a line from a customer's cart (admins).
#[utoipa::path(delete, path = "/users/{id}/cart/items/{product_id}", tag = "cart",
    params(("id" = Uuid, Path, description = "the customer"), ("product_id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = CartView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn remove_customer_cart_item(
    State(state): State<AppState>,
    command: Command,
    Path((customer, product_id)): Path<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    on_behalf(&state, &command, customer).await?;
    let outcome = state
        .commands
        .remove_cart_item(&command.ctx, customer, product_id)
        .await?;
    Ok(answer::<CartView, _>(&outcome))
}

/// Empty a customer's cart (admins).
#[utoipa::path(delete, path = "/users/{id}/cart", tag = "cart",
    params(("id" = Uuid, Path, description = "the customer")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn clear_customer_cart(
    State(state): State<AppState>,
    command: Command,
    Path(customer): Path<Uuid>,
) -> Result<Response, ApiError> {
    on_behalf(&state, &command, customer).await?;
    let outcome = state.commands.clear_cart(&command.ctx, customer).await?;
    Ok(with_position(
        StatusCode::NO_CONTENT.into_response(),
        outcome.position,
    ))
}
