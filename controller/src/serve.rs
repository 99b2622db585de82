//! `fleet-controller serve`: the HTTP server plus the maintenance loop, until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use fleet_shared::Queue;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::auth::AuthConfig;
use crate::maintenance::{Maintenance, MaintenanceConfig};

/// Everything `serve` needs besides the queue.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub auth: AuthConfig,
    /// Allow serving on a non-loopback address without a token.
    pub insecure: bool,
    pub maintenance: MaintenanceConfig,
    /// Identifies this controller in the maintenance lock.
    pub controller_id: String,
}

/// Refuses to expose mutating endpoints to the network without authentication.
pub fn check_exposure(addr: SocketAddr, config: &ServeConfig) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() && !config.auth.enabled() && !config.insecure {
        bail!(
            "refusing to serve on {addr} without a token: set FLEET_API_TOKEN (or FLEET_JWT_SECRET), \
             bind to 127.0.0.1, or pass --insecure"
        );
    }
    Ok(())
}

/// Serves on `listener` and runs maintenance until `shutdown` completes, then stops both.
pub async fn run(
    listener: TcpListener,
    queue: Queue,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr().context("reading the bound address")?;
    check_exposure(addr, &config)?;
    let stop = CancellationToken::new();
    let maintenance = Maintenance::new(
        queue.clone(),
        config.controller_id.clone(),
        config.maintenance.clone(),
    );
    let loop_handle = tokio::spawn(maintenance.run(stop.clone()));

    let state = AppState {
        queue,
        auth: Arc::new(config.auth.clone()),
        stop: stop.clone(),
    };
    let app = api::router(state);
    tracing::info!(%addr, auth = config.auth.enabled(), "controller serving: dashboard at http://{addr}/");
    let server_stop = stop.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        tokio::select! {
            _ = shutdown => {}
            _ = server_stop.cancelled() => {}
        }
        // End the server-sent event streams so open dashboards do not hold the server up.
        server_stop.cancel();
    });
    let result = server.await.context("HTTP server failed");
    stop.cancel();
    let _ = loop_handle.await;
    tracing::info!("controller stopped");
    result
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown signal received");
}
