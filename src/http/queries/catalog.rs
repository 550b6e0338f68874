//! Catalog queries over the `products` and `categories` read models: `GET /products`
//! (search, filters, sorts, pages), `GET /products/{id}`, `GET /categories`, `GET /home`.
//! Withdrawn products are never listed.

pub mod listing;

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::http::auth::MaybeUser;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path, Query};
use crate::http::views::product::ProductView;
pub use crate::http::views::product::{PRODUCT_COLUMNS as COLUMNS, ProductRow};
use crate::state::AppState;
use listing::{Filters, ProductQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products))
        .routes(routes!(get_product))
        .routes(routes!(list_categories))
        .routes(routes!(get_home))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductPage {
    pub items: Vec<ProductView>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// With `?count=true`: how many products match the filter, on every page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CategoryView {
    pub slug: String,
    pub name: String,
    /// Listed (not withdrawn) products.
    pub product_count: i64,
}

/// Search and browse the catalog.
#[utoipa::path(get, path = "/products", tag = "catalog", params(ProductQuery),
    responses((status = 200, body = ProductPage), (status = 400, body = Problem)))]
async fn list_products(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Query(query): Query<ProductQuery>,
) -> Result<Json<ProductPage>, ApiError> {
    let filters = Filters::try_from(query)?;
    let page = listing::list(&state.read_pool, &filters, viewer.as_ref()).await?;
    Ok(Json(page))
}

/// One listed product.
#[utoipa::path(get, path = "/products/{id}", tag = "catalog", params(("id" = Uuid, Path)),
    responses((status = 200, body = ProductView), (status = 404, body = Problem)))]
async fn get_product(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(id): Path<Uuid>,
) -> Result<Json<ProductView>, ApiError> {
    let sql = format!("SELECT {COLUMNS} FROM products WHERE id = $1 AND NOT withdrawn");
    let row: Option<ProductRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&state.read_pool)
        .await?;
    row.map(|r| Json(r.view_for(viewer.as_ref())))
        .ok_or_else(|| ApiError::not_found("product not found"))
}

/// Every category ever used, with how many listed products it has (0 included).
#[utoipa::path(get, path = "/categories", tag = "catalog",
    responses((status = 200, body = Vec<CategoryView>)))]
async fn list_categories(
    State(state): State<AppState>,
) -> Result<Json<Vec<CategoryView>>, ApiError> {
    let categories = sqlx::query_as(
        "SELECT c.slug, c.name, count(p.id) AS product_count \
         FROM categories c LEFT JOIN products p ON p.category = c.slug AND NOT p.withdrawn \
         GROUP BY c.slug, c.name ORDER BY c.slug",
    )
    .fetch_all(&state.read_pool)
    .await?;
    Ok(Json(categories))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HomeQuery {
    /// Products per category, 1 to 50 (default 8).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 50)]
    per_category: Option<String>,
}

const MAX_PER_CATEGORY: i64 = 50;

#[derive(sqlx::FromRow)]
struct HomeRow {
    home_category: String,
    #[sqlx(flatten)]
    product: ProductRow,
}

/// The newest products of every category, keyed by category slug (an empty list for a
/// category with no listed products).
#[utoipa::path(get, path = "/home", tag = "catalog", params(HomeQuery),
    responses((status = 200, body = BTreeMap<String, Vec<ProductView>>),
        (status = 400, body = Problem)))]
async fn get_home(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Query(query): Query<HomeQuery>,
) -> Result<Json<BTreeMap<String, Vec<ProductView>>>, ApiError> {
    let per_category = match query.per_category.as_deref() {
        None => 8,
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_PER_CATEGORY).contains(n))
            .ok_or_else(|| {
                ApiError::field(
                    "per_category",
                    format!("must be a whole number from 1 to {MAX_PER_CATEGORY}"),
                )
            })?,
    };
    let slugs: Vec<String> = sqlx::query_scalar("SELECT slug FROM categories")
        .fetch_all(&state.read_pool)
        .await?;
    let mut home: BTreeMap<String, Vec<ProductView>> =
        slugs.into_iter().map(|s| (s, Vec::new())).collect();
    let sql = format!(
        "SELECT c.slug AS home_category, p.* FROM categories c CROSS JOIN LATERAL ( \
             SELECT {COLUMNS} FROM products WHERE category = c.slug AND NOT withdrawn \
             ORDER BY created_at DESC, id DESC LIMIT $1) p \
         ORDER BY c.slug, p.created_at DESC, p.id DESC"
    );
    let rows: Vec<HomeRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(per_category)
        .fetch_all(&state.read_pool)
        .await?;
    for row in rows {
        home.entry(row.home_category)
            .or_default()
            .push(row.product.view_for(viewer.as_ref()));
    }
    Ok(Json(home))
}
