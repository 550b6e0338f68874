//! One stream's events, and the whole log as streamed NDJSON.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use tillroll_events::StreamId;

use super::Auditor;
use crate::audit::export::{self, Range};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Path, Query};
use crate::http::views::event::EventView;
use crate::state::AppState;

/// `[event]` of one stream, in version order.
#[utoipa::path(get, path = "/audit/streams/{stream_id}", tag = "audit",
    params(("stream_id" = String, Path, description = "e.g. `order-<uuid>`",
        pattern = "^[a-z_]+-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")),
    responses((status = 200, body = Vec<EventView>), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_stream(
    _: Auditor,
    State(state): State<AppState>,
    Path(stream_id): Path<String>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    let Some(stream) = StreamId::parse(&stream_id) else {
        return Err(ApiError::field("stream_id", "must be <category>-<uuid>"));
    };
    let events = state.store.read_stream(stream.as_str(), 0).await?;
    if events.is_empty() {
        return Err(ApiError::not_found("no stream with this id"));
    }
    Ok(Json(events.iter().map(EventView::from).collect()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Start after the event at this position (0, the default, is the start of the log).
    #[param(value_type = Option<i64>, minimum = 0)]
    after: Option<String>,
    /// At most this many events (≥ 1); without it, up to the head when the export started.
    #[param(value_type = Option<i64>, minimum = 1)]
    limit: Option<String>,
    /// Only events of these types (comma-separated), e.g. `OrderPlaced,PaymentConfirmed`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
}

fn parse_number(field: &str, raw: Option<&str>, min: i64) -> Result<Option<i64>, ApiError> {
    raw.map(|raw| {
        raw.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= min)
            .ok_or_else(|| ApiError::field(field, format!("must be an integer ≥ {min}")))
    })
    .transpose()
}

/// The log as `application/x-ndjson`, one `event` a line, in log order, streamed from the
/// database in batches.
#[utoipa::path(get, path = "/audit/events", tag = "audit", params(ExportQuery),
    responses((status = 200, content_type = "application/x-ndjson", body = EventView,
            description = "one event per line"),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn export_events(
    _: Auditor,
    State(state): State<AppState>,
    Query(query): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let after = parse_number("after", query.after.as_deref(), 0)?.unwrap_or(0);
    let limit = parse_number("limit", query.limit.as_deref(), 1)?.map(|n| n as u64);
    let types = query.event_type.as_deref().map(|t| {
        t.split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
    });
    let Some(after) = state.store.resolve(after).await? else {
        return Err(ApiError::field("after", "no event has this position"));
    };
    let until = state.store.head().await?;
    let range = Range {
        after,
        until,
        limit,
        types,
    };
    let body = export::ndjson(state.store.clone(), range)
        .map(|chunk| chunk.inspect_err(|error| tracing::error!(%error, "export stopped")));
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(body),
    )
        .into_response())
}
