//! Verification of the log, and signed checkpoints of every stream's head.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::Auditor;
use crate::audit::checkpoint::{self, Checkpoint};
use crate::audit::verify::{self, AuditReport};
use crate::auth::Role;
use crate::http::command::Command;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::Json;
use crate::http::with_position;
use crate::state::AppState;

/// Recomputes every hash chain and checks the log against the latest checkpoint (signature,
/// Merkle root, and no stream behind or missing its checkpointed head). `ok` is false and
/// `failures` names stream and version of each problem.
#[utoipa::path(get, path = "/audit/verify", tag = "audit",
    responses((status = 200, body = AuditReport), (status = 401, body = Problem),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn verify_log(
    _: Auditor,
    State(state): State<AppState>,
) -> Result<Json<AuditReport>, ApiError> {
    Ok(Json(verify::verify(&state.store).await?))
}

/// Records a checkpoint of every stream's head now (admin). Publish its `merkle_root` and
/// `signature` elsewhere to anchor it.
#[utoipa::path(post, path = "/audit/checkpoints", tag = "audit",
    responses((status = 201, body = Checkpoint), (status = 401, body = Problem),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn record_checkpoint(
    command: Command,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    command.user.require(&[Role::Admin])?;
    let (checkpoint, position) = checkpoint::record(&state.store, command.ctx.metadata()).await?;
    Ok(with_position(
        (StatusCode::CREATED, Json(checkpoint)).into_response(),
        Some(position),
    ))
}

/// The latest checkpoint, to publish or compare with a published one.
#[utoipa::path(get, path = "/audit/checkpoints/latest", tag = "audit",
    responses((status = 200, body = Checkpoint), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_latest_checkpoint(
    _: Auditor,
    State(state): State<AppState>,
) -> Result<Json<Checkpoint>, ApiError> {
    checkpoint::latest(&state.store)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("no checkpoint has been recorded yet"))
}
