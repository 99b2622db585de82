//! The worker registry: what a worker says about itself at each heartbeat, and how the
//! controller reads it back and notices workers that went silent.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::order::TaskType;
use crate::queue::{Queue, QueueResult};

/// Heartbeats a worker may miss before it counts as lost.
pub const LOST_AFTER_MISSED_BEATS: u64 = 3;
/// The heartbeat interval assumed for a worker that did not record its own.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);
/// A silent worker is forgotten (removed from the registry) after this long.
pub const FORGET_SILENT_WORKERS_AFTER: Duration = Duration::from_secs(3600);

crate::order::string_enum!(
    /// What a worker is doing, as it reports it (or `lost`, as the controller concludes).
    WorkerStatus, "worker status", {
        Starting => "starting",
        Idle => "idle",
        Busy => "busy",
        /// Stopped claiming; finishing or handing back its orders before it exits.
        Draining => "draining",
        /// Missed its heartbeats; its leases will expire and its orders be requeued.
        Lost => "lost",
        Stopped => "stopped",
    }
);

/// A worker's registry entry (`fleet:{F}:worker:<id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub id: String,
    /// The worker definition it runs (its `worker_id`).
    pub definition: String,
    pub accepts: Vec<TaskType>,
    /// `docker` or `process`.
    pub executor: String,
    pub concurrency: u32,
    pub version: String,
    pub host: String,
    pub pid: u32,
    pub status: WorkerStatus,
    pub current_orders: Vec<String>,
    /// CPU use of the worker process and its sandboxes, percent of one core.
    pub cpu_percent: f32,
    pub memory_bytes: u64,
    pub started_at_ms: i64,
    pub last_heartbeat_ms: i64,
    pub heartbeat_interval_ms: u64,
    /// Human summary of the sandbox limits, e.g. `2 GiB, 1.5 cpus, 256 pids`.
    pub limits: String,
}

impl WorkerInfo {
    /// The hash fields a heartbeat writes. `last_heartbeat` is set by the script itself.
    pub fn to_fields(&self) -> Vec<(String, String)> {
        let accepts: Vec<&str> = self.accepts.iter().map(|t| t.as_str()).collect();
        vec![
            ("id".into(), self.id.clone()),
            ("definition".into(), self.definition.clone()),
            ("accepts".into(), accepts.join(",")),
            ("executor".into(), self.executor.clone()),
            ("concurrency".into(), self.concurrency.to_string()),
            ("version".into(), self.version.clone()),
            ("host".into(), self.host.clone()),
            ("pid".into(), self.pid.to_string()),
            ("status".into(), self.status.to_string()),
            ("current_orders".into(), self.current_orders.join(",")),
            ("cpu_percent".into(), format!("{:.1}", self.cpu_percent)),
            ("memory_bytes".into(), self.memory_bytes.to_string()),
            ("started_at".into(), self.started_at_ms.to_string()),
            (
                "heartbeat_interval_ms".into(),
                self.heartbeat_interval_ms.to_string(),
            ),
            ("limits".into(), self.limits.clone()),
        ]
    }

    fn from_fields(id: &str, last_beat: i64, h: &HashMap<String, String>) -> Self {
        let get = |k: &str| h.get(k).cloned().unwrap_or_default();
        let num = |k: &str| h.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let list = |k: &str| -> Vec<String> {
            get(k)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        WorkerInfo {
            id: id.to_string(),
            definition: get("definition"),
            accepts: list("accepts")
                .iter()
                .filter_map(|t| t.parse().ok())
                .collect(),
            executor: get("executor"),
            concurrency: num("concurrency") as u32,
            version: get("version"),
            host: get("host"),
            pid: num("pid") as u32,
            // A worker whose hash expired but whose heartbeat is still listed went silent.
            status: get("status").parse().unwrap_or(WorkerStatus::Lost),
            current_orders: list("current_orders"),
            cpu_percent: num("cpu_percent") as f32,
            memory_bytes: num("memory_bytes") as u64,
            started_at_ms: num("started_at") as i64,
            last_heartbeat_ms: last_beat,
            heartbeat_interval_ms: num("heartbeat_interval_ms") as u64,
            limits: get("limits"),
        }
    }
}

impl Queue {
    /// "Now" as the scripts see it: the injected clock, or Redis's `TIME`.
    pub async fn now_ms(&self) -> QueueResult<i64> {
        match self.clock().script_arg() {
            0 => {
                let mut pipe = redis::pipe();
                pipe.cmd("TIME");
                let ((secs, micros),): ((i64, i64),) = self.query(&pipe).await?;
                Ok(secs * 1000 + micros / 1000)
            }
            fixed => Ok(fixed),
        }
    }

    /// Every registered worker, most recent heartbeat first.
    pub async fn workers(&self) -> QueueResult<Vec<WorkerInfo>> {
        let mut pipe = redis::pipe();
        pipe.zrevrange_withscores(self.keys().workers(), 0, -1);
        let (beats,): (Vec<(String, f64)>,) = self.query(&pipe).await?;
        if beats.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (id, _) in &beats {
            pipe.hgetall(self.keys().worker(id));
        }
        let hashes: Vec<HashMap<String, String>> = self.query(&pipe).await?;
        Ok(beats
            .iter()
            .zip(hashes)
            .map(|((id, beat), h)| WorkerInfo::from_fields(id, *beat as i64, &h))
            .collect())
    }

    /// Marks workers silent for more than [`LOST_AFTER_MISSED_BEATS`] of their heartbeat
    /// interval as lost (one `worker_lost` event each) and forgets long-silent ones. Looks at
    /// most at `limit` due workers per call.
    pub async fn mark_lost_workers(&self, limit: usize) -> QueueResult<Vec<String>> {
        self.run(
            &crate::queue::scripts::SCRIPTS.lost_workers,
            &[
                self.keys().workers(),
                self.keys().workers_expiry(),
                self.keys().events(),
            ],
            &[
                FORGET_SILENT_WORKERS_AFTER.as_millis().to_string(),
                limit.to_string(),
            ],
        )
        .await
    }
}
