//! The long-running worker: register, claim, run, heartbeat, drain.
//!
//! - Claiming: up to `concurrency` orders of the definition's task types, strictly by priority.
//!   An idle worker blocks on its types' wake-up markers, with a slow fallback poll.
//! - Heartbeat: one round trip every interval refreshes the registry entry, extends the leases
//!   of running orders and names those the worker lost (cancelled, reclaimed): their runs stop.
//! - Shutdown: the first signal drains (stop claiming; running orders get `grace` to finish,
//!   then are stopped and handed back without charging an attempt); a second signal forces.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use fleet_shared::clock::wall_clock_ms;
use fleet_shared::queue::Lease;
use fleet_shared::registry::{WorkerInfo, WorkerStatus};
use fleet_shared::{OrderId, Queue, QueueError};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clarify::Clarifier;
use crate::config::WorkerConfig;
use crate::executor::Executor;
use crate::git::GitSettings;
use crate::pipeline::{Job, Outcome};
use crate::report::{AuditSettings, Reporter};
use crate::settle;
use crate::usage::Usage;

/// How long a worker's registry entry outlives its last heartbeat (so a dead worker stays
/// visible as `lost` for a while).
const REGISTRY_TTL: Duration = Duration::from_secs(3600);

/// The two stages of shutdown. Tests fire them directly; `main` wires them to signals.
#[derive(Clone, Default)]
pub struct Shutdown {
    /// Stop claiming and let running orders finish within the grace period.
    pub drain: CancellationToken,
    /// Stop everything now (orders are handed back).
    pub force: CancellationToken,
}

/// One running order, as the heartbeat and the drain see it.
struct Running {
    lease: Arc<Lease>,
    stop: CancellationToken,
    /// Set when the worker itself stops the run (drain): the order is then handed back.
    handing_back: Arc<AtomicBool>,
}

type Table = Arc<Mutex<HashMap<OrderId, Running>>>;

/// A configured worker, ready to run.
pub struct Worker {
    pub config: WorkerConfig,
    pub queue: Queue,
    pub executor: Arc<Executor>,
    pub git: Arc<GitSettings>,
    pub helper_dir: Option<PathBuf>,
}

impl Worker {
    /// Runs until `shutdown` has drained (or forced) the worker.
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let me = Arc::new(self);
        me.wait_for_redis(&shutdown).await?;
        me.refuse_duplicate_name().await?;
        me.clean_up_after_crash().await;

        let table: Table = Arc::new(Mutex::new(HashMap::new()));
        let draining = Arc::new(AtomicBool::new(false));
        let started_at = wall_clock_ms();
        me.beat(
            &table,
            WorkerStatus::Starting,
            started_at,
            &mut Usage::new(),
        )
        .await
        .context("registering the worker in Redis")?;
        tracing::info!(worker = %me.config.name, definitions = %me.config.definitions.ids(),
            executor = me.executor.kind(), concurrency = me.config.concurrency, "worker started");

        let beats_stop = CancellationToken::new();
        // If this future is dropped (the runtime shuts down under us), heartbeats stop too:
        // a worker that is gone must not keep its leases alive.
        let _stop_beats_on_drop = beats_stop.clone().drop_guard();
        let beats = tokio::spawn(me.clone().heartbeats(
            table.clone(),
            draining.clone(),
            started_at,
            beats_stop.clone(),
        ));

        let mut runs = JoinSet::new();
        me.claim_loop(&table, &mut runs, &shutdown).await;

        draining.store(true, Ordering::SeqCst);
        tracing::info!(running = runs.len(), grace = ?me.config.grace, "draining: no new orders; waiting for running ones");
        let in_grace = async { while runs.join_next().await.is_some() {} };
        let finished = tokio::select! {
            _ = tokio::time::timeout(me.config.grace, in_grace) => true,
            _ = shutdown.force.cancelled() => false,
        };
        if !finished || !runs.is_empty() {
            tracing::warn!(
                left = runs.len(),
                "grace period over: stopping the remaining orders and handing them back"
            );
            for running in lock(&table).values() {
                running.handing_back.store(true, Ordering::SeqCst);
                running.stop.cancel();
            }
            while runs.join_next().await.is_some() {}
        }
        beats_stop.cancel();
        let _ = beats.await;
        if let Err(e) = me.queue.deregister(&me.config.name).await {
            tracing::warn!(error = %e, "could not deregister");
        }
        tracing::info!(worker = %me.config.name, "worker stopped");
        Ok(())
    }

    /// A worker started with (or before) Redis waits for it for a while rather than failing at
    /// once; compose starts services in parallel.
    async fn wait_for_redis(&self, shutdown: &Shutdown) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut wait = Duration::from_millis(200);
        loop {
            match self.queue.redis().ping().await {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    bail!(
                        "cannot reach Redis at {}: {e} (is redis-server running? check --redis-url / FLEET_REDIS_URL)",
                        self.queue.redis().display_url()
                    )
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Redis is not reachable yet; retrying");
                    tokio::select! {
                        _ = shutdown.drain.cancelled() => bail!("stopped before Redis was reachable"),
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Two live processes under one name would fight over leases: refuse to start.
    async fn refuse_duplicate_name(&self) -> anyhow::Result<()> {
        let now = self.queue.now_ms().await.context("reaching Redis")?;
        let workers = self.queue.workers().await?;
        if let Some(other) = workers.iter().find(|w| w.id == self.config.name) {
            let silent = now - other.last_heartbeat_ms;
            let alive = !matches!(other.status, WorkerStatus::Lost | WorkerStatus::Stopped)
                && silent < 3 * other.heartbeat_interval_ms.max(1000) as i64;
            let same_process = other.pid == std::process::id() && other.host == host_name();
            if alive && !same_process {
                bail!(
                    "worker name {:?} is in use by a live worker (pid {} on {}, last heartbeat {} ms ago); pass a different --name",
                    self.config.name,
                    other.pid,
                    other.host,
                    silent
                );
            }
        }
        Ok(())
    }

    /// Removes what a crashed earlier run under this name left: sandboxes, directories, leases.
    async fn clean_up_after_crash(&self) {
        match self.executor.sweep(&self.config.name).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(count = n, "removed sandboxes left by a crashed run"),
            Err(e) => tracing::warn!(error = %e, "could not sweep leftover sandboxes"),
        }
        let dirs = crate::order_dir::sweep(&self.config.orders_dir());
        if dirs > 0 {
            tracing::warn!(
                count = dirs,
                "removed order directories left by a crashed run"
            );
        }
        match self
            .queue
            .abandon_leases(&self.config.name, "restarted")
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(
                    count = n,
                    "gave up the leases of a crashed run; requeueing them"
                );
                // The controller's reaper would do this within a cycle; doing it here makes
                // recovery independent of a controller running.
                if let Err(e) = self.queue.reap_expired(1000).await {
                    tracing::warn!(error = %e, "could not requeue the abandoned orders");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not give up old leases"),
        }
    }

    async fn claim_loop(
        self: &Arc<Self>,
        table: &Table,
        runs: &mut JoinSet<()>,
        shutdown: &Shutdown,
    ) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let types = self.config.definitions.accepts();
        let mut backoff = Duration::from_millis(100);
        loop {
            // Reap finished runs so the set does not grow.
            while runs.try_join_next().is_some() {}
            if shutdown.drain.is_cancelled() || shutdown.force.is_cancelled() {
                return;
            }
            let free = slots.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = shutdown.drain.cancelled() => return,
                    _ = shutdown.force.cancelled() => return,
                    permit = slots.clone().acquire_owned() => drop(permit),
                }
                continue;
            }
            match self
                .queue
                .claim(&self.config.name, &types, free, self.config.lease)
                .await
            {
                Ok(leases) if leases.is_empty() => {
                    backoff = Duration::from_millis(100);
                    tokio::select! {
                        _ = shutdown.drain.cancelled() => return,
                        _ = shutdown.force.cancelled() => return,
                        woke = self.queue.wait_for_work(&types, self.config.poll) => {
                            if let Err(e) = woke {
                                tracing::warn!(error = %e, "waiting for work failed");
                                tokio::time::sleep(backoff).await;
                            }
                        }
                    }
                }
                Ok(leases) => {
                    backoff = Duration::from_millis(100);
                    for lease in leases {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            // Cannot happen: we claimed at most `free`. Hand it back rather
                            // than run over the limit.
                            let _ = self.queue.release(&lease, "worker had no free slot").await;
                            continue;
                        };
                        let span = tracing::info_span!("order",
                            order.id = %lease.order.id,
                            order.type = %lease.order.task_type,
                            attempt = lease.attempt);
                        let me = self.clone();
                        let table = table.clone();
                        runs.spawn(
                            async move {
                                me.run_one(lease, table).await;
                                drop(permit);
                            }
                            .instrument(span),
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "claim failed");
                    tokio::select! {
                        _ = shutdown.drain.cancelled() => return,
                        _ = shutdown.force.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    async fn run_one(&self, lease: Lease, table: Table) {
        let lease = Arc::new(lease);
        let id = lease.order.id.clone();
        let stop = CancellationToken::new();
        let handing_back = Arc::new(AtomicBool::new(false));
        lock(&table).insert(
            id.clone(),
            Running {
                lease: lease.clone(),
                stop: stop.clone(),
                handing_back: handing_back.clone(),
            },
        );
        tracing::info!("order claimed");
        let Some(definition) = self.config.definitions.for_type(lease.order.task_type) else {
            // Cannot happen: the worker claims only the types its definitions accept.
            let _ = self
                .queue
                .release(
                    &lease,
                    "no definition of this worker accepts the order's type",
                )
                .await;
            lock(&table).remove(&id);
            return;
        };
        let reporter = Reporter::Queue {
            queue: self.queue.clone(),
            lease: lease.clone(),
            log_cap: self.config.log_lines,
            audit: AuditSettings {
                definition: definition.worker_id.to_string(),
                retention: Duration::from_secs(u64::from(definition.audit.retention_days) * 86_400),
                log_all_actions: definition.audit.log_all_actions,
            },
        };
        reporter
            .audit(
                "claim",
                serde_json::json!({"worker": self.config.name, "attempt": lease.attempt,
                    "executor": self.executor.kind(), "type": lease.order.task_type}),
            )
            .await;
        let job = Job {
            worker: self.config.name.clone(),
            definition: Arc::new(definition.clone()),
            executor: self.executor.clone(),
            git: self.git.clone(),
            orders_dir: self.config.orders_dir(),
            helper_dir: self.helper_dir.clone(),
            order: lease.order.clone(),
            attempt: lease.attempt,
            reporter: reporter.clone(),
            clarifier: Clarifier::Queue {
                queue: self.queue.clone(),
                lease: lease.clone(),
                timeout: lease
                    .order
                    .clarification_timeout_secs
                    .map(Duration::from_secs)
                    .unwrap_or_else(|| definition.clarification.timeout.duration()),
                on_timeout: definition.clarification.on_timeout.clone(),
            },
            stop,
        };
        let outcome = job.run().await;
        let outcome = match outcome {
            Outcome::Abandoned(_) if handing_back.load(Ordering::SeqCst) => {
                settle::hand_back(&self.queue, &lease).await;
                None
            }
            other => Some(other),
        };
        if let Some(outcome) = outcome {
            settle::record(&self.queue, &lease, outcome, definition, &reporter).await;
        }
        lock(&table).remove(&id);
    }

    async fn heartbeats(
        self: Arc<Self>,
        table: Table,
        draining: Arc<AtomicBool>,
        started_at: i64,
        stop: CancellationToken,
    ) {
        let mut usage = Usage::new();
        let mut failing = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(self.config.heartbeat) => {}
            }
            let status = if draining.load(Ordering::SeqCst) {
                WorkerStatus::Draining
            } else if lock(&table).is_empty() {
                WorkerStatus::Idle
            } else {
                WorkerStatus::Busy
            };
            match self.beat(&table, status, started_at, &mut usage).await {
                Ok(()) if failing => {
                    tracing::info!("heartbeats are getting through again");
                    failing = false;
                }
                Ok(()) => {}
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "heartbeat failed; leases expire if this lasts");
                    }
                    failing = true;
                }
            }
        }
    }

    /// One heartbeat; stops the runs of orders this worker no longer owns.
    async fn beat(
        &self,
        table: &Table,
        status: WorkerStatus,
        started_at: i64,
        usage: &mut Usage,
    ) -> Result<(), QueueError> {
        let (held, current): (Vec<(OrderId, String)>, Vec<String>) = lock(table)
            .values()
            .map(|r| {
                (
                    (r.lease.order.id.clone(), r.lease.token.clone()),
                    r.lease.order.id.to_string(),
                )
            })
            .unzip();
        let (cpu_percent, memory_bytes) = usage.sample();
        let limits: Vec<String> = self
            .config
            .definitions
            .iter()
            .map(|d| {
                let r = &d.runtime.resources;
                format!(
                    "{}: {}, {} cpus, {} pids",
                    d.worker_id,
                    fleet_shared::units::format_size(r.memory.bytes()),
                    r.cpus,
                    r.pids
                )
            })
            .collect();
        let info = WorkerInfo {
            id: self.config.name.clone(),
            definition: self.config.definitions.ids(),
            accepts: self.config.definitions.accepts(),
            executor: self.executor.kind().to_string(),
            concurrency: self.config.concurrency as u32,
            version: env!("CARGO_PKG_VERSION").to_string(),
            host: host_name(),
            pid: std::process::id(),
            status,
            current_orders: current,
            cpu_percent,
            memory_bytes,
            started_at_ms: started_at,
            last_heartbeat_ms: 0,
            heartbeat_interval_ms: self.config.heartbeat.as_millis() as u64,
            limits: limits.join("; "),
        };
        let lost = self
            .queue
            .heartbeat(
                &self.config.name,
                &info.to_fields(),
                &held,
                self.config.lease,
                REGISTRY_TTL,
            )
            .await?;
        let table = lock(table);
        for l in lost {
            if let Some(running) = table.get(&l.id) {
                tracing::warn!(order.id = %l.id, state = %l.state,
                    "this worker no longer owns the order (cancelled or reclaimed); stopping it");
                running.stop.cancel();
            }
        }
        Ok(())
    }
}

fn lock(table: &Table) -> std::sync::MutexGuard<'_, HashMap<OrderId, Running>> {
    // Held only for quick map operations, never across an await; a poisoned lock still holds
    // a consistent map.
    table.lock().unwrap_or_else(|p| p.into_inner())
}

/// This host's name, for the registry.
pub fn host_name() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}
