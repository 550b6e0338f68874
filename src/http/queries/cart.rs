//! Cart queries, from the carts read model: the caller's cart (an empty one if none) and, for
//! admins, every open cart, most recently changed first.

use std::collections::HashMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::page::{self, Cursor, Page};
use crate::auth::Role;
use crate::http::auth::User;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path, Query};
use crate::http::views::cart::{CartItemView, CartLineRow, CartView};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart))
        .routes(routes!(get_customer_cart))
        .routes(routes!(list_carts))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CartListQuery {
    /// Only this customer's cart.
    customer_id: Option<Uuid>,
    /// 1 to 100, default 20.
    #[param(schema_with = crate::http::limits::page_limit)]
    limit: Option<i64>,
    #[param(schema_with = crate::http::limits::cursor)]
    cursor: Option<String>,
    /// `true` adds `total`, the open carts matching the filter.
    count: Option<bool>,
}

/// The lines of these customers' carts, priced from the carts projector's catalog copy.
async fn lines(
    state: &AppState,
    customers: &[Uuid],
) -> Result<HashMap<Uuid, (Vec<CartItemView>, String)>, ApiError> {
    let rows: Vec<CartLineRow> = sqlx::query_as(
        "SELECT i.customer_id, i.product_id, p.name, p.price, p.currency, i.quantity \
         FROM cart_items i LEFT JOIN cart_products p USING (product_id) \
         WHERE i.customer_id = ANY($1) ORDER BY i.customer_id, i.line_no",
    )
    .bind(customers)
    .fetch_all(&state.read_pool)
    .await?;
    let mut carts: HashMap<Uuid, (Vec<CartItemView>, String)> = HashMap::new();
    for row in rows {
        let entry = carts.entry(row.customer_id).or_insert_with(|| {
            (
                Vec::new(),
                row.currency.clone().unwrap_or_else(|| "KES".into()),
            )
        });
        entry.0.push(CartItemView::from(row));
    }
    Ok(carts)
}

fn view(
    customer_id: Uuid,
    cart_id: Uuid,
    updated_at: DateTime<Utc>,
    lines: &mut HashMap<Uuid, (Vec<CartItemView>, String)>,
) -> CartView {
    let (items, currency) = lines
        .remove(&customer_id)
        .unwrap_or_else(|| (Vec::new(), "KES".into()));
    CartView::from_lines(
        Some(cart_id),
        customer_id,
        items,
        currency,
        Some(updated_at),
    )
}

/// The caller's open cart; an empty cart if there is none.
#[utoipa::path(get, path = "/cart", tag = "cart", security(("bearer" = [])),
    responses((status = 200, body = CartView), (status = 401, body = Problem)))]
async fn get_cart(State(state): State<AppState>, user: User) -> Result<Json<CartView>, ApiError> {
    open_cart(&state, user.id).await.map(Json)
}

/// A customer's open cart (admins); an empty cart if there is none.
#[utoipa::path(get, path = "/users/{id}/cart", tag = "cart",
    params(("id" = Uuid, Path, description = "the customer")), security(("bearer" = [])),
    responses((status = 200, body = CartView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_customer_cart(
    State(state): State<AppState>,
    user: User,
    Path(customer): Path<Uuid>,
) -> Result<Json<CartView>, ApiError> {
    user.require(&[Role::Admin])?;
    let known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1 AND NOT closed)")
            .bind(customer)
            .fetch_one(&state.read_pool)
            .await?;
    if !known {
        return Err(ApiError::not_found("no such user"));
    }
    open_cart(&state, customer).await.map(Json)
}

/// The customer's open cart from the read model; an empty cart if there is none.
async fn open_cart(state: &AppState, customer: Uuid) -> Result<CartView, ApiError> {
    let cart: Option<(Uuid, DateTime<Utc>)> =
        sqlx::query_as("SELECT cart_id, updated_at FROM carts WHERE customer_id = $1")
            .bind(customer)
            .fetch_optional(&state.read_pool)
            .await?;
    let Some((cart_id, updated_at)) = cart else {
        return Ok(CartView::empty(customer));
    };
    let mut lines = lines(state, &[customer]).await?;
    Ok(view(customer, cart_id, updated_at, &mut lines))
}

/// Every open cart, most recently changed first (admin).
#[utoipa::path(get, path = "/carts", tag = "cart", params(CartListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<CartView>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_carts(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<CartListQuery>,
) -> Result<Json<Page<CartView>>, ApiError> {
    user.require(&[Role::Admin])?;
    let limit = page::limit(query.limit)?;
    let after = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let rows: Vec<(Uuid, Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT customer_id, cart_id, updated_at FROM carts \
         WHERE ($1::timestamptz IS NULL OR (updated_at, customer_id) < ($1, $2)) \
           AND ($4::uuid IS NULL OR customer_id = $4) \
         ORDER BY updated_at DESC, customer_id DESC LIMIT $3",
    )
    .bind(after.as_ref().map(|c| c.at))
    .bind(after.as_ref().map(|c| c.id))
    .bind(limit + 1)
    .bind(query.customer_id)
    .fetch_all(&state.read_pool)
    .await?;
    let total = page::total(
        query.count,
        sqlx::query_scalar(
            "SELECT count(*) FROM carts WHERE ($1::uuid IS NULL OR customer_id = $1)",
        )
        .bind(query.customer_id)
        .fetch_one(&state.read_pool),
    )
    .await?;
    let customers: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
    let mut lines = lines(&state, &customers).await?;
    let page = Page::of(
        rows,
        limit,
        |r| Cursor { at: r.2, id: r.0 },
        |(customer_id, cart_id, at)| view(customer_id, cart_id, at, &mut lines),
    )
    .with_total(total);
    Ok(Json(page))
}
