//! The HTTP API (JSON under /api/v1), /metrics, /healthz and the dashboard.
//!
//! [`ROUTES`] lists every route once; the router is built from the handlers below and a test
//! checks that it and the OpenAPI document (`openapi.json`) describe the same routes.

mod clarifications;
mod error;
mod fleet;
pub mod json;
mod orders;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use fleet_shared::Queue;
use tokio_util::sync::CancellationToken;

pub use error::{ApiError, ApiResult};

use crate::auth::{Actor, AuthConfig};
use crate::dashboard;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub queue: Queue,
    pub auth: Arc<AuthConfig>,
    /// Fires on shutdown, so long-lived responses (server-sent events) end and let the server
    /// stop.
    pub stop: CancellationToken,
}

impl AppState {
    /// The actor behind a mutating request, or 401.
    pub fn writer(&self, headers: &HeaderMap) -> ApiResult<Actor> {
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.auth.authorize(header).map_err(|e| ApiError {
            status: axum::http::StatusCode::UNAUTHORIZED,
            error: e.to_string(),
            field: Some("Authorization".into()),
        })
    }
}

/// Every route: (method, path in OpenAPI form). Kept in step with `openapi.json` by a test.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/orders"),
    ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders/{id}"),
    ("get", "/api/v1/orders/{id}/log"),
    ("post", "/api/v1/orders/{id}/cancel"),
    ("post", "/api/v1/orders/{id}/retry"),
    ("post", "/api/v1/orders/{id}/approve"),
    ("post", "/api/v1/orders/{id}/reject"),
    ("get", "/api/v1/orders/{id}/audit"),
    ("get", "/api/v1/clarifications"),
    ("post", "/api/v1/clarifications/{id}/answer"),
    ("get", "/api/v1/queues"),
    ("get", "/api/v1/workers"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/metrics"),
    ("get", "/healthz"),
];

/// The OpenAPI 3 document served at /api/v1/openapi.json.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The whole application: API, metrics, health and dashboard.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/orders", get(orders::list).post(orders::create))
        .route("/api/v1/orders/{id}", get(orders::show))
        .route("/api/v1/orders/{id}/log", get(orders::log))
        .route("/api/v1/orders/{id}/cancel", post(orders::cancel))
        .route("/api/v1/orders/{id}/retry", post(orders::retry))
        .route("/api/v1/orders/{id}/approve", post(orders::approve))
        .route("/api/v1/orders/{id}/reject", post(orders::reject))
        .route("/api/v1/orders/{id}/audit", get(orders::audit))
        .route("/api/v1/clarifications", get(clarifications::list))
        .route(
            "/api/v1/clarifications/{id}/answer",
            post(clarifications::answer),
        )
        .route("/api/v1/queues", get(fleet::queues))
        .route("/api/v1/workers", get(fleet::workers))
        .route("/api/v1/events", get(fleet::events))
        .route("/api/v1/openapi.json", get(fleet::openapi))
        .route("/metrics", get(fleet::metrics))
        .route("/healthz", get(fleet::healthz))
        .merge(dashboard::routes())
        .fallback(fleet::not_found)
        .layer(DefaultBodyLimit::max(json::MAX_BODY_BYTES))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_lists_exactly_the_routes_we_serve() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        documented.sort();
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        served.sort();
        assert_eq!(documented, served);
    }
}
