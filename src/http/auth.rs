//! The authenticated caller, from `Authorization: Bearer <access token>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use super::error::ApiError;
use crate::auth::Role;
use crate::commands::accounts::blocks;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub role: Role,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Admins and auditors see everything; auditors change nothing.
    pub fn sees_everything(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Auditor)
    }

    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the role {}",
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )))
        }
    }

    /// Commands are for everyone but auditors.
    pub fn may_command(&self) -> Result<(), ApiError> {
        if self.role == Role::Auditor {
            Err(ApiError::forbidden("auditors cannot issue commands"))
        } else {
            Ok(())
        }
    }
}

pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?;
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token =
            bearer(parts).ok_or_else(|| ApiError::unauthorized("missing bearer access token"))?;
        let claims = state
            .jwt
            .verify(token, chrono::Utc::now())
            .map_err(|_| ApiError::unauthorized("invalid or expired access token"))?;
        // A disabled or closed account's tokens stop working before they expire, and a role
        // changed since the token was issued applies to it.
        let access = blocks::access(&state.pool, claims.sub).await?;
        if access.blocked {
            return Err(ApiError::unauthorized("invalid or expired access token"));
        }
        Ok(User {
            id: claims.sub,
            role: access.role.unwrap_or(claims.role),
        })
    }
}

/// The caller if a valid token was sent; anonymous otherwise. A token that is present but
/// invalid is still a 401, so clients learn their token expired.
#[derive(Debug, Clone, Copy)]
pub struct MaybeUser(pub Option<User>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_none() {
            return Ok(Self(None));
        }
        User::from_request_parts(parts, state)
            .await
            .map(|u| Self(Some(u)))
    }
}
