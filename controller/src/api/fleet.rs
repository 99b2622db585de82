//! Fleet-wide reads: queues, workers, the live event stream, metrics and health.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde_json::json;

use super::{ApiError, ApiResult, AppState, OPENAPI};
use crate::metrics;

pub async fn queues(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let depths = state.queue.depths().await?;
    let stats = state.queue.stats().await?;
    Ok(Json(json!({ "depths": depths, "stats": stats })))
}

pub async fn workers(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let now = state.queue.now_ms().await?;
    let workers = state.queue.workers().await?;
    let rows: Vec<_> = workers
        .into_iter()
        .map(|w| {
            let age = now - w.last_heartbeat_ms;
            let mut value = serde_json::to_value(&w).unwrap_or_default();
            value["heartbeat_age_ms"] = json!(age.max(0));
            value
        })
        .collect();
    Ok(Json(json!({ "workers": rows })))
}

/// Server-sent events: every entry of the events stream as it arrives. Resumes after the
/// `Last-Event-ID` a reconnecting browser sends, so nothing is missed across reconnects.
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let start = match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        Some(id) if is_stream_id(id) => id.to_string(),
        _ => state.queue.last_event_id().await?,
    };
    let queue = state.queue.clone();
    let stream = futures_util::stream::unfold((queue, start), |(queue, after)| async move {
        loop {
            match queue.read_events(&after, Duration::from_secs(5), 200).await {
                Ok(events) if events.is_empty() => continue,
                Ok(events) => {
                    let last = events.last().map(|e| e.id.clone()).unwrap_or(after);
                    let items: Vec<Result<SseEvent, Infallible>> = events
                        .iter()
                        .map(|e| {
                            Ok(SseEvent::default()
                                .id(e.id.clone())
                                .data(serde_json::to_string(e).unwrap_or_default()))
                        })
                        .collect();
                    return Some((futures_util::stream::iter(items), (queue, last)));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event stream read failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    use futures_util::StreamExt;
    let stream = stream
        .flatten()
        .take_until(state.stop.clone().cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn is_stream_id(id: &str) -> bool {
    let mut parts = id.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(a), Some(b), None) if a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok()
    )
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    match metrics::render(&state.queue).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.queue.redis().ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok", "redis": "up"}))).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "redis": "down", "error": e.to_string()})),
        )
            .into_response(),
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint (see /api/v1/openapi.json)")
}
