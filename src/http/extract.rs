//! Extractors whose rejections are our problem+json errors, through the one input path
//! ([`super::input`]): control characters refused in bodies, queries and paths; every wrong
//! field named in the API's words.

use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{ApiError, FieldProblem};
use super::input;

/// A JSON body (`Content-Type: application/json` or `…+json`): 415 otherwise, 413 past the
/// route's limit, 408 when it does not arrive in time, 400 naming every wrong field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Why a body could not be read, as the client should hear it.
pub fn body_error(rejection: &axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than this route accepts (JSON 1 MiB, images 5 MiB)",
        );
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = source {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            );
        }
        source = error.source();
    }
    ApiError::bad_request("the body could not be read")
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a JSON body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(&e))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::bad_request(match e.classify() {
                serde_json::error::Category::Eof => "the body ends before its JSON does".to_owned(),
                _ => format!(
                    "the body is not well-formed JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            })
        })?;
        input::decode(value).map(Json).map_err(ApiError::fields)
    }
}

/// A query string: 400 naming the parameter that holds a control character, is unknown or
/// has the wrong type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or_default();
        let problems: Vec<FieldProblem> = form_urlencoded::parse(raw.as_bytes())
            .filter_map(|(key, value)| {
                input::check_plain(&key, &key)
                    .map(|p| FieldProblem {
                        field: key.escape_debug().to_string(),
                        ..p
                    })
                    .or_else(|| input::check_plain(&key, &value))
            })
            .collect();
        if !problems.is_empty() {
            return Err(ApiError::fields(problems));
        }
        // `?cursor=` with no value is the first page (a client that echoes a null
        // `next_cursor` as empty text).
        // Rebuilt only then: every other query string is read as it came.
        let empty_cursor = |(key, value): &(std::borrow::Cow<str>, std::borrow::Cow<str>)| {
            key == "cursor" && value.is_empty()
        };
        let rebuilt;
        let raw = if form_urlencoded::parse(raw.as_bytes()).any(|pair| empty_cursor(&pair)) {
            rebuilt = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form_urlencoded::parse(raw.as_bytes()).filter(|p| !empty_cursor(p)))
                .finish();
            rebuilt.as_str()
        } else {
            raw
        };
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let mut problem = input::explain_error(&error);
                if problem.message == input::NOT_A_FIELD {
                    "is not a parameter of this route".clone_into(&mut problem.message);
                }
                ApiError::fields(vec![problem])
            })
    }
}

/// Path parameters: 400 naming one that holds a control character; 404 for one that does
/// not parse (an id that is no UUID names no resource).
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::field("path", "must be UTF-8 once percent-decoded"))?;
        let problems: Vec<FieldProblem> = raw
            .iter()
            .filter_map(|(key, value)| input::check_plain(key, value))
            .collect();
        if !problems.is_empty() {
            return Err(ApiError::fields(problems));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|_| ApiError::not_found("no such resource: the id in the path is malformed"))
    }
}
