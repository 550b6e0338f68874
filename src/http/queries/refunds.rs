//! `GET /orders/{id}/refunds`, from the refunds read model: the order's refunds, oldest first
//! (its owner, admins, auditors; anyone else's order is a 404).

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::orders::visible_order;
use crate::http::auth::User;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path};
use crate::http::views::refund::RefundView;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_refunds))
}

/// The order's refunds.
#[utoipa::path(get, path = "/orders/{id}/refunds", tag = "orders", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = Vec<RefundView>), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
async fn list_refunds(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<RefundView>>, ApiError> {
    visible_order(&state, &user, id).await?;
    let refunds: Vec<RefundView> = sqlx::query_as(
        "SELECT id, order_id, amount, currency, phone, reason, status, mpesa_receipt, \
             failure_reason, requested_at, completed_at \
         FROM order_refunds WHERE order_id = $1 ORDER BY requested_at, id",
    )
    .bind(id)
    .fetch_all(&state.read_pool)
    .await?;
    Ok(Json(refunds))
}
