//! `POST /auth/register`, `/auth/login`, `/auth/refresh`, `/auth/logout`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::SessionView;
use crate::commands::accounts::{self, NewAccount, Tokens};
use crate::http::auth::User;
use crate::http::command::AnonymousCommand;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::Json;
use crate::http::with_position;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_account))
        .routes(routes!(create_session))
        .routes(routes!(refresh_session))
        .routes(routes!(end_session))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RegisterBody {
    #[schema(schema_with = crate::http::limits::email)]
    email: String,
    /// At least 8 characters.
    #[schema(schema_with = crate::http::limits::password)]
    password: String,
    #[schema(schema_with = crate::http::limits::person_name)]
    name: String,
    /// A Kenyan mobile number (`07…`, `01…`, `+254…`, `254…`).
    #[schema(schema_with = crate::http::limits::phone)]
    phone: Option<String>,
}

/// Opens a `customer` account and its first session.
#[utoipa::path(post, path = "/auth/register", tag = "accounts", request_body = RegisterBody,
    responses((status = 201, body = SessionView), (status = 400, body = Problem),
              (status = 409, description = "email already registered", body = Problem)))]
async fn register_account(
    State(state): State<AppState>,
    command: AnonymousCommand,
    Json(body): Json<RegisterBody>,
) -> Result<Response, ApiError> {
    let account = NewAccount::parse(
        &body.email,
        body.password,
        &body.name,
        body.phone.as_deref(),
    )?;
    let outcome =
        accounts::register(&state.commands, &command.ctx, Tokens::of(&state), account).await?;
    // The new account is the caller's own: `/me`.
    Ok(with_position(
        (
            StatusCode::CREATED,
            [(axum::http::header::LOCATION, "/me")],
            Json(SessionView::from(outcome.value)),
        ),
        outcome.position,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct LoginBody {
    email: String,
    password: String,
}

/// The address the request came from (the rate limiter's second key).
struct ClientIp(IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        Ok(Self(addr))
    }
}

/// Logs in. A wrong password and an unknown e-mail get the same 401; repeated failures for
/// one account or from one address are refused for a while (429 with `Retry-After`).
#[utoipa::path(post, path = "/auth/login", tag = "accounts", request_body = LoginBody,
    responses((status = 200, body = SessionView), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn create_session(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    command: AnonymousCommand,
    Json(body): Json<LoginBody>,
) -> Result<Json<SessionView>, ApiError> {
    let session = accounts::login(
        &state.commands,
        &command.ctx,
        Tokens::of(&state),
        &state.login_limiter,
        client,
        &body.email,
        body.password,
    )
    .await?;
    Ok(Json(session.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RefreshBody {
    refresh_token: String,
}

/// Spends a refresh token for a new pair. A spent token presented again revokes its whole
/// session (401).
#[utoipa::path(post, path = "/auth/refresh", tag = "accounts", request_body = RefreshBody,
    responses((status = 200, body = SessionView), (status = 400, body = Problem),
              (status = 401, body = Problem)))]
async fn refresh_session(
    State(state): State<AppState>,
    command: AnonymousCommand,
    Json(body): Json<RefreshBody>,
) -> Result<Json<SessionView>, ApiError> {
    let session = accounts::refresh(
        &state.commands,
        &command.ctx,
        Tokens::of(&state),
        &body.refresh_token,
    )
    .await?;
    Ok(Json(session.into()))
}

/// Ends the session the refresh token belongs to (a token of another session or user changes
/// nothing; logging out twice is fine).
#[utoipa::path(post, path = "/auth/logout", tag = "accounts", request_body = RefreshBody,
    security(("bearer" = [])),
    responses((status = 204), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn end_session(
    State(state): State<AppState>,
    user: User,
    Json(body): Json<RefreshBody>,
) -> Result<Response, ApiError> {
    accounts::logout(
        &state.commands,
        user.id,
        &body.refresh_token,
        chrono::Utc::now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
