//! `GET /me/addresses`: the signed-in user's address book from the `addresses` read model,
//! oldest first.

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::http::auth::User;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::Json;
use crate::http::views::AddressView;
use crate::http::views::address::{ADDRESS_COLUMNS, AddressRow};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_addresses))
}

/// The signed-in user's addresses, oldest first; exactly one is the default unless there are
/// none.
#[utoipa::path(get, path = "/me/addresses", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Vec<AddressView>), (status = 401, body = Problem)))]
async fn list_addresses(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<Vec<AddressView>>, ApiError> {
    let rows: Vec<AddressRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE customer_id = $1 \
         ORDER BY added_position"
    )))
    .bind(user.id)
    .fetch_all(&state.read_pool)
    .await?;
    Ok(Json(rows.into_iter().map(AddressView::from).collect()))
}
