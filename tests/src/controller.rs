//! A real controller (HTTP API + maintenance loop) on a free port, stopped when dropped.

use std::net::SocketAddr;
use std::time::Duration;

use fleet_controller::auth::AuthConfig;
use fleet_controller::maintenance::MaintenanceConfig;
use fleet_controller::serve::{self, ServeConfig};
use fleet_shared::Queue;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running controller. Drop (or [`ControllerHandle::stop`]) shuts it down.
pub struct ControllerHandle {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl ControllerHandle {
    /// Starts a controller on 127.0.0.1:0 for `queue`, with `token` required for mutations
    /// when given. Its maintenance loop runs every 50 ms.
    pub async fn start(queue: Queue, token: Option<&str>) -> Self {
        let config = ServeConfig {
            auth: AuthConfig {
                api_token: token.map(str::to_string),
                jwt_secret: None,
            },
            insecure: false,
            maintenance: MaintenanceConfig {
                interval: Duration::from_millis(50),
                ..MaintenanceConfig::default()
            },
            controller_id: format!("test-controller-{}", uuid_like()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(serve::run(listener, queue, config, async move {
            let _ = rx.await;
        }));
        ControllerHandle {
            addr,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the controller and waits for it to exit.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for ControllerHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn uuid_like() -> String {
    format!("{:x}", rand::random::<u64>())
}
