//! The accounts commands: sessions (`/auth/*`), the signed-in user's profile (`/me`) and the
//! admin's changes to any account (`/users/{id}`). The logic is in `commands::accounts`.

mod admin;
mod profile;
mod sessions;
mod users;
mod verify;

use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;

use crate::commands::accounts::{AccountError, Session};
use crate::domain::validate::FieldError;
use crate::http::error::{ApiError, FieldProblem};
use crate::http::views::UserView;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    sessions::router()
        .merge(profile::router())
        .merge(admin::router())
        .merge(users::router())
        .merge(verify::router())
}

/// What registering, logging in and refreshing answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    user: UserView,
    access_token: String,
    /// Opaque; spent by `POST /auth/refresh`, which hands out the next one.
    refresh_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
}

impl From<Session> for SessionView {
    fn from(session: Session) -> Self {
        Self {
            user: UserView::from(&session.account),
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            token_type: "Bearer",
            expires_in: session.expires_in,
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::Command(error) => error.into(),
            AccountError::Invalid(errors) => invalid(errors),
            AccountError::RateLimited(wait) => ApiError::too_many(wait.to_string(), wait.secs()),
            AccountError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// A 400 naming every wrong field.
fn invalid(errors: Vec<FieldError>) -> ApiError {
    ApiError::fields(
        errors
            .into_iter()
            .map(|e| FieldProblem {
                field: e.field.to_owned(),
                message: e.message,
            })
            .collect(),
    )
}

/// Collects the first error of each field parsed with `parse`.
fn parse_optional<T>(
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, FieldError>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    raw.map(parse).transpose().unwrap_or_else(|error| {
        errors.push(error);
        None
    })
}
