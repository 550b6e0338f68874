//! `GET /events/live`: every new event as Server-Sent Events, `id:` = its position, resumable
//! with `Last-Event-ID`. One subscription from the resolved position serves catch-up and live
//! alike, so nothing is lost or repeated between them.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tillroll_events::LogPosition;

use crate::auth::Role;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::Query;
use crate::http::tickets::StreamUser;
use crate::http::views::event::EventView;
use crate::state::AppState;

const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// A connection is ended after this long (the client reconnects with `Last-Event-ID` and
/// misses nothing), so a graceful shutdown is never held up for long by a live feed.
const MAX_CONNECTION: Duration = Duration::from_secs(300);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// For clients that cannot send the header: as `Last-Event-ID`.
    last_event_id: Option<String>,
    /// From `POST /auth/sse-ticket`, in place of `Authorization` (for `EventSource`).
    #[expect(
        dead_code,
        reason = "read by the StreamUser extractor; declared for the document"
    )]
    ticket: Option<String>,
}

/// Where to start: after `Last-Event-ID` (header, else query), else at the current head.
async fn start(
    state: &AppState,
    headers: &HeaderMap,
    query: &LiveQuery,
) -> Result<LogPosition, ApiError> {
    let raw = match headers.get("last-event-id") {
        Some(value) => Some(value.to_str().unwrap_or("").to_owned()),
        None => query.last_event_id.clone(),
    };
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(state.store.head().await?);
    };
    let invalid = || ApiError::field("Last-Event-ID", "must be the id of an event of this feed");
    let position = raw.trim().parse::<i64>().map_err(|_| invalid())?;
    state.store.resolve(position).await?.ok_or_else(invalid)
}

/// All new events as `text/event-stream` (event: its type; data: an `event`; id: its
/// position), with keep-alive comments; resumes after `Last-Event-ID`. `?ticket=` from
/// `POST /auth/sse-ticket` stands in for `Authorization`.
#[utoipa::path(get, path = "/events/live", tag = "audit", params(LiveQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "resume after this position")),
    responses((status = 200, content_type = "text/event-stream", body = EventView,
            description = "one SSE message per event"),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)),
    security(("bearer" = []), ()))]
pub async fn get_live_events(
    StreamUser(user): StreamUser,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LiveQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    user.require(&[Role::Auditor, Role::Admin])?;
    let after = start(&state, &headers, &query).await?;
    let open = crate::metrics::SseStream::open("live");
    let events = state
        .store
        .subscribe(after)
        .into_stream()
        .take_while(|read| {
            if let Err(error) = read {
                tracing::warn!(%error, "live feed stopped");
            }
            std::future::ready(read.is_ok())
        })
        .filter_map(|read| std::future::ready(read.ok()))
        .map(move |event| {
            let _counted = &open;
            let data =
                serde_json::to_string(&EventView::from(&event)).expect("an event view serialises");
            Ok(Event::default()
                .event(event.event_type.as_str())
                .id(event.position.to_string())
                .data(data))
        })
        .take_until(tokio::time::sleep(MAX_CONNECTION));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}
