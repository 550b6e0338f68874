//! Checkout and order commands over HTTP: place (from the cart or from items), cancel, ask for
//! another M-Pesa payment, ship, deliver. Each answers `order` from the aggregate.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::Role;
use crate::commands::Outcome;
use crate::commands::orders::NewItem;
use crate::domain::order::Order;
use crate::domain::validate::Actor;
use crate::http::auth::User;
use crate::http::command::Command;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path};
use crate::http::views::OrderView;
use crate::http::with_position;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_out))
        .routes(routes!(place_order))
        .routes(routes!(cancel_order))
        .routes(routes!(request_payment))
        .routes(routes!(ship_order))
        .routes(routes!(deliver_order))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CheckoutBody {
    /// The M-Pesa phone: `07…`, `01…`, `+254…` or `254…`; the customer's profile phone if
    /// absent (400 naming `phone` if the profile has none either).
    #[schema(schema_with = crate::http::limits::phone)]
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ItemBody {
    pub product_id: Uuid,
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PlaceOrderBody {
    #[schema(min_items = 1)]
    pub items: Vec<ItemBody>,
    /// As in `POST /checkout`: the customer's profile phone if absent.
    #[schema(schema_with = crate::http::limits::phone)]
    pub phone: Option<String>,
    /// Admins only: the customer the order is placed for (they own it; `placed_by` is the
    /// admin). A customer may name only themselves.
    pub customer_id: Option<Uuid>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CancelBody {
    #[schema(schema_with = crate::http::limits::cancel_reason)]
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PaymentBody {
    /// Another phone for this attempt; the last one is used if absent.
    #[schema(schema_with = crate::http::limits::phone)]
    pub phone: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ShipBody {
    #[schema(schema_with = crate::http::limits::shipment_text)]
    pub carrier: Option<String>,
    #[schema(schema_with = crate::http::limits::shipment_text)]
    pub tracking_number: Option<String>,
    /// For the customer: shown in the order's tracking history.
    #[schema(schema_with = crate::http::limits::shipment_note)]
    pub note: Option<String>,
}

pub(crate) fn actor(user: &User) -> Actor {
    Actor {
        id: user.id,
        role: user.role,
    }
}

/// A JSON body that may be left out entirely (then every field is absent).
pub(crate) fn optional_body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    // The input path of every JSON body: control characters, `1.0` as 1, errors per field.
    crate::http::input::decode(value).map_err(ApiError::fields)
}

pub(crate) fn answer(outcome: Outcome<Order>, status: StatusCode) -> Response {
    let order_id = outcome.value.order_id;
    let mut response = with_position(
        (status, Json(OrderView::from(&outcome.value))),
        outcome.position,
    );
    if status == StatusCode::CREATED
        && let Ok(location) = axum::http::HeaderValue::from_str(&format!("/orders/{order_id}"))
    {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, location);
    }
    response
}

/// Turn the caller's cart into an order: prices captured now, stock reserved for every line
/// (all or none), then the M-Pesa prompt is sent to `phone`.
#[utoipa::path(post, path = "/checkout", tag = "orders", request_body = CheckoutBody,
    security(("bearer" = [])),
    responses((status = 201, body = OrderView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem, description = "empty cart, or short stock or a withdrawn product (`short_lines`: product_id, name, requested, available, reason)")))]
async fn check_out(
    State(state): State<AppState>,
    command: Command,
    Json(body): Json<CheckoutBody>,
) -> Result<Response, ApiError> {
    command.user.require(&[Role::Customer])?;
    let ttl = state.config.reservation_ttl;
    let outcome = state
        .commands
        .check_out(&command.ctx, command.user.id, body.phone.as_deref(), ttl)
        .await?;
    Ok(answer(outcome, StatusCode::CREATED))
}

/// Order the given items directly (no cart); an admin orders for the customer named by
/// `customer_id`.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = PlaceOrderBody,
    security(("bearer" = [])),
    responses((status = 201, body = OrderView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "short stock (`short_lines`)")))]
async fn place_order(
    State(state): State<AppState>,
    command: Command,
    Json(body): Json<PlaceOrderBody>,
) -> Result<Response, ApiError> {
    command.user.require(&[Role::Customer, Role::Admin])?;
    let customer_id = match (command.user.role, body.customer_id) {
        (Role::Admin, Some(customer)) => customer,
        // Admins buy nothing themselves: they order for a customer they name (a request
        // that is well-formed but not allowed, so 403 rather than 400).
        (Role::Admin, None) => {
            return Err(ApiError::forbidden(
                "an admin orders only on a customer's behalf: name customer_id",
            ));
        }
        (_, Some(customer)) if customer != command.user.id => {
            return Err(ApiError::forbidden(
                "only an admin orders on another customer's behalf",
            ));
        }
        _ => command.user.id,
    };
    let items: Vec<NewItem> = body
        .items
        .iter()
        .map(|i| NewItem {
            product_id: i.product_id,
            quantity: i.quantity,
        })
        .collect();
    let ttl = state.config.reservation_ttl;
    let outcome = state
        .commands
        .place_order(
            &command.ctx,
            customer_id,
            &items,
            body.phone.as_deref(),
            ttl,
        )
        .await?;
    Ok(answer(outcome, StatusCode::CREATED))
}

/// Cancel an order: its owner before payment, an admin before shipping (a paid order is then
/// flagged `refund_due`).
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", request_body = CancelBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn cancel_order(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: CancelBody = optional_body(&body)?;
    let actor = actor(&command.user);
    let outcome = state
        .commands
        .cancel_order(&command.ctx, actor, id, body.reason)
        .await?;
    Ok(answer(outcome, StatusCode::OK))
}

/// Send a new M-Pesa prompt for an unpaid order (its owner).
#[utoipa::path(post, path = "/orders/{id}/payment", tag = "payments", request_body = PaymentBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 202, body = OrderView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn request_payment(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: PaymentBody = optional_body(&body)?;
    let actor = actor(&command.user);
    let outcome = state
        .commands
        .request_payment(&command.ctx, actor, id, body.phone.as_deref())
        .await?;
    Ok(answer(outcome, StatusCode::ACCEPTED))
}

/// Mark a paid order shipped (admin): the carrier and tracking number become the order's
/// `shipment`; the note goes to its tracking history.
#[utoipa::path(post, path = "/orders/{id}/ship", tag = "orders", request_body = ShipBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn ship_order(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Response, ApiError> {
    command.user.require(&[Role::Admin])?;
    let body: ShipBody = optional_body(&body)?;
    let outcome = state
        .commands
        .ship_order(
            &command.ctx,
            id,
            body.carrier,
            body.tracking_number,
            body.note,
        )
        .await?;
    Ok(answer(outcome, StatusCode::OK))
}

/// Mark a shipped order delivered (admin).
#[utoipa::path(post, path = "/orders/{id}/deliver", tag = "orders",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)))]
async fn deliver_order(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    command.user.require(&[Role::Admin])?;
    let outcome = state.commands.deliver_order(&command.ctx, id).await?;
    Ok(answer(outcome, StatusCode::OK))
}
