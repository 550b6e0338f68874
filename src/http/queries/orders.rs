//! Order queries, from the orders read model only: the list (own orders, or all for admins and
//! auditors), one order, its tracking history, and a live feed of its changes (`events`).
//! Someone else's order is a 404.

mod events;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::page::{self, Cursor, Page};
use crate::http::auth::User;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path, Query};
use crate::http::views::order::{ORDER_COLUMNS as COLUMNS, OrderRow, OrderView};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(get_order_tracking))
        .routes(routes!(events::order_events))
}

pub(super) const STATUSES: [&str; 7] = [
    "pending_payment",
    "paid",
    "shipped",
    "delivered",
    "cancelled",
    "expired",
    "refunded",
];

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Tracking {
    pub order_id: Uuid,
    pub status: String,
    pub history: Vec<TrackingStep>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TrackingStep {
    pub status: String,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OrderListQuery {
    /// `pending_payment | paid | shipped | delivered | cancelled | expired | refunded`
    #[param(schema_with = crate::http::limits::order_status)]
    status: Option<String>,
    /// Only this customer's orders (admins and auditors; a customer sees only their own).
    customer_id: Option<Uuid>,
    /// 1 to 100, default 20.
    #[param(schema_with = crate::http::limits::page_limit)]
    limit: Option<i64>,
    #[param(schema_with = crate::http::limits::cursor)]
    cursor: Option<String>,
    /// `true` adds `total`, the orders matching the filter.
    count: Option<bool>,
}

/// The orders `GET /orders` lists: `$1` owner, `$2` status, `$6` customer asked for.
const ORDER_FILTER: &str = "($1::uuid IS NULL OR customer_id = $1) \
    AND ($2::text IS NULL OR status = $2) AND ($6::uuid IS NULL OR customer_id = $6)";

/// The order if `user` may see it; anyone else's is not found.
pub(crate) async fn visible_order(
    state: &AppState,
    user: &User,
    id: Uuid,
) -> Result<OrderView, ApiError> {
    let row: Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM orders WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&state.read_pool)
    .await?;
    match row {
        Some(row) if user.sees_everything() || row.customer_id == user.id => Ok(row.into()),
        _ => Err(ApiError::not_found("order not found")),
    }
}

pub(crate) async fn tracking(
    state: &AppState,
    order_id: Uuid,
    status: String,
) -> Result<Tracking, ApiError> {
    let history: Vec<TrackingStep> = sqlx::query_as(
        "SELECT status, at, note FROM order_tracking WHERE order_id = $1 ORDER BY seq",
    )
    .bind(order_id)
    .fetch_all(&state.read_pool)
    .await?;
    Ok(Tracking {
        order_id,
        status,
        history,
    })
}

/// The caller's orders (all orders for admins and auditors), newest first.
#[utoipa::path(get, path = "/orders", tag = "orders", params(OrderListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<OrderView>), (status = 400, body = Problem),
        (status = 401, body = Problem)))]
async fn list_orders(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<OrderListQuery>,
) -> Result<Json<Page<OrderView>>, ApiError> {
    let limit = page::limit(query.limit)?;
    let after = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    if let Some(status) = query.status.as_deref()
        && !STATUSES.contains(&status)
    {
        return Err(ApiError::field(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    let owner = (!user.sees_everything()).then_some(user.id);
    // The count binds the page's parameters it does not use as nulls, so both share the filter.
    let total = page::total(
        query.count,
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM orders WHERE {ORDER_FILTER} \
             AND $3::timestamptz IS NULL AND $4::uuid IS NULL AND $5::int8 IS NULL"
        )))
        .bind(owner)
        .bind(query.status.clone())
        .bind(None::<DateTime<Utc>>)
        .bind(None::<Uuid>)
        .bind(None::<i64>)
        .bind(query.customer_id)
        .fetch_one(&state.read_pool),
    )
    .await?;
    let rows: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM orders \
         WHERE {ORDER_FILTER} AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5"
    )))
    .bind(owner)
    .bind(query.status)
    .bind(after.as_ref().map(|c| c.at))
    .bind(after.as_ref().map(|c| c.id))
    .bind(limit + 1)
    .bind(query.customer_id)
    .fetch_all(&state.read_pool)
    .await?;
    Ok(Json(
        Page::of(
            rows,
            limit,
            |r| Cursor {
                at: r.created_at,
                id: r.id,
            },
            OrderView::from,
        )
        .with_total(total),
    ))
}

/// One order (its owner, admins, auditors).
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
async fn get_order(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Uuid>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(visible_order(&state, &user, id).await?))
}

/// The order's status history.
#[utoipa::path(get, path = "/orders/{id}/tracking", tag = "orders", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Tracking), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
async fn get_order_tracking(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Uuid>,
) -> Result<Json<Tracking>, ApiError> {
    let order = visible_order(&state, &user, id).await?;
    Ok(Json(tracking(&state, id, order.status).await?))
}
