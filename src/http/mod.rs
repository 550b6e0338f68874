//! The HTTP face: a `commands` router (state changes; idempotency keys; `X-Log-Position`), a
//! `queries` router (read models only; `X-Min-Position`), `audit`, and `ops`. Every failure is
//! `application/problem+json`, axum's own rejections included.

pub mod audit;
pub mod auth;
pub mod command;
pub mod commands;
pub mod consistency;
pub mod error;
pub mod extract;
mod idempotency;
pub(crate) mod input;
mod limits;
mod observe;
mod openapi;
mod openapi_input;
pub mod ops;
mod params;
pub mod queries;
pub mod server;
pub mod tickets;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::config::CorsOrigins;
use crate::state::AppState;
use error::ApiError;

/// JSON bodies; image uploads raise their own limit.
pub const JSON_LIMIT: usize = 1024 * 1024;
pub const REQUEST_ID: &str = "x-request-id";

#[derive(OpenApi)]
#[openapi(
    info(title = "tillroll", description = "An event-sourced commerce backend: every change is an event."),
    components(schemas(error::Problem, error::FieldProblem)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The whole API and its OpenAPI document.
pub fn api(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let commands = commands::router().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        idempotency::idempotency,
    ));
    let queries = queries::router().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        consistency::wait_for_position,
    ));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(commands)
        .merge(queries)
        .merge(ops::router())
        .merge(audit::router())
        .merge(tickets::router())
        .split_for_parts()
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api(&state);
    let document = Arc::new(openapi::finish(
        serde_json::to_value(&openapi).expect("the OpenAPI document serialises"),
    ));
    let known_params = Arc::new(params::KnownParams::of(&document));
    let commands_and_queries = api
        .merge(ops::unlisted())
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        });

    let request_id = HeaderName::from_static(REQUEST_ID);
    commands_and_queries
        .layer(axum::middleware::from_fn_with_state(
            known_params,
            params::refuse_unknown,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .layer(cors(&state.config.cors))
        .layer(axum::middleware::map_response(error::problem_fallback))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

fn cors(origins: &CorsOrigins) -> CorsLayer {
    let allow = match origins {
        CorsOrigins::None => return CorsLayer::new(),
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        ),
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            HeaderName::from_static(idempotency::HEADER),
            HeaderName::from_static(consistency::MIN_POSITION),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            HeaderName::from_static(consistency::LOG_POSITION),
            header::RETRY_AFTER,
            header::ETAG,
        ])
        .max_age(Duration::from_secs(600))
}

/// Every command response carries the position of its last event.
pub fn with_position(
    response: impl IntoResponse,
    position: Option<i64>,
) -> axum::response::Response {
    let mut response = response.into_response();
    if let Some(position) = position {
        response.headers_mut().insert(
            HeaderName::from_static(consistency::LOG_POSITION),
            HeaderValue::from(position),
        );
    }
    response
}

/// A command's answer: the view of what it decided (`V` built from the aggregate), 200, with
/// the position of its last event.
pub fn answer<V, A>(outcome: &crate::commands::Outcome<A>) -> axum::response::Response
where
    V: serde::Serialize + for<'a> From<&'a A>,
{
    with_position(axum::Json(V::from(&outcome.value)), outcome.position)
}

/// A 201 with `Location` naming what was made, and the position of its last event.
pub fn created(
    location: &str,
    body: impl IntoResponse,
    position: Option<i64>,
) -> axum::response::Response {
    let mut response = (StatusCode::CREATED, body).into_response();
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    with_position(response, position)
}
