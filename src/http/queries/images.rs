//! `GET /images/{id}`: stored image bytes by content hash. The id is the SHA-256 of the
//! bytes, so the content never changes: a strong ETag and a year of immutable caching.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::image::etag;
use crate::domain::validate::is_image_id;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::Path;
use crate::state::AppState;

const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_image))
}

/// An image's bytes with their Content-Type; 304 when `If-None-Match` names it.
#[utoipa::path(get, path = "/images/{id}", tag = "images",
    params(("id" = String, Path, description = "hex SHA-256 of the bytes")),
    responses(
        (status = 200, content((Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"),
            (Vec<u8> = "image/webp"))),
        (status = 304), (status = 404, body = Problem)))]
async fn get_image(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found("image not found");
    if !is_image_id(&id) {
        return Err(not_found());
    }
    let tag = etag(&id);
    if matches_if_none_match(&headers, &tag) {
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM images WHERE id = $1")
            .bind(&id)
            .fetch_optional(&state.read_pool)
            .await?;
        exists.ok_or_else(not_found)?;
        return Ok(with_cache_headers(
            StatusCode::NOT_MODIFIED.into_response(),
            &tag,
        ));
    }
    let (content_type, bytes) = crate::images::load(&state.read_pool, &id)
        .await?
        .ok_or_else(not_found)?;
    let mut response = bytes.into_response();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(with_cache_headers(response, &tag))
}

fn with_cache_headers(mut response: Response, tag: &str) -> Response {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(tag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    response
}

/// RFC 9110 §13.1.2: `*`, or a list of entity tags compared weakly (`W/` ignored).
fn matches_if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn if_none_match_forms() {
        let tag = "\"ab\"";
        assert!(matches_if_none_match(&with(&["\"ab\""]), tag));
        assert!(matches_if_none_match(&with(&["*"]), tag));
        assert!(matches_if_none_match(&with(&["\"x\", W/\"ab\""]), tag));
        assert!(matches_if_none_match(&with(&["\"x\"", "\"ab\""]), tag));
        assert!(!matches_if_none_match(&with(&["\"x\""]), tag));
        assert!(!matches_if_none_match(&with(&["ab"]), tag));
        assert!(!matches_if_none_match(&HeaderMap::new(), tag));
    }
}
