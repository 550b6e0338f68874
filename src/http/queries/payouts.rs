//! Payouts, from the payouts read model: a seller's own (`GET /seller/payouts`; an admin names
//! the seller with `?seller_id=`), and all of them for admins (`GET /payouts?status=`), newest
//! first.

use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::page::{self, Cursor, Page};
use crate::auth::Role;
use crate::http::auth::User;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::http::views::payout::PayoutView;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(seller_payouts))
        .routes(routes!(all_payouts))
}

const STATUSES: [&str; 3] = ["requested", "completed", "failed"];

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SellerPayoutsQuery {
    /// Admins: whose payouts (sellers see their own).
    seller_id: Option<Uuid>,
    /// 1 to 100, default 20.
    #[param(schema_with = crate::http::limits::page_limit)]
    limit: Option<i64>,
    #[param(schema_with = crate::http::limits::cursor)]
    cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PayoutsQuery {
    /// `requested | completed | failed`
    #[param(schema_with = crate::http::limits::payout_status)]
    status: Option<String>,
    /// 1 to 100, default 20.
    #[param(schema_with = crate::http::limits::page_limit)]
    limit: Option<i64>,
    #[param(schema_with = crate::http::limits::cursor)]
    cursor: Option<String>,
}

async fn list(
    state: &AppState,
    seller: Option<Uuid>,
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
) -> Result<Page<PayoutView>, ApiError> {
    let limit = page::limit(limit)?;
    let after = cursor.as_deref().map(Cursor::decode).transpose()?;
    let rows: Vec<PayoutView> = sqlx::query_as(
        "SELECT id, seller_id, phone, amount, currency, order_ids, status, mpesa_receipt, \
             failure_reason, requested_at, completed_at FROM payouts \
         WHERE ($1::uuid IS NULL OR seller_id = $1) AND ($2::text IS NULL OR status = $2) \
           AND ($3::timestamptz IS NULL OR (requested_at, id) < ($3, $4)) \
         ORDER BY requested_at DESC, id DESC LIMIT $5",
    )
    .bind(seller)
    .bind(status)
    .bind(after.as_ref().map(|c| c.at))
    .bind(after.as_ref().map(|c| c.id))
    .bind(limit + 1)
    .fetch_all(&state.read_pool)
    .await?;
    let key = |p: &PayoutView| Cursor {
        at: p.requested_at,
        id: p.id,
    };
    Ok(Page::of(rows, limit, key, |p| p))
}

/// A seller's payouts (the seller's own; an admin's `seller_id`, or without it every seller's).
#[utoipa::path(get, path = "/seller/payouts", tag = "sellers", params(SellerPayoutsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<PayoutView>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn seller_payouts(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<SellerPayoutsQuery>,
) -> Result<Json<Page<PayoutView>>, ApiError> {
    user.require(&[Role::Seller, Role::Admin])?;
    let seller = match user.role {
        Role::Admin => query.seller_id,
        _ => Some(user.id),
    };
    let page = list(&state, seller, None, query.limit, query.cursor).await?;
    Ok(Json(page))
}

/// Every payout (admin), `?status=` to filter.
#[utoipa::path(get, path = "/payouts", tag = "sellers", params(PayoutsQuery),
    security(("bearer" = [])),
    responses((status = 200, body = Page<PayoutView>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn all_payouts(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<PayoutsQuery>,
) -> Result<Json<Page<PayoutView>>, ApiError> {
    user.require(&[Role::Admin])?;
    if let Some(status) = query.status.as_deref()
        && !STATUSES.contains(&status)
    {
        let message = format!("must be one of {}", STATUSES.join(", "));
        return Err(ApiError::field("status", message));
    }
    let page = list(&state, None, query.status, query.limit, query.cursor).await?;
    Ok(Json(page))
}
