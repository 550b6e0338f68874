//! `POST /users`: an admin creates an account of any role (API.md, Accounts).

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{invalid, parse_optional};
use crate::auth::Role;
use crate::commands::accounts::{self, NewAccount};
use crate::http::command::Command;
use crate::http::created;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::Json;
use crate::http::views::UserView;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_user))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
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
    /// `customer` (default), `seller`, `admin` or `auditor`.
    #[schema(schema_with = crate::http::limits::role)]
    role: Option<String>,
}

/// Creates an account of any role (admins); the user logs in with the password given.
#[utoipa::path(post, path = "/users", tag = "accounts", request_body = NewUserBody,
    security(("bearer" = [])),
    responses((status = 201, body = UserView,
                headers(("Location" = String, description = "`/users/{id}`"))),
              (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 409, description = "email already registered", body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    command: Command,
    Json(body): Json<NewUserBody>,
) -> Result<Response, ApiError> {
    command.user.require(&[Role::Admin])?;
    let mut errors = Vec::new();
    let role = parse_optional(body.role.as_deref(), str::parse, &mut errors);
    let account = NewAccount::parse(
        &body.email,
        body.password,
        &body.name,
        body.phone.as_deref(),
    );
    let account = match account {
        Ok(account) if errors.is_empty() => account,
        Ok(_) => return Err(invalid(errors)),
        Err(accounts::AccountError::Invalid(mut more)) => {
            more.append(&mut errors);
            return Err(invalid(more));
        }
        Err(other) => return Err(other.into()),
    };
    let role = role.unwrap_or(Role::Customer);
    let outcome = accounts::create_user(&state.commands, &command.ctx, account, role).await?;
    let user = UserView::from(&outcome.value);
    Ok(created(
        &format!("/users/{}", user.id),
        Json(user),
        outcome.position,
    ))
}
