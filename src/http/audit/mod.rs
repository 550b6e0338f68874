//! The audit routes (auditor and admin only): `/audit/*` and the live feed `/events/live`.
//! They read the event store itself, never a read model.

mod events;
mod live;
mod orders;
mod tree;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::User;
use super::error::ApiError;
use crate::auth::Role;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(orders::get_order_history))
        .routes(routes!(orders::get_order_at))
        .routes(routes!(events::get_stream))
        .routes(routes!(events::export_events))
        .routes(routes!(tree::verify_log))
        .routes(routes!(tree::get_latest_tree_head))
        .routes(routes!(tree::list_tree_heads))
        .routes(routes!(tree::get_inclusion_proof))
        .routes(routes!(tree::get_consistency_proof))
        .routes(routes!(tree::get_public_key))
        .routes(routes!(live::get_live_events))
}

/// An auditor or an admin: anyone else gets 403, no token 401.
#[derive(Debug, Clone, Copy)]
pub struct Auditor(pub User);

impl FromRequestParts<AppState> for Auditor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = User::from_request_parts(parts, state).await?;
        user.require(&[Role::Auditor, Role::Admin])?;
        Ok(Self(user))
    }
}
