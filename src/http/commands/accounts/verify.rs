//! `POST /auth/verify`: another service asks whether an access token is live (O-Mache's JWT
//! verify). Valid means signed by us, not expired, and of an account that is neither disabled
//! nor closed, with the role the account has now; anything else is the same 401.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::commands::accounts::blocks;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_token))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    /// An access token (a refresh token is not one).
    token: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Verified {
    /// Always `true`: an invalid token is a 401.
    valid: bool,
    user_id: Uuid,
    /// The account's role now (a role changed since the token was issued applies).
    #[schema(example = "customer")]
    role: String,
    expires_at: DateTime<Utc>,
}

/// Whether an access token is live, and whose it is.
#[utoipa::path(post, path = "/auth/verify", tag = "accounts", request_body = VerifyBody,
    responses((status = 200, body = Verified), (status = 400, body = Problem),
              (status = 401, description = "not a live access token of an enabled account",
                body = Problem)))]
async fn verify_token(
    State(state): State<AppState>,
    Json(body): Json<VerifyBody>,
) -> Result<Json<Verified>, ApiError> {
    let refused = || ApiError::unauthorized("not a live access token");
    let claims = state
        .jwt
        .verify(body.token.trim(), Utc::now())
        .map_err(|_| refused())?;
    let access = blocks::access(&state.pool, claims.sub).await?;
    if access.blocked {
        return Err(refused());
    }
    let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or_else(refused)?;
    Ok(Json(Verified {
        valid: true,
        user_id: claims.sub,
        role: access.role.unwrap_or(claims.role).as_str().to_owned(),
        expires_at,
    }))
}
