//! The controller's background work: the reaper (expired leases → retry or dead letter), the
//! scheduler (delayed orders whose time has come → ready) and lost-worker detection.
//!
//! Several controllers may run against one Redis: each cycle first takes (or renews) the
//! `maintenance` lock, and only its holder acts. The transitions are atomic scripts anyway, so
//! two holders could never requeue an order twice; the lock only avoids doing the work twice.
//! Redis errors never stop the loop: it logs, backs off (up to 30 s) and recovers by itself.

use std::time::Duration;

use fleet_shared::Queue;
use fleet_shared::queue::QueueResult;
use tokio_util::sync::CancellationToken;

/// Timings of the maintenance loop.
#[derive(Debug, Clone)]
pub struct MaintenanceConfig {
    /// Time between cycles.
    pub interval: Duration,
    /// How long the lock outlives a controller that stopped renewing it.
    pub lock_ttl: Duration,
    /// Most orders each step moves per cycle (bounds the time one script runs).
    pub batch: usize,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        MaintenanceConfig {
            interval: Duration::from_millis(500),
            lock_ttl: Duration::from_secs(10),
            batch: 500,
        }
    }
}

/// What one cycle did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CycleReport {
    /// False when another controller holds the lock (this one did nothing).
    pub leader: bool,
    pub requeued: usize,
    pub dead: usize,
    pub promoted: usize,
    pub lost_workers: Vec<String>,
}

/// One controller's maintenance duties.
pub struct Maintenance {
    queue: Queue,
    owner: String,
    config: MaintenanceConfig,
}

const LOCK: &str = "maintenance";

impl Maintenance {
    pub fn new(queue: Queue, owner: impl Into<String>, config: MaintenanceConfig) -> Self {
        Maintenance {
            queue,
            owner: owner.into(),
            config,
        }
    }

    /// One cycle: take the lock, then reap, promote and look for lost workers.
    pub async fn cycle(&self) -> QueueResult<CycleReport> {
        let mut report = CycleReport::default();
        if !self
            .queue
            .hold_lock(LOCK, &self.owner, self.config.lock_ttl)
            .await?
        {
            return Ok(report);
        }
        report.leader = true;
        loop {
            let reaped = self.queue.reap_expired(self.config.batch).await?;
            for r in &reaped {
                tracing::warn!(order.id = %r.id, worker = %r.worker, state = %r.state,
                    "lease expired: worker missed heartbeats; order taken back");
                if r.state == "dead" {
                    report.dead += 1;
                } else {
                    report.requeued += 1;
                }
            }
            if reaped.len() < self.config.batch {
                break;
            }
        }
        loop {
            let promoted = self.queue.promote_delayed(self.config.batch).await?;
            report.promoted += promoted.len();
            if promoted.len() < self.config.batch {
                break;
            }
        }
        report.lost_workers = self.queue.mark_lost_workers(self.config.batch).await?;
        for worker in &report.lost_workers {
            tracing::warn!(worker = %worker, "worker lost: no heartbeat for 3 intervals");
        }
        Ok(report)
    }

    /// Runs cycles until `shutdown` fires, backing off while Redis is unavailable.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = self.config.interval;
        let mut failing = false;
        loop {
            let wait = match self.cycle().await {
                Ok(_) => {
                    if failing {
                        tracing::info!("Redis is back; maintenance resumed");
                        failing = false;
                    }
                    backoff = self.config.interval;
                    self.config.interval
                }
                Err(e) => {
                    if !failing {
                        tracing::error!(error = %e, "maintenance cycle failed; retrying with backoff");
                        failing = true;
                    } else {
                        tracing::debug!(error = %e, "maintenance still failing");
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    backoff
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
