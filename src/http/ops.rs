//! Operations: `/`, `/health`, `/ready`, `/metrics`, `/openapi.json`, `/docs` (Swagger UI,
//! its assets embedded in the binary; version and licence in `docs/`).

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::error::ApiError;
use super::extract::Json;
use crate::state::AppState;

const READY_LAG: Duration = Duration::from_secs(5);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_root))
        .routes(routes!(get_health))
        .routes(routes!(get_ready))
}

/// Routes that are served but are not API operations (kept out of the OpenAPI document).
pub fn unlisted() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/metrics", axum::routing::get(get_metrics))
        .route("/docs", axum::routing::get(get_docs))
        .route("/docs/", axum::routing::get(get_docs))
        .route(
            "/docs/swagger-ui-bundle.js",
            axum::routing::get(get_docs_js),
        )
        .route("/docs/swagger-ui.css", axum::routing::get(get_docs_css))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct About {
    name: &'static str,
    version: &'static str,
}

/// Name and version of the service.
#[utoipa::path(get, path = "/", tag = "ops", responses((status = 200, body = About)))]
async fn get_root() -> Json<About> {
    Json(About {
        name: "tillroll",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// 200 while the process runs.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200)))]
async fn get_health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    ready: bool,
    database: bool,
    /// Per projector: events of the log it has not applied yet.
    projections: std::collections::BTreeMap<String, i64>,
    /// Seconds the oldest committed event has waited for its log index (0: none waits).
    unsequenced_seconds: f64,
    /// Seconds the oldest open transaction on the cluster has run (it holds no reader back:
    /// shown for operators; see README, "Running several nodes").
    oldest_transaction_seconds: f64,
    /// The worker leases this node holds.
    leases: Vec<String>,
    /// Why the node is not ready (empty when it is).
    reasons: Vec<String>,
}

/// What holds the log back: the age of the oldest queued (unsequenced) event, and of the
/// oldest open transaction on the cluster, in one round trip.
async fn log_health(state: &AppState) -> Result<(f64, f64), ApiError> {
    let (unsequenced, oldest): (Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT (SELECT extract(epoch FROM clock_timestamp() - min(queued_at))::float8 \
                 FROM log_queue), \
                (SELECT extract(epoch FROM clock_timestamp() - min(xact_start))::float8 \
                 FROM pg_stat_activity \
                 WHERE state <> 'idle' AND xact_start IS NOT NULL AND pid <> pg_backend_pid())",
    )
    .fetch_one(&state.pool)
    .await?;
    Ok((
        unsequenced.unwrap_or(0.0).max(0.0),
        oldest.unwrap_or(0.0).max(0.0),
    ))
}

/// 200 when the database answers, no committed event has waited more than 5 s for its place
/// in the log, and every projection is within 5 s of the log; else 503 with the reasons.
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
async fn get_ready(State(state): State<AppState>) -> Response {
    let mut reasons = Vec::new();
    let lag = projection_lag(&state).await;
    let database = lag.is_ok();
    let projections = lag.unwrap_or_default();
    // With the database gone, the answer comes after one acquire timeout, not several.
    let (unsequenced, oldest) = if database {
        log_health(&state).await.unwrap_or((0.0, 0.0))
    } else {
        (0.0, 0.0)
    };
    if state.config.read_database_url.is_some()
        && sqlx::query("SELECT 1")
            .execute(&state.read_pool)
            .await
            .is_err()
    {
        reasons.push("the read replica does not answer (queries answer 503)".to_owned());
    }
    if !database {
        reasons.push("the database does not answer".to_owned());
    } else {
        if unsequenced > READY_LAG.as_secs_f64() {
            reasons.push(format!(
                "committed events have waited {unsequenced:.1} s for the sequencer"
            ));
        }
        let caught_up = match state.store.head().await {
            Ok(head) => {
                let names: Vec<&str> = state.projector_names.iter().copied().collect();
                tillroll_projections::wait_for(
                    &state.pool,
                    &state.progress,
                    &names,
                    head,
                    READY_LAG,
                )
                .await
                .unwrap_or(false)
            }
            Err(_) => false,
        };
        if !caught_up {
            reasons.push("the read models are more than 5 s behind the log".to_owned());
        }
    }
    let ready = reasons.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = (
        status,
        Json(Readiness {
            ready,
            database,
            projections,
            unsequenced_seconds: unsequenced,
            oldest_transaction_seconds: oldest,
            leases: state.leases.held(),
            reasons,
        }),
    )
        .into_response();
    if !ready {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Events not yet applied per projector (also exported as a metric); a projector that has not
/// written its first checkpoint yet is the whole log behind.
pub async fn projection_lag(
    state: &AppState,
) -> Result<std::collections::BTreeMap<String, i64>, ApiError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT n.name, \
                greatest((SELECT next_index FROM log_head) - 1 - coalesce(c.log_index, -1), 0) \
         FROM unnest($1::text[]) AS n(name) LEFT JOIN checkpoints c ON c.name = n.name \
         ORDER BY n.name",
    )
    .bind(state.projector_names.as_slice())
    .fetch_all(&state.pool)
    .await?;
    Ok(rows.into_iter().collect())
}

async fn get_metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let format = crate::metrics::Format::negotiate(
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
    );
    let (size, idle) = (state.pool.size(), state.pool.num_idle());
    for (name, count) in [
        ("idle", idle as i64),
        ("in_use", i64::from(size) - idle as i64),
    ] {
        state
            .metrics
            .pool_connections
            .get_or_create(&crate::metrics::StateLabel {
                state: name.to_owned(),
            })
            .set(count);
    }
    state
        .metrics
        .pool_max
        .set(i64::from(state.pool.options().get_max_connections()));
    if let Ok(lag) = projection_lag(&state).await {
        for (name, behind) in lag {
            state
                .metrics
                .projection_lag
                .get_or_create(&crate::metrics::NameLabel { name })
                .set(behind);
        }
    }
    if let Ok((unsequenced, oldest)) = log_health(&state).await {
        state.metrics.oldest_transaction_seconds.set(oldest as i64);
        state.metrics.unsequenced_seconds.set(unsequenced as i64);
    }
    state
        .metrics
        .leases_held
        .set(state.leases.held().len() as i64);
    if let Ok(head) = state.store.head().await {
        state.metrics.log_head.set(head.log_index);
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        )],
        state.metrics.encode(format),
    )
        .into_response()
}

async fn get_docs() -> Html<&'static str> {
    Html(include_str!("docs/index.html"))
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn get_docs_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_bytes!("docs/swagger-ui-bundle.js"),
    )
}

async fn get_docs_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_bytes!("docs/swagger-ui.css"),
    )
}
