//! `POST /me/addresses`, `PATCH` and `DELETE /me/addresses/{id}`: the signed-in user's address
//! book. Fields are parsed in `body` (every wrong field named in one 400); the rules (first is the
//! default, at most one is) are the aggregate's (`domain::address_book`).

mod body;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::http::command::Command;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path};
use crate::http::views::AddressView;
use crate::http::{answer, created, with_position};
use crate::state::AppState;
use body::{AddressPatchBody, NewAddressBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_address))
        .routes(routes!(change_address, remove_address))
}

/// Adds an address to the signed-in user's book. The first address is the default.
#[utoipa::path(post, path = "/me/addresses", tag = "accounts", request_body = NewAddressBody,
    security(("bearer" = [])),
    responses((status = 201, body = AddressView), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 409, body = Problem)))]
async fn add_address(
    State(state): State<AppState>,
    command: Command,
    Json(body): Json<NewAddressBody>,
) -> Result<Response, ApiError> {
    let fields = body.parse()?;
    let make_default = body.default.unwrap_or(false);
    let outcome = state
        .commands
        .add_address(&command.ctx, command.user.id, fields, make_default)
        .await?;
    let view = AddressView::from(&outcome.value);
    let location = format!("/me/addresses/{}", view.id);
    Ok(created(&location, Json(view), outcome.position))
}

/// Changes one of the signed-in user's addresses (another user's is 404).
#[utoipa::path(patch, path = "/me/addresses/{id}", tag = "accounts",
    request_body = AddressPatchBody, params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = AddressView), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn change_address(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
    Json(body): Json<AddressPatchBody>,
) -> Result<Response, ApiError> {
    let patch = body.parse()?;
    let outcome = state
        .commands
        .change_address(&command.ctx, command.user.id, id, patch)
        .await?;
    Ok(answer::<AddressView, _>(&outcome))
}

/// Removes one of the signed-in user's addresses (orders keep the copy they were placed
/// with). Removing the default makes the oldest remaining address the default.
#[utoipa::path(delete, path = "/me/addresses/{id}", tag = "accounts",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn remove_address(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let outcome = state
        .commands
        .remove_address(&command.ctx, command.user.id, id)
        .await?;
    Ok(with_position(StatusCode::NO_CONTENT, outcome.position))
}
