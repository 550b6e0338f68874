//! Catalog commands over HTTP: `POST /products`, `PATCH` and `DELETE /products/{id}`,
//! `PUT /products/{id}/image`. Bodies are read field by field ([`body::Body`]).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::Role;
use crate::auth::image::{ImageError, MAX_IMAGE_BYTES, check_image};
use crate::commands::catalog::{self, CheckedImage, NewProduct, ProductChanges};
use crate::domain::money::{Price, parse_currency};
use crate::domain::phone::Msisdn;
use crate::domain::validate::{Actor, CategorySlug, Description, FieldError, ProductName};
use crate::http::auth::User;
use crate::http::command::Command;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path};
use crate::http::views::ProductView;
use crate::http::{answer, created, with_position};
use crate::state::AppState;
use body::Body;

pub(super) mod body;

pub fn router() -> OpenApiRouter<AppState> {
    let image = OpenApiRouter::new()
        .routes(routes!(put_product_image))
        .layer(DefaultBodyLimit::max(MAX_IMAGE_BYTES));
    OpenApiRouter::new()
        .routes(routes!(create_product))
        .routes(routes!(update_product, delete_product))
        .merge(image)
}

pub(super) fn actor(user: &User) -> Actor {
    Actor {
        id: user.id,
        role: user.role,
    }
}

fn text<T>(
    parse: fn(&str) -> Result<T, FieldError>,
) -> impl FnOnce(String) -> Result<T, FieldError> {
    move |raw: String| parse(&raw)
}

fn currency(raw: String) -> Result<crate::domain::money::Currency, FieldError> {
    parse_currency(Some(&raw))
}

/// The fields of `POST /products`.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "documents the body, which is read field by field")]
pub struct CreateProductBody {
    #[schema(schema_with = crate::http::limits::product_name)]
    name: String,
    #[schema(schema_with = crate::http::limits::description)]
    description: Option<String>,
    /// A slug like `home-office`; a new slug creates a category.
    #[schema(schema_with = crate::http::limits::category)]
    category: String,
    /// Minor units, `1 ..= 10^12`.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    price: i64,
    /// Only `KES`, the default.
    #[schema(schema_with = crate::http::limits::currency)]
    currency: Option<String>,
    /// The opening count, `≥ 0` (default 0).
    #[schema(minimum = 0)]
    initial_stock: Option<i64>,
    /// A Kenyan mobile number, e.g. `0712345678`.
    #[schema(schema_with = crate::http::limits::phone)]
    payout_phone: Option<String>,
}

/// Any of the fields of `POST /products` but `initial_stock`.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "documents the body, which is read field by field")]
pub struct UpdateProductBody {
    #[schema(schema_with = crate::http::limits::product_name)]
    name: Option<String>,
    #[schema(schema_with = crate::http::limits::description)]
    description: Option<String>,
    #[schema(schema_with = crate::http::limits::category)]
    category: Option<String>,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    price: Option<i64>,
    #[schema(schema_with = crate::http::limits::currency)]
    currency: Option<String>,
    #[schema(schema_with = crate::http::limits::phone)]
    payout_phone: Option<String>,
}

const CREATE_FIELDS: [&str; 7] = [
    "name",
    "description",
    "category",
    "price",
    "currency",
    "initial_stock",
    "payout_phone",
];

fn new_product(body: Value) -> Result<NewProduct, ApiError> {
    let mut body = Body::object(body, &CREATE_FIELDS)?;
    let name = body.required("name", text(ProductName::parse));
    let description = body.optional("description", text(Description::parse));
    let category = body.required("category", text(CategorySlug::parse));
    let price = body.required("price", Price::parse);
    let currency = body.optional("currency", currency);
    let initial_stock = body.optional("initial_stock", |n: i64| {
        (n >= 0)
            .then_some(n)
            .ok_or_else(|| FieldError::new("initial_stock", "must not be negative"))
    });
    let payout_phone = body.optional("payout_phone", text(Msisdn::parse));
    body.finish()?;
    let (Some(name), Some(category), Some(price)) = (name, category, price) else {
        return Err(ApiError::bad_request(
            "name, category and price are required",
        ));
    };
    let description = match description {
        Some(description) => description,
        None => Description::parse("").map_err(|e| ApiError::field("description", e.message))?,
    };
    Ok(NewProduct {
        name,
        description,
        category,
        price,
        currency: currency.unwrap_or_default(),
        payout_phone,
        initial_stock: initial_stock.unwrap_or(0),
    })
}

fn product_changes(body: Value) -> Result<ProductChanges, ApiError> {
    let mut body = Body::object(body, &CREATE_FIELDS)?;
    body.refuse(
        "initial_stock",
        "stock changes through PUT /products/{id}/stock",
    );
    let changes = ProductChanges {
        name: body.optional("name", text(ProductName::parse)),
        description: body.optional("description", text(Description::parse)),
        category: body.optional("category", text(CategorySlug::parse)),
        price: body.optional("price", Price::parse),
        currency: body.optional("currency", currency),
        payout_phone: body.optional("payout_phone", text(Msisdn::parse)),
    };
    body.finish()?;
    Ok(changes)
}

/// List a product with its opening stock (sellers and admins).
#[utoipa::path(post, path = "/products", tag = "catalog", request_body = CreateProductBody,
    security(("bearer" = [])),
    responses((status = 201, body = ProductView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn create_product(
    State(state): State<AppState>,
    command: Command,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    command.user.require(&[Role::Seller, Role::Admin])?;
    let new = new_product(body)?;
    let outcome =
        catalog::list_product(&state.commands, &command.ctx, actor(&command.user), new).await?;
    let view = ProductView::from(&outcome.value);
    let location = format!("/products/{}", view.id);
    Ok(created(&location, Json(view), outcome.position))
}

/// Change a product's details or price (its seller or an admin).
#[utoipa::path(patch, path = "/products/{id}", tag = "catalog", request_body = UpdateProductBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = ProductView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn update_product(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let changes = product_changes(body)?;
    let outcome = catalog::update_product(
        &state.commands,
        &command.ctx,
        actor(&command.user),
        id,
        changes,
    )
    .await?;
    Ok(answer::<ProductView, _>(&outcome))
}

/// Withdraw a product from the listings (its seller or an admin); its history stays.
#[utoipa::path(delete, path = "/products/{id}", tag = "catalog",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
async fn delete_product(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let outcome =
        catalog::withdraw_product(&state.commands, &command.ctx, actor(&command.user), id).await?;
    Ok(with_position(StatusCode::NO_CONTENT, outcome.position))
}

/// Set a product's picture: PNG, JPEG or WebP bytes (checked by content), at most 5 MiB.
#[utoipa::path(put, path = "/products/{id}/image", tag = "catalog",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    request_body(content((Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"),
        (Vec<u8> = "image/webp"))),
    responses((status = 200, body = ProductView), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem)))]
async fn put_product_image(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body.map_err(body_error)?;
    let declared = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let kind = check_image(&bytes, declared).map_err(image_error)?;
    let image = CheckedImage { bytes, kind };
    let outcome = catalog::set_product_image(
        &state.commands,
        &command.ctx,
        actor(&command.user),
        id,
        image,
    )
    .await?;
    Ok(answer::<ProductView, _>(&outcome))
}

fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        image_error(ImageError::TooLarge)
    } else {
        ApiError::new(rejection.status(), rejection.body_text())
    }
}

pub(super) fn image_error(error: ImageError) -> ApiError {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    ApiError::new(status, error.to_string())
}
