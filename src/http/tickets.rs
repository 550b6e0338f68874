//! `POST /auth/sse-ticket` and the `?ticket=` that every Server-Sent Events route accepts in
//! place of `Authorization` (a browser's `EventSource` cannot send headers). A ticket is 32
//! random bytes, lives 60 s, is bound to the user who asked for it and works once: it is
//! consumed by deleting its row in Postgres, so two uses — on one node or on two — cannot
//! both succeed.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::{User, bearer};
use super::error::{ApiError, Problem};
use super::extract::Json;
use crate::auth::Role;
use crate::commands::accounts::blocks;
use crate::state::AppState;

/// How long a ticket may wait to be used: long enough to open a stream, too short to be
/// worth stealing from a log.
pub const TICKET_SECONDS: u64 = 60;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(issue_sse_ticket))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SseTicket {
    /// Send as `?ticket=` to an SSE route, once, within `expires_in` seconds.
    ticket: String,
    #[schema(example = 60)]
    expires_in: u64,
}

fn hash(ticket: &str) -> Vec<u8> {
    Sha256::digest(ticket.as_bytes()).to_vec()
}

/// A single-use ticket for `EventSource`, bound to the caller.
#[utoipa::path(post, path = "/auth/sse-ticket", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = SseTicket, description = "a ticket, valid 60 s, once"),
        (status = 401, body = Problem)))]
async fn issue_sse_ticket(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<SseTicket>, ApiError> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let ticket = URL_SAFE_NO_PAD.encode(bytes);
    let mut tx = state.pool.begin().await?;
    sqlx::query("DELETE FROM sse_tickets WHERE expires_at < now()")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO sse_tickets (ticket_hash, account_id, role, expires_at) \
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(hash(&ticket))
    .bind(user.id)
    .bind(user.role.as_str())
    .bind(TICKET_SECONDS as f64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(SseTicket {
        ticket,
        expires_in: TICKET_SECONDS,
    }))
}

/// The caller of an SSE route: from `?ticket=` (consumed here) or, without one, from
/// `Authorization` like every other route. A ticket with a bearer token of another user is
/// refused: a ticket speaks only for the user it was issued to.
#[derive(Debug, Clone, Copy)]
pub struct StreamUser(pub User);

fn ticket_of(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "ticket")
        .map(|(_, value)| value.into_owned())
}

impl FromRequestParts<AppState> for StreamUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(ticket) = ticket_of(parts) else {
            return User::from_request_parts(parts, state).await.map(Self);
        };
        let refused = || ApiError::unauthorized("invalid, expired or already used SSE ticket");
        let row: Option<(uuid::Uuid, String)> = sqlx::query_as(
            "DELETE FROM sse_tickets WHERE ticket_hash = $1 AND expires_at > now() \
             RETURNING account_id, role",
        )
        .bind(hash(&ticket))
        .fetch_optional(&state.pool)
        .await?;
        let (id, role) = row.ok_or_else(refused)?;
        if bearer(parts).is_some() {
            let other = User::from_request_parts(parts, state).await?;
            if other.id != id {
                return Err(refused());
            }
        }
        // As for a token: a blocked account's tickets stop working, a changed role applies.
        let access = blocks::access(&state.pool, id).await?;
        if access.blocked {
            return Err(refused());
        }
        let issued = Role::parse(&role).map_err(|_| refused())?;
        Ok(Self(User {
            id,
            role: access.role.unwrap_or(issued),
        }))
    }
}
