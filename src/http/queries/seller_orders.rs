//! `GET /seller/orders`: the orders holding the caller's products, with only their lines,
//! newest first (the `seller_orders` read model, with the orders and customers read models for
//! what changes after placing).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::page::{self, Cursor, Page};
use crate::auth::Role;
use crate::http::auth::User;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::http::views::seller_order::{SELLER_ORDER_COLUMNS, SellerOrderRow, SellerOrderView};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(seller_orders))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SellerOrdersQuery {
    /// `pending_payment | paid | shipped | delivered | cancelled | expired | refunded`
    #[param(schema_with = crate::http::limits::order_status)]
    status: Option<String>,
    /// Placed at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Placed before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// 1 to 100, default 20.
    #[param(schema_with = crate::http::limits::page_limit)]
    limit: Option<i64>,
    #[param(schema_with = crate::http::limits::cursor)]
    cursor: Option<String>,
    /// `true` adds `total`, the orders matching the filter.
    count: Option<bool>,
}

/// `$1` seller, `$2` status, `$3` from, `$4` to.
const FILTER: &str = "s.seller_id = $1 AND ($2::text IS NULL OR o.status = $2) \
    AND ($3::timestamptz IS NULL OR s.created_at >= $3) \
    AND ($4::timestamptz IS NULL OR s.created_at < $4)";

const FROM: &str = "seller_orders s JOIN orders o ON o.id = s.order_id \
    LEFT JOIN customers c ON c.id = s.customer_id AND NOT c.closed";

/// The orders holding the caller's products (sellers), each with only the caller's lines.
#[utoipa::path(get, path = "/seller/orders", tag = "sellers", params(SellerOrdersQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<SellerOrderView>), (status = 400, body = Problem),
        (status = 401, body = Problem),
        (status = 403, body = Problem, description = "not a seller")))]
async fn seller_orders(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<SellerOrdersQuery>,
) -> Result<Json<Page<SellerOrderView>>, ApiError> {
    user.require(&[Role::Seller])?;
    let limit = page::limit(query.limit)?;
    let after = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    if let Some(status) = query.status.as_deref()
        && !super::orders::STATUSES.contains(&status)
    {
        return Err(ApiError::field(
            "status",
            format!("must be one of {}", super::orders::STATUSES.join(", ")),
        ));
    }
    // An inverted range (`from` after `to`) matches nothing: an empty page, as an inverted
    // price range in the catalog.
    let total = page::total(
        query.count,
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {FROM} WHERE {FILTER}"
        )))
        .bind(user.id)
        .bind(query.status.clone())
        .bind(query.from)
        .bind(query.to)
        .fetch_one(&state.read_pool),
    )
    .await?;
    let rows: Vec<SellerOrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SELLER_ORDER_COLUMNS} FROM {FROM} WHERE {FILTER} \
         AND ($5::timestamptz IS NULL OR (s.created_at, s.order_id) < ($5, $6)) \
         ORDER BY s.created_at DESC, s.order_id DESC LIMIT $7"
    )))
    .bind(user.id)
    .bind(query.status)
    .bind(query.from)
    .bind(query.to)
    .bind(after.as_ref().map(|c| c.at))
    .bind(after.as_ref().map(|c| c.id))
    .bind(limit + 1)
    .fetch_all(&state.read_pool)
    .await?;
    let key = |r: &SellerOrderRow| Cursor {
        at: r.created_at,
        id: r.order_id,
    };
    Ok(Json(
        Page::of(rows, limit, key, SellerOrderView::from).with_total(total),
    ))
}
