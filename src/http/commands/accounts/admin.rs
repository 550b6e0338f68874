//! `PATCH /users/{id}` and `DELETE /users/{id}`: an admin changes or closes any account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{invalid, parse_optional};
use crate::auth::Role;
use crate::commands::accounts::{self, AdminUpdate};
use crate::domain::customer::UpdateProfile;
use crate::domain::phone::Msisdn;
use crate::domain::validate::{Actor, PersonName};
use crate::http::command::Command;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path};
use crate::http::views::UserView;
use crate::http::with_position;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(update_user, delete_user))
}

/// Absent or null fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UserBody {
    #[schema(schema_with = crate::http::limits::person_name)]
    name: Option<String>,
    #[schema(schema_with = crate::http::limits::phone)]
    phone: Option<String>,
    /// `customer`, `seller`, `admin` or `auditor`.
    #[schema(schema_with = crate::http::limits::role)]
    role: Option<String>,
    /// `true` blocks the account at once (its tokens stop working); `false` unblocks it.
    disabled: Option<bool>,
}

fn admin(command: &Command) -> Result<Actor, ApiError> {
    command.user.require(&[Role::Admin])?;
    Ok(Actor {
        id: command.user.id,
        role: command.user.role,
    })
}

/// Changes an account's name, phone, role or disabled flag (admins).
#[utoipa::path(patch, path = "/users/{id}", tag = "accounts", request_body = UserBody,
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn update_user(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
    Json(body): Json<UserBody>,
) -> Result<Response, ApiError> {
    let actor = admin(&command)?;
    let mut errors = Vec::new();
    let update = AdminUpdate {
        profile: UpdateProfile {
            name: parse_optional(body.name.as_deref(), PersonName::parse, &mut errors),
            phone: parse_optional(body.phone.as_deref(), Msisdn::parse, &mut errors),
            gender: None,
        },
        role: parse_optional(body.role.as_deref(), str::parse, &mut errors),
        disabled: body.disabled,
    };
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let outcome = accounts::update_user(&state.commands, &command.ctx, actor, id, update).await?;
    Ok(with_position(
        Json(UserView::from(&outcome.value)),
        outcome.position,
    ))
}

/// Closes an account for good (admins): it can no longer log in, its tokens stop working,
/// its e-mail may register again, and its personal data is erased.
#[utoipa::path(delete, path = "/users/{id}", tag = "accounts",
    params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_user(
    State(state): State<AppState>,
    command: Command,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let actor = admin(&command)?;
    let outcome = accounts::close_user(&state.commands, &command.ctx, actor, id).await?;
    Ok(with_position(StatusCode::NO_CONTENT, outcome.position))
}
