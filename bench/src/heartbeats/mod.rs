//! `heartbeats`: many simulated workers heartbeating against one Redis while the controller's
//! maintenance loop runs, then ×10 workers and ×10 queue depth, to see how each cost grows.
//!
//! A simulated worker is a task that calls `Queue::heartbeat` (heartbeat.lua, with the fields a
//! real worker registers) every interval (5 s, the worker's default), the first beats spread
//! evenly over one interval; every other worker holds one lease (claimed at the start), whose
//! deadline each beat extends. No agent runs. The maintenance loop is
//! `fleet_controller::maintenance::Maintenance::cycle` every 500 ms (its default interval),
//! timed here. All of it shares this one process (and one Redis connection), which stands in
//! for the controller and the workers.

mod tables;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use fleet_controller::maintenance::{Maintenance, MaintenanceConfig};
use fleet_shared::registry::{WorkerInfo, WorkerStatus};
use fleet_shared::{OrderId, Queue, TaskType};
use futures_util::StreamExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::procs::own_cpu_seconds;
use crate::redis_server::{PrivateRedis, Probe};
use crate::report::{Targets, median, percentile};

const LEASE: Duration = Duration::from_secs(60);
const REGISTRY_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Args)]
pub struct HeartbeatArgs {
    /// Simulated workers in the base case (×10 in the second case).
    #[arg(long, default_value_t = 1000)]
    pub workers: usize,
    /// Queued orders in the base case (×10 in the third case).
    #[arg(long, default_value_t = 10_000)]
    pub depth: usize,
    /// Heartbeat interval of every worker.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Measurement window per case, after one interval of warm-up [default: 30s, --quick: 10s].
    #[arg(long, value_parser = parse_duration)]
    pub window: Option<Duration>,
    #[arg(long)]
    pub quick: bool,
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    fleet_shared::units::parse_duration(raw)
}

/// What one case measured.
struct Case {
    label: String,
    workers: usize,
    depth: usize,
    beats_per_s: f64,
    redis_cpu_pct: f64,
    bench_cpu_pct: f64,
    redis_cmds_per_s: f64,
    beat_p50: f64,
    beat_p99: f64,
    cycle_p50: f64,
    cycle_p99: f64,
    cycle_max: f64,
    cycles: usize,
    lost: usize,
}

/// Runs the three cases and prints their figures and growth ratios; it states no target.
pub async fn run(args: HeartbeatArgs) -> anyhow::Result<bool> {
    let window = args
        .window
        .unwrap_or(Duration::from_secs(if args.quick { 10 } else { 30 }));
    let cases = [
        ("base", args.workers, args.depth),
        ("×10 workers", args.workers * 10, args.depth),
        ("×10 queue depth", args.workers, args.depth * 10),
    ];
    let redis = PrivateRedis::start()?;
    let probe = redis.probe().await?;
    let queue = crate::fleet::queue(&redis.url())?;
    let mut measured = Vec::new();
    for (label, workers, depth) in cases {
        eprintln!("heartbeats: {label}: {workers} workers, {depth} queued orders");
        measured.push(case(&queue, &probe, label, workers, depth, args.interval, window).await?);
    }
    tables::report(&measured, args.interval, window);
    Ok(Targets::default().print())
}

async fn case(
    queue: &Queue,
    probe: &Probe,
    label: &str,
    workers: usize,
    depth: usize,
    interval: Duration,
    window: Duration,
) -> anyhow::Result<Case> {
    probe.flushall().await?;
    let holders = workers / 2;
    fill(queue, depth + holders).await?;
    let held = claim_one_each(queue, holders).await?;

    let stop = CancellationToken::new();
    let beats: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
    let cycles: Arc<Mutex<Vec<(Instant, f64)>>> = Arc::default();
    let lost = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    let started = tokio::time::Instant::now();
    for i in 0..workers {
        let lease = held.get(i).cloned();
        let offset = interval.mul_f64(i as f64 / workers as f64);
        let (queue, stop, beats, lost) = (queue.clone(), stop.clone(), beats.clone(), lost.clone());
        tasks.spawn(async move {
            simulated_worker(
                queue,
                i,
                lease,
                started + offset,
                interval,
                stop,
                beats,
                lost,
            )
            .await
        });
    }
    let maintenance = {
        let (queue, stop, cycles) = (queue.clone(), stop.clone(), cycles.clone());
        tokio::spawn(async move { maintenance_loop(queue, stop, cycles).await })
    };

    // One interval of warm-up: every worker has registered before the window opens.
    tokio::time::sleep(interval + Duration::from_millis(200)).await;
    let before = probe.snapshot().await?;
    let cpu0 = own_cpu_seconds();
    let opened = Instant::now();
    tokio::time::sleep(window).await;
    let after = probe.snapshot().await?;
    let bench_cpu = own_cpu_seconds() - cpu0;
    let closed = Instant::now();
    stop.cancel();
    while let Some(joined) = tasks.join_next().await {
        joined.context("a simulated worker panicked")??;
    }
    maintenance
        .await
        .context("the maintenance loop panicked")??;

    let in_window = |xs: &Mutex<Vec<(Instant, f64)>>| -> Vec<f64> {
        xs.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(at, _)| *at >= opened && *at <= closed)
            .map(|(_, v)| *v)
            .collect()
    };
    let beat_ms = in_window(&beats);
    let cycle_ms = in_window(&cycles);
    let delta = before.delta(&after);
    let secs = closed.duration_since(opened).as_secs_f64();
    let registered = queue.workers().await?.len();
    if registered != workers {
        bail!("{workers} simulated workers but {registered} registered");
    }
    Ok(Case {
        label: label.to_string(),
        workers,
        depth,
        beats_per_s: beat_ms.len() as f64 / secs,
        redis_cpu_pct: delta.cpu_percent(),
        bench_cpu_pct: 100.0 * bench_cpu / secs,
        redis_cmds_per_s: (delta.commands + delta.script_calls) as f64 / secs,
        beat_p50: median(&beat_ms),
        beat_p99: percentile(&beat_ms, 99.0),
        cycle_p50: median(&cycle_ms),
        cycle_p99: percentile(&cycle_ms, 99.0),
        cycle_max: percentile(&cycle_ms, 100.0),
        cycles: cycle_ms.len(),
        lost: lost.load(std::sync::atomic::Ordering::SeqCst),
    })
}

/// Enqueues `n` orders, 256 calls in flight.
async fn fill(queue: &Queue, n: usize) -> anyhow::Result<()> {
    let orders: Vec<_> = (0..n)
        .map(|i| crate::fleet::order("https://git.example.com/team/app.git", &format!("noop {i}")))
        .collect::<anyhow::Result<_>>()?;
    let mut results = futures_util::stream::iter(&orders)
        .map(|o| queue.enqueue(o, None))
        .buffer_unordered(256);
    while let Some(r) = results.next().await {
        r?;
    }
    Ok(())
}

/// Workers 0..n each claim one order; returns their (id, token).
async fn claim_one_each(queue: &Queue, n: usize) -> anyhow::Result<Vec<(OrderId, String)>> {
    let claims = futures_util::stream::iter(0..n)
        .map(|i| {
            let queue = queue.clone();
            async move {
                queue
                    .claim(&worker_id(i), &[TaskType::Docs], 1, LEASE)
                    .await
            }
        })
        .buffered(256);
    let leases: Vec<_> = claims.collect().await;
    leases
        .into_iter()
        .map(|r| {
            let lease = r?.pop().context("a holder found the queue empty")?;
            Ok((lease.order.id, lease.token))
        })
        .collect()
}

fn worker_id(i: usize) -> String {
    format!("sim-{i:05}")
}

#[allow(clippy::too_many_arguments)]
async fn simulated_worker(
    queue: Queue,
    i: usize,
    lease: Option<(OrderId, String)>,
    first: tokio::time::Instant,
    interval: Duration,
    stop: CancellationToken,
    beats: Arc<Mutex<Vec<(Instant, f64)>>>,
    lost: Arc<std::sync::atomic::AtomicUsize>,
) -> anyhow::Result<()> {
    let id = worker_id(i);
    let held: Vec<(OrderId, String)> = lease.iter().cloned().collect();
    let info = WorkerInfo {
        id: id.clone(),
        definition: "bench-heartbeats".into(),
        accepts: vec![TaskType::Docs],
        executor: "none".into(),
        concurrency: 1,
        version: env!("CARGO_PKG_VERSION").into(),
        host: "bench-host".into(),
        pid: std::process::id(),
        status: if held.is_empty() {
            WorkerStatus::Idle
        } else {
            WorkerStatus::Busy
        },
        current_orders: held.iter().map(|(id, _)| id.to_string()).collect(),
        cpu_percent: 0.5,
        memory_bytes: 64 << 20,
        started_at_ms: 0,
        last_heartbeat_ms: 0,
        heartbeat_interval_ms: interval.as_millis() as u64,
        limits: "256 MiB, 1 cpus, 64 pids".into(),
    };
    let fields = info.to_fields();
    let mut ticks = tokio::time::interval_at(first, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        let started = Instant::now();
        let gone = queue
            .heartbeat(&id, &fields, &held, LEASE, REGISTRY_TTL)
            .await?;
        let took = started.elapsed().as_secs_f64() * 1000.0;
        lost.fetch_add(gone.len(), std::sync::atomic::Ordering::SeqCst);
        beats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Instant::now(), took));
    }
}

/// `Maintenance::cycle` at its default interval, each cycle timed.
async fn maintenance_loop(
    queue: Queue,
    stop: CancellationToken,
    cycles: Arc<Mutex<Vec<(Instant, f64)>>>,
) -> anyhow::Result<()> {
    let config = MaintenanceConfig::default();
    let interval = config.interval;
    let maintenance = Maintenance::new(queue, "bench-controller", config);
    loop {
        let started = Instant::now();
        let report = maintenance.cycle().await?;
        let took = started.elapsed().as_secs_f64() * 1000.0;
        if !report.lost_workers.is_empty() || report.requeued > 0 {
            bail!("maintenance took action in a healthy fleet: {report:?}");
        }
        cycles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Instant::now(), took));
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
