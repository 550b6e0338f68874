//! One error type for every failure an HTTP client can see, rendered as
//! `application/problem+json` with the status API.md gives. 5xx bodies are generic; the cause
//! is logged once, here. The aggregates' rules are mapped in one place, [`domain`].

mod domain;

pub use domain::short_lines;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::commands::{CommandError, Rejection, RejectionKind};
use crate::store::StoreError;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// RFC 9457 problem details.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// Extra machine-readable detail, e.g. the short lines of a checkout.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub extra: Option<serde_json::Value>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldProblem>,
    extra: Option<serde_json::Value>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            errors: Vec::new(),
            extra: None,
            retry_after: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    /// A 400 naming the field that is wrong.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let field = field.into();
        Self {
            errors: vec![FieldProblem {
                field: field.clone(),
                message: message.clone(),
            }],
            ..Self::bad_request(format!("{field}: {message}"))
        }
    }

    pub fn fields(errors: Vec<FieldProblem>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            errors,
            ..Self::bad_request(detail)
        }
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server could not complete the request",
        )
    }

    pub fn unavailable(detail: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, detail)
        }
    }

    pub fn too_many(detail: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, detail)
        }
    }

    /// The same problem with another status (e.g. a 404 that names the field).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.extra = Some(extra);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

pub fn problem_response(
    status: StatusCode,
    detail: String,
    errors: Vec<FieldProblem>,
    extra: Option<serde_json::Value>,
) -> Response {
    let title = status.canonical_reason().unwrap_or("Error").to_owned();
    let slug = title.to_lowercase().replace(' ', "-");
    let body = Problem {
        kind: format!("https://tillroll.dev/problems/{slug}"),
        title,
        status: status.as_u16(),
        detail,
        errors,
        extra,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Any error answer that is not JSON (axum's own rejections of a body outside our extractors,
/// a body deadline) becomes problem+json, keeping the headers that
/// tell the client what to do (`Allow`, `Retry-After`, `WWW-Authenticate`).
pub async fn problem_fallback(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // JSON answers are deliberate (problems, `/ready`'s report); axum's and tower's own are
    // plain text or empty.
    let deliberate = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/") && v.contains("json"));
    if deliberate {
        return response;
    }
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the body is larger than this route accepts (JSON 1 MiB, images 5 MiB)"
        }
        StatusCode::REQUEST_TIMEOUT => "the request did not arrive in time",
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "this route does not take that content type",
        s if s.is_server_error() => "the server could not complete the request",
        _ => "the request cannot be served",
    };
    let mut problem = problem_response(status, detail.to_owned(), Vec::new(), None);
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = response.headers().get(&name) {
            problem.headers_mut().insert(name, value.clone());
        }
    }
    // Every 401 says how to authenticate (RFC 6750 §3), whoever produced it.
    if status == StatusCode::UNAUTHORIZED {
        problem
            .headers_mut()
            .entry(header::WWW_AUTHENTICATE)
            .or_insert(HeaderValue::from_static("Bearer realm=\"tillroll\""));
    }
    problem
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = problem_response(self.status, self.detail, self.errors, self.extra);
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tillroll\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        let status = match rejection.kind {
            RejectionKind::Invalid => StatusCode::BAD_REQUEST,
            RejectionKind::Unauthorized => StatusCode::UNAUTHORIZED,
            RejectionKind::Forbidden => StatusCode::FORBIDDEN,
            RejectionKind::NotFound => StatusCode::NOT_FOUND,
            RejectionKind::Conflict => StatusCode::CONFLICT,
        };
        let mut error = match rejection.field {
            Some(field) => Self {
                status,
                ..Self::field(field, rejection.message)
            },
            None => Self::new(status, rejection.message),
        };
        error.extra = rejection.detail;
        error
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Rejected(rejection) => rejection.into(),
            CommandError::Domain(error) => error.into(),
            CommandError::Conflict(stream) => {
                Self::conflict(format!("{stream} was changed concurrently; try again"))
            }
            CommandError::Store(error) => error.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { stream_id, .. } => {
                Self::conflict(format!("{stream_id} was changed concurrently; try again"))
            }
            StoreError::Database(error) => error.into(),
            StoreError::Unsequenced => Self::unavailable(
                "that event is committed but not yet in the log's order; try again",
                1,
            ),
            other => Self::internal(other),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    /// The database out of reach or out of connections is a 503 with `Retry-After`, not a
    /// 500: the request may well succeed in a moment (API.md, Operations).
    fn from(error: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&error) {
            tracing::warn!(%error, "database unavailable");
            return Self::unavailable("the database is unavailable; try again shortly", 1);
        }
        if crate::commands::is_retryable(&error) {
            return Self::conflict("the request raced another; try again");
        }
        Self::internal(error)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a JSON body with Content-Type: application/json",
            ),
            JsonRejection::JsonDataError(e) => json_data_error(&e.body_text()),
            JsonRejection::JsonSyntaxError(e) => {
                Self::bad_request(format!("malformed JSON: {}", e.body_text()))
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is larger than the limit",
            ),
            other => Self::new(other.status(), other.body_text()),
        }
    }
}

/// serde's messages look like "Failed to deserialize the JSON body into the target type:
/// items[0].quantity: invalid type: …"; pull the path out as the field.
fn json_data_error(text: &str) -> ApiError {
    let message = text
        .split_once("target type: ")
        .map_or(text, |(_, rest)| rest);
    match message.split_once(": ") {
        Some((path, why)) if !path.contains(' ') => ApiError::field(path, why),
        _ => {
            let field = message
                .split_once("missing field `")
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(f, _)| f.to_owned());
            match field {
                Some(field) => ApiError::field(field, "is required"),
                None => ApiError::bad_request(message.to_owned()),
            }
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::not_found(format!("no such resource: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let text = rejection.body_text();
        let message = text
            .split_once("query string: ")
            .map_or(text.as_str(), |(_, rest)| rest);
        match message.split_once(": ") {
            Some((field, why)) if !field.contains(' ') => Self::field(field, why),
            _ => Self::bad_request(message.to_owned()),
        }
    }
}
