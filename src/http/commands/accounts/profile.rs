//! `PATCH /me` and `PUT /me/avatar`: the signed-in user changes their own account.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::{invalid, parse_optional};
use crate::auth::image::MAX_IMAGE_BYTES;
use crate::commands::accounts;
use crate::domain::customer::UpdateProfile;
use crate::domain::phone::Msisdn;
use crate::domain::validate::{Gender, PersonName};
use crate::http::command::Command;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::Json;
use crate::http::views::UserView;
use crate::http::with_position;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(update_profile))
        .routes(routes!(change_avatar).layer(DefaultBodyLimit::max(MAX_IMAGE_BYTES)))
}

/// Absent or null fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileBody {
    #[schema(schema_with = crate::http::limits::person_name)]
    pub name: Option<String>,
    #[schema(schema_with = crate::http::limits::phone)]
    pub phone: Option<String>,
    #[schema(schema_with = crate::http::limits::gender)]
    pub gender: Option<String>,
}

impl ProfileBody {
    pub(super) fn parse(
        &self,
        errors: &mut Vec<crate::domain::validate::FieldError>,
    ) -> UpdateProfile {
        UpdateProfile {
            name: parse_optional(self.name.as_deref(), PersonName::parse, errors),
            phone: parse_optional(self.phone.as_deref(), Msisdn::parse, errors),
            gender: parse_optional(self.gender.as_deref(), Gender::parse, errors),
        }
    }
}

/// Changes the signed-in user's name, phone or gender.
#[utoipa::path(patch, path = "/me", tag = "accounts", request_body = ProfileBody,
    security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 400, body = Problem),
              (status = 401, body = Problem)))]
async fn update_profile(
    State(state): State<AppState>,
    command: Command,
    Json(body): Json<ProfileBody>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let update = body.parse(&mut errors);
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let outcome =
        accounts::update_profile(&state.commands, &command.ctx, command.user.id, update).await?;
    Ok(with_position(
        Json(UserView::from(&outcome.value)),
        outcome.position,
    ))
}

/// Sets the signed-in user's avatar: the body is a PNG, JPEG or WebP image of at most 5 MiB
/// (recognised by its bytes; a declared `image/*` Content-Type must match them).
#[utoipa::path(put, path = "/me/avatar", tag = "accounts",
    request_body(content = Vec<u8>, content_type = "image/png"),
    security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem)))]
async fn change_avatar(
    State(state): State<AppState>,
    command: Command,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the image is larger than 5 MiB",
        ),
        _ => ApiError::bad_request(rejection.body_text()),
    })?;
    // Checked as on every image route: absent, or the image type the bytes are.
    let declared = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let image = crate::images::save(&state.pool, &bytes, declared)
        .await?
        .map_err(|e| {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            ApiError::new(status, e.to_string())
        })?;
    let outcome =
        accounts::change_avatar(&state.commands, &command.ctx, command.user.id, image.id).await?;
    Ok(with_position(
        Json(UserView::from(&outcome.value)),
        outcome.position,
    ))
}
