//! The dashboard at `/`: one page, server-rendered, no external assets.
//!
//! The panels are rendered here, in Rust, and nowhere else. The page's small script
//! (`app.js`) listens to the server-sent events of /api/v1/events and, when something happens,
//! fetches `/ui/panels` — the same panels, rendered again — and swaps them in. Buttons call the
//! JSON API with the token the operator typed once (kept in the browser's localStorage).

mod render;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::api::{ApiError, AppState};

const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/ui/panels", get(panels))
        .route("/ui/app.js", get(|| asset("text/javascript", APP_JS)))
        .route("/ui/style.css", get(|| asset("text/css", STYLE_CSS)))
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn page(State(state): State<AppState>) -> Response {
    let panels = match render::panels(&state.queue).await {
        Ok(html) => html,
        Err(e) => render::unavailable(&e.to_string()),
    };
    Html(render::page(
        state.queue.keys().prefix(),
        state.auth.enabled(),
        &panels,
    ))
    .into_response()
}

async fn panels(State(state): State<AppState>) -> Result<Html<String>, ApiError> {
    Ok(Html(render::panels(&state.queue).await?))
}
