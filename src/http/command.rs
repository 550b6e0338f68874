//! The command context of an HTTP request: the authenticated user (never an auditor), the
//! request id and the idempotency key, stamped into every event's metadata.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::auth::User;
use super::error::ApiError;
use crate::commands::CommandContext;
use crate::state::AppState;

/// Extract this in every command handler that needs a signed-in user.
#[derive(Debug, Clone)]
pub struct Command {
    pub user: User,
    pub ctx: CommandContext,
}

impl FromRequestParts<AppState> for Command {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = User::from_request_parts(parts, state).await?;
        user.may_command()?;
        let mut ctx = CommandContext::user(user.id, user.role.as_str(), chrono::Utc::now());
        ctx.request_id = header(parts, super::REQUEST_ID);
        ctx.idempotency_key = header(parts, super::idempotency::HEADER);
        Ok(Self { user, ctx })
    }
}

/// For commands anyone may send (register, login): no user, but the same request metadata.
#[derive(Debug, Clone)]
pub struct AnonymousCommand {
    pub ctx: CommandContext,
}

impl FromRequestParts<AppState> for AnonymousCommand {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let mut ctx = CommandContext::system(uuid::Uuid::now_v7(), chrono::Utc::now());
        ctx.actor_role = "anonymous".into();
        ctx.request_id = header(parts, super::REQUEST_ID);
        ctx.idempotency_key = header(parts, super::idempotency::HEADER);
        Ok(Self { ctx })
    }
}

fn header(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
