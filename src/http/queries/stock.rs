//! Stock queries over the `products` read model: `GET /products/{id}/stock` (anyone) and
//! `GET /stock` (a seller's own products, or all for an admin), in product id order.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, QueryBuilder};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::page::{decode_cursor, encode_cursor, parse_limit, problem};
use crate::auth::Role;
use crate::http::auth::User;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path, Query};
use crate::http::views::stock::{StockRow, StockView};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_product_stock))
        .routes(routes!(list_stock))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StockPage {
    pub items: Vec<StockView>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// With `?count=true`: how many products match the filter, on every page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StockQuery {
    /// Only products with fewer than this many available.
    #[param(value_type = Option<i64>)]
    below: Option<String>,
    /// 1 to 100, default 20.
    #[param(schema_with = crate::http::limits::page_limit)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::http::limits::cursor)]
    cursor: Option<String>,
    /// `true` adds `total`, the products matching the filter.
    count: Option<bool>,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    id: Uuid,
}

/// The stock of one listed product.
#[utoipa::path(get, path = "/products/{id}/stock", tag = "stock", params(("id" = Uuid, Path)),
    responses((status = 200, body = StockView), (status = 404, body = Problem)))]
async fn get_product_stock(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<StockView>, ApiError> {
    let row: Option<StockRow> = sqlx::query_as(
        "SELECT id, on_hand, reserved FROM products WHERE id = $1 AND NOT withdrawn",
    )
    .bind(id)
    .fetch_optional(&state.read_pool)
    .await?;
    row.map(|r| Json(r.into()))
        .ok_or_else(|| ApiError::not_found("product not found"))
}

/// Stock of the caller's listed products (a seller) or of all of them (an admin).
#[utoipa::path(get, path = "/stock", tag = "stock", params(StockQuery),
    security(("bearer" = [])),
    responses((status = 200, body = StockPage), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_stock(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<StockQuery>,
) -> Result<Json<StockPage>, ApiError> {
    user.require(&[Role::Seller, Role::Admin])?;
    let mut errors = Vec::new();
    let below = query.below.as_deref().and_then(|raw| {
        let parsed = raw.trim().parse::<i64>().ok();
        if parsed.is_none() {
            errors.push(problem("below", "must be a whole number"));
        }
        parsed
    });
    let limit = parse_limit(query.limit.as_deref()).unwrap_or_else(|e| {
        errors.push(e);
        0
    });
    let after = query.cursor.as_deref().and_then(|raw| {
        let cursor = decode_cursor::<Cursor>(raw);
        if cursor.is_none() {
            errors.push(problem("cursor", "is not a cursor this API gave"));
        }
        cursor
    });
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }

    let seller = (user.role == Role::Seller).then_some(user.id);
    let filter = |select: &str| {
        let mut sql = QueryBuilder::<Postgres>::new(select);
        sql.push(" FROM products WHERE NOT withdrawn");
        if let Some(seller) = seller {
            sql.push(" AND seller_id = ").push_bind(seller);
        }
        if let Some(below) = below {
            sql.push(" AND available < ").push_bind(below);
        }
        sql
    };
    let total = match query.count {
        Some(true) => Some(
            filter("SELECT count(*)")
                .build_query_scalar::<i64>()
                .fetch_one(&state.read_pool)
                .await?,
        ),
        _ => None,
    };
    let mut sql = filter("SELECT id, on_hand, reserved");
    if let Some(after) = after {
        sql.push(" AND id > ").push_bind(after.id);
    }
    sql.push(" ORDER BY id LIMIT ").push_bind(limit + 1);
    let mut rows: Vec<StockRow> = sql.build_query_as().fetch_all(&state.read_pool).await?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut next_cursor = None;
    if rows.len() > limit {
        rows.truncate(limit);
        next_cursor = rows.last().map(|r| encode_cursor(&Cursor { id: r.id }));
    }
    Ok(Json(StockPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
        total,
    }))
}
