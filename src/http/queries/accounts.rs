//! Accounts from the `customers` read model: `GET /me`, and for admins `GET /users` and
//! `GET /users/{id}`. Closed accounts are gone: they are neither listed nor found.

use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::Role;
use crate::http::auth::User;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path, Query};
use crate::http::views::user::{USER_COLUMNS as COLUMNS, UserRow, UserView};
use crate::state::AppState;

use super::page::{self, Cursor, Page};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me))
        .routes(routes!(list_users))
        .routes(routes!(get_user))
}

async fn find_user(state: &AppState, id: Uuid) -> Result<UserView, ApiError> {
    let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customers WHERE id = $1 AND NOT closed"
    )))
    .bind(id)
    .fetch_optional(&state.read_pool)
    .await?;
    row.map(UserView::from)
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// The signed-in user's account.
#[utoipa::path(get, path = "/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem),
              (status = 404, body = Problem)))]
async fn get_me(State(state): State<AppState>, user: User) -> Result<Json<UserView>, ApiError> {
    find_user(&state, user.id).await.map(Json)
}

/// One account (admins).
#[utoipa::path(get, path = "/users/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_user(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    user.require(&[Role::Admin])?;
    find_user(&state, id).await.map(Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListUsers {
    /// Only accounts of this role: `customer`, `seller`, `admin` or `auditor`.
    #[param(schema_with = crate::http::limits::role)]
    role: Option<String>,
    /// Only disabled (`true`) or enabled (`false`) accounts.
    disabled: Option<bool>,
    /// Only accounts whose e-mail or name contains this text (any case).
    q: Option<String>,
    /// 1 to 100, default 20.
    #[param(schema_with = crate::http::limits::page_limit)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::http::limits::cursor)]
    cursor: Option<String>,
    /// `true` adds `total`, the accounts matching the filter.
    count: Option<bool>,
}

/// The accounts `GET /users` lists: `$1` role, `$2` disabled, `$3` text.
const USER_FILTER: &str = "NOT closed AND ($1::text IS NULL OR role = $1) \
    AND ($2::bool IS NULL OR disabled = $2) \
    AND ($3::text IS NULL OR email ILIKE $3 OR name ILIKE $3)";

pub type UserPage = Page<UserView>;

/// Accounts, newest first (admins).
#[utoipa::path(get, path = "/users", tag = "accounts", security(("bearer" = [])),
    params(ListUsers),
    responses((status = 200, body = Page<UserView>), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_users(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<ListUsers>,
) -> Result<Json<UserPage>, ApiError> {
    user.require(&[Role::Admin])?;
    let limit = page::limit(query.limit)?;
    let after = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let (after_at, after_id) = after.map(|c| (c.at, c.id)).unzip();
    let role = query
        .role
        .as_deref()
        .map(str::parse::<Role>)
        .transpose()
        .map_err(|e| ApiError::field("role", e.message))?;
    // `q` is matched literally: LIKE's wildcards in it are escaped.
    let q = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| {
            let escaped = q
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
    let role = role.map(|r| r.as_str());
    let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customers \
         WHERE {USER_FILTER} AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5)) \
         ORDER BY created_at DESC, id DESC LIMIT $6"
    )))
    .bind(role)
    .bind(query.disabled)
    .bind(q.clone())
    .bind(after_at)
    .bind(after_id)
    .bind(limit + 1)
    .fetch_all(&state.read_pool)
    .await?;
    let total = page::total(
        query.count,
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM customers WHERE {USER_FILTER}"
        )))
        .bind(role)
        .bind(query.disabled)
        .bind(q)
        .fetch_one(&state.read_pool),
    )
    .await?;
    Ok(Json(
        Page::of(
            rows,
            limit,
            |r| Cursor {
                at: r.created_at,
                id: r.id,
            },
            UserView::from,
        )
        .with_total(total),
    ))
}
