//! `GET /seller/sales`: a seller's delivered lines, per product, with the platform fee and the
//! net (from the orders, tracking and catalog read models). An admin names the seller.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::Role;
use crate::domain::seller::fee;
use crate::http::auth::User;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(seller_sales))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SalesQuery {
    /// Admins: whose sales (default: every seller's; sellers see their own).
    seller_id: Option<Uuid>,
    /// Delivered at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Delivered before (RFC 3339).
    to: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SalesItem {
    pub product_id: Uuid,
    pub name: String,
    pub units: i64,
    /// Minor units.
    pub gross: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Sales {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub items: Vec<SalesItem>,
    pub gross: i64,
    /// The platform's share (`TILLROLL_PLATFORM_FEE_BPS`).
    pub fees: i64,
    pub net: i64,
    pub currency: String,
}

/// What a seller's delivered lines earned.
#[utoipa::path(get, path = "/seller/sales", tag = "sellers", params(SalesQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Sales), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn seller_sales(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<SalesQuery>,
) -> Result<Json<Sales>, ApiError> {
    user.require(&[Role::Seller, Role::Admin])?;
    // An admin sees one seller's sales, or without `seller_id` the whole marketplace's.
    let seller = match user.role {
        Role::Admin => query.seller_id,
        _ => Some(user.id),
    };
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from > to
    {
        return Err(ApiError::field("from", "must not be after `to`"));
    }
    let items: Vec<SalesItem> = sqlx::query_as(
        "SELECT p.id AS product_id, max(i->>'name') AS name, \
                sum((i->>'quantity')::int8)::int8 AS units, \
                sum((i->>'line_total')::int8)::int8 AS gross \
         FROM orders o CROSS JOIN LATERAL jsonb_array_elements(o.items) i \
         JOIN products p ON p.id = (i->>'product_id')::uuid \
         WHERE ($1::uuid IS NULL OR p.seller_id = $1) AND o.status = 'delivered' \
           AND EXISTS (SELECT 1 FROM order_tracking t WHERE t.order_id = o.id \
                       AND t.status = 'delivered' \
                       AND ($2::timestamptz IS NULL OR t.at >= $2) \
                       AND ($3::timestamptz IS NULL OR t.at < $3)) \
         GROUP BY p.id ORDER BY gross DESC, p.id",
    )
    .bind(seller)
    .bind(query.from)
    .bind(query.to)
    .fetch_all(&state.read_pool)
    .await?;
    let gross: i64 = items.iter().map(|i| i.gross).sum();
    let fees: i64 = items
        .iter()
        .map(|i| fee(i.gross, state.config.platform_fee_bps))
        .sum();
    Ok(Json(Sales {
        from: query.from,
        to: query.to,
        items,
        gross,
        fees,
        net: gross - fees,
        currency: "KES".to_owned(),
    }))
}
