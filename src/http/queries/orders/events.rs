//! `GET /orders/{id}/events`: a `text/event-stream` that sends the order's tracking (with the
//! `order` beside it) at once and again after every event of its stream, once the orders read
//! model has applied that event. It follows the log from its head when the request arrives,
//! sends keep-alive comments, and ends when the client goes away — or after `MAX_LIFETIME`,
//! because a graceful shutdown waits for open responses: clients reconnect (EventSource does
//! so by itself, after the `retry` it is sent) and get the current tracking first.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use serde_json::json;
use uuid::Uuid;

use super::{tracking, visible_order};
use crate::http::auth::User;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::Path;
use crate::http::tickets::StreamUser;
use crate::state::AppState;

const KEEP_ALIVE: Duration = Duration::from_secs(15);
const PROJECTION_WAIT: Duration = Duration::from_secs(5);
const MAX_LIFETIME: Duration = Duration::from_secs(30);
const RETRY: Duration = Duration::from_secs(1);

/// Live tracking updates of one order.
#[utoipa::path(get, path = "/orders/{id}/events", tag = "orders", params(("id" = Uuid, Path),
        ("ticket" = Option<String>, Query,
            description = "from `POST /auth/sse-ticket`, in place of `Authorization`")),
    security(("bearer" = []), ()),
    responses((status = 200, content_type = "text/event-stream",
            description = "`tracking` events: `{order_id, status, history, order}`"),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
pub(super) async fn order_events(
    State(state): State<AppState>,
    StreamUser(user): StreamUser,
    Path(id): Path<Uuid>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let head = state.store.head().await?;
    let first = snapshot(&state, &user, id).await?;
    let stream_id = format!("order-{id}");
    let follow = state.clone();
    let updates = state
        .store
        .subscribe(head)
        .into_stream()
        .filter_map(move |event| {
            let keep = match event {
                Ok(event) if event.stream_id == stream_id => Some(event.log_position()),
                Ok(_) => None,
                Err(error) => {
                    tracing::warn!(%error, "order event feed");
                    None
                }
            };
            std::future::ready(keep)
        })
        .then(move |position| {
            let state = follow.clone();
            async move {
                let names = ["orders"];
                // The feed's positions come from the primary's log, so it follows the
                // primary's read model (a replica could lag behind its own snapshot).
                let caught_up = tillroll_projections::wait_for(
                    &state.pool,
                    &state.progress,
                    &names,
                    position,
                    PROJECTION_WAIT,
                )
                .await;
                if !matches!(caught_up, Ok(true)) {
                    tracing::warn!(%id, "orders read model behind; sending what it has");
                }
                snapshot(&state, &user, id).await.ok()
            }
        })
        .filter_map(std::future::ready);
    let deadline = tokio::time::sleep(MAX_LIFETIME);
    let open = crate::metrics::SseStream::open("orders");
    let events = futures_util::stream::once(std::future::ready(first.retry(RETRY)))
        .chain(updates)
        .take_until(deadline)
        .map(move |event| {
            let _counted = &open;
            Ok(event)
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

async fn snapshot(state: &AppState, user: &User, id: Uuid) -> Result<Event, ApiError> {
    let order = visible_order(state, user, id).await?;
    let tracking = tracking(state, id, order.status.clone()).await?;
    let data = json!({
        "order_id": tracking.order_id,
        "status": tracking.status,
        "history": tracking.history,
        "order": order,
    });
    Ok(Event::default().event("tracking").data(data.to_string()))
}
