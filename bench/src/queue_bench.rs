//! `queue`: no-op throughput of fleet's queue through the real Lua scripts
//! (`fleet_shared::Queue`), beside a `redis-benchmark` baseline and the peers' no-op benchmarks
//! (BullMQ, apalis, ... from /work/shared/peers), all in one run.
//!
//! Enqueue: N orders one awaited call at a time, then with many calls in flight on the shared
//! multiplexed connection (fleet's "pipelined" path: it has no bulk API). Drain: C claimer tasks
//! in one process, each looping `claim(batch)` then `complete` for every order it got (the
//! completes of one batch concurrently, as a worker with that many slots would), until the queue
//! is empty.
//!
//! A fleet order does more than a peer's no-op job: each claim takes a lease with a fencing token
//! and bumps the attempt, each transition appends to the order's history list and the events
//! stream and fills histograms and counters. The "Redis commands per order" columns show that
//! cost directly.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use fleet_shared::{Queue, TaskType, WorkOrder};
use futures_util::StreamExt;
use futures_util::future::join_all;
use tokio::task::JoinSet;

use crate::peers::{self, PeerResults};
use crate::procs::own_cpu_seconds;
use crate::redis_server::{BaselineResult, Delta, PrivateRedis, Probe, redis_benchmark};
use crate::report::{Table, Targets, thousands};

const LEASE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Args)]
pub struct QueueArgs {
    /// Orders per measurement [default: 20000, --quick: 2000].
    #[arg(long)]
    pub n: Option<usize>,
    /// Concurrent claimer tasks to try.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    pub claimers: Vec<usize>,
    /// Claim batch sizes to try.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pub batches: Vec<usize>,
    /// Enqueue calls in flight at once for the pipelined enqueue.
    #[arg(long, default_value_t = 64)]
    pub in_flight: usize,
    /// Peers to run side by side (`none` to skip): any of bullmq, apalis, rq, celery.
    #[arg(long, default_value = "bullmq,apalis")]
    pub peers: String,
    /// A writable copy of /work/shared/peers on which setup.sh has run.
    #[arg(long, env = "FLEET_BENCH_PEERS_DIR", default_value = "/tmp/peers")]
    pub peers_dir: PathBuf,
    /// Jobs per peer measurement (the peers' own default is 20000) [--quick: 5000].
    #[arg(long)]
    pub peer_n: Option<usize>,
    /// Fewer orders, fewer peer configurations, a shorter baseline.
    #[arg(long)]
    pub quick: bool,
}

/// One fleet measurement.
struct Measured {
    label: String,
    in_flight: usize,
    orders: usize,
    seconds: f64,
    redis: Delta,
    client_cpu_s: f64,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.orders as f64 / self.seconds
    }

    fn per_1k(&self, seconds: f64) -> f64 {
        1e6 * seconds / self.orders as f64
    }
}

/// Runs the baseline, fleet's measurements and the peers; it states no target (an error is
/// returned when an order goes missing).
pub async fn run(args: QueueArgs) -> anyhow::Result<bool> {
    let n = args.n.unwrap_or(if args.quick { 2000 } else { 20_000 });
    let baseline_n = if args.quick { 50_000 } else { 200_000 };
    let redis = PrivateRedis::start()?;
    let probe = redis.probe().await?;
    let queue = crate::fleet::queue(&redis.url())?;
    eprintln!(
        "queue: private redis-server on port {}, N = {n}",
        redis.port()
    );

    let mut baselines = baseline(redis.port(), baseline_n, "before")?;

    eprintln!("queue: enqueue, one at a time");
    let single = enqueue(&queue, &probe, n, 1).await?;
    eprintln!("queue: enqueue, {} in flight", args.in_flight);
    let piped = enqueue(&queue, &probe, n, args.in_flight).await?;

    let mut drains = Vec::new();
    for &c in &args.claimers {
        for &b in &args.batches {
            eprintln!("queue: drain with {c} claimers, claim batch {b}");
            drains.push(drain(&queue, &probe, n, c, b, args.in_flight).await?);
        }
    }
    probe.flushall().await?;

    let peer_results = if args.peers == "none" {
        PeerResults::skipped("not requested (--peers none)")
    } else {
        let peer_n = args
            .peer_n
            .unwrap_or(if args.quick { 5000 } else { 20_000 });
        eprintln!(
            "queue: peers {} (N = {peer_n}) on their own private redis-server",
            args.peers
        );
        peers::run(&args.peers_dir, &args.peers, peer_n, args.quick).await
    };

    baselines.extend(baseline(redis.port(), baseline_n, "after")?);

    print_results(&baselines, &single, &piped, &drains, &peer_results);
    let targets = Targets::default();
    Ok(targets.print())
}

fn baseline(port: u16, n: u64, phase: &str) -> anyhow::Result<Vec<(String, BaselineResult)>> {
    eprintln!("queue: redis-benchmark baseline ({phase})");
    let mut out = Vec::new();
    for pipeline in [1, 16] {
        for r in redis_benchmark(port, n, pipeline)? {
            out.push((phase.to_string(), r));
        }
    }
    Ok(out)
}

fn orders(n: usize) -> anyhow::Result<Vec<WorkOrder>> {
    (0..n)
        .map(|i| crate::fleet::order("https://git.example.com/team/app.git", &format!("noop {i}")))
        .collect()
}

async fn fill(queue: &Queue, orders: &[WorkOrder], in_flight: usize) -> anyhow::Result<()> {
    let mut results = futures_util::stream::iter(orders)
        .map(|o| queue.enqueue(o, None))
        .buffer_unordered(in_flight.max(1));
    while let Some(r) = results.next().await {
        r.context("enqueue")?;
    }
    Ok(())
}

async fn enqueue(
    queue: &Queue,
    probe: &Probe,
    n: usize,
    in_flight: usize,
) -> anyhow::Result<Measured> {
    probe.flushall().await?;
    let orders = orders(n)?;
    let before = probe.snapshot().await?;
    let cpu0 = own_cpu_seconds();
    let started = Instant::now();
    if in_flight == 1 {
        for o in &orders {
            queue.enqueue(o, None).await.context("enqueue")?;
        }
    } else {
        fill(queue, &orders, in_flight).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let client_cpu_s = own_cpu_seconds() - cpu0;
    let after = probe.snapshot().await?;
    let stats = queue.stats().await?;
    if stats.get("enqueued").copied() != Some(n as u64) {
        bail!("enqueued {n} orders but the counter says {stats:?}");
    }
    Ok(Measured {
        label: if in_flight == 1 {
            "one at a time".into()
        } else {
            format!("pipelined ({in_flight} in flight)")
        },
        in_flight,
        orders: n,
        seconds,
        redis: before.delta(&after),
        client_cpu_s,
    })
}

async fn drain(
    queue: &Queue,
    probe: &Probe,
    n: usize,
    claimers: usize,
    batch: usize,
    fill_in_flight: usize,
) -> anyhow::Result<Measured> {
    probe.flushall().await?;
    fill(queue, &orders(n)?, fill_in_flight).await?;
    let before = probe.snapshot().await?;
    let cpu0 = own_cpu_seconds();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..claimers {
        let queue = queue.clone();
        tasks.spawn(async move { claim_until_empty(&queue, &format!("claimer-{i}"), batch).await });
    }
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        done += joined.context("a claimer panicked")??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let client_cpu_s = own_cpu_seconds() - cpu0;
    let after = probe.snapshot().await?;
    let stats = queue.stats().await?;
    if done != n || stats.get("succeeded").copied() != Some(n as u64) {
        bail!("drained {done} of {n} orders; counters {stats:?}");
    }
    Ok(Measured {
        label: format!("C={claimers} batch={batch}"),
        in_flight: claimers * batch,
        orders: n,
        seconds,
        redis: before.delta(&after),
        client_cpu_s,
    })
}

/// One claimer: claim up to `batch`, complete each (concurrently), until nothing is left.
async fn claim_until_empty(queue: &Queue, worker: &str, batch: usize) -> anyhow::Result<usize> {
    let result = serde_json::json!({"summary": "no-op"});
    let mut done = 0;
    loop {
        let leases = queue.claim(worker, &[TaskType::Docs], batch, LEASE).await?;
        if leases.is_empty() {
            return Ok(done);
        }
        for r in join_all(leases.iter().map(|l| queue.complete(l, &result, false))).await {
            r?;
            done += 1;
        }
    }
}

fn print_results(
    baselines: &[(String, BaselineResult)],
    single: &Measured,
    piped: &Measured,
    drains: &[Measured],
    peer_results: &PeerResults,
) {
    let mut t = Table::new(
        "redis-benchmark baseline (same server, same run)",
        &["phase", "command", "test", "requests/s"],
    );
    for (phase, b) in baselines {
        t.row(vec![
            phase.clone(),
            format!("`{}`", b.args),
            b.test.clone(),
            thousands(b.rps),
        ]);
    }
    t.print();
    let lpush = baselines
        .iter()
        .find(|(p, b)| p == "before" && b.test == "LPUSH" && !b.args.contains("-P"))
        .map_or(f64::NAN, |(_, b)| b.rps);

    let headers = [
        "what",
        "in flight",
        "orders/s",
        "÷ LPUSH/s",
        "Redis CPU ms/1k orders",
        "client CPU ms/1k orders",
        "script calls/order",
        "Redis cmds/order (in scripts)",
    ];
    let row = |m: &Measured| {
        vec![
            m.label.clone(),
            m.in_flight.to_string(),
            thousands(m.rate()),
            format!("{:.3}", m.rate() / lpush),
            format!("{:.0}", m.per_1k(m.redis.cpu_s)),
            format!("{:.0}", m.per_1k(m.client_cpu_s)),
            format!("{:.2}", m.redis.script_calls as f64 / m.orders as f64),
            format!("{:.1}", m.redis.commands as f64 / m.orders as f64),
        ]
    };
    let mut t = Table::new("fleet enqueue (Queue::enqueue, enqueue.lua)", &headers);
    t.row(row(single));
    t.row(row(piped));
    t.print();

    let mut t = Table::new(
        "fleet drain (claim.lua + complete.lua per order, C claimer tasks in one process)",
        &headers,
    );
    for m in drains {
        t.row(row(m));
    }
    t.print();
    println!(
        "\nA fleet order is not a no-op job: each claim takes a lease with a fresh fencing token and \
         counts the attempt, and every transition appends to the order's history list and the events \
         stream and fills counters and histograms (the commands/order columns). Peers' figures below \
         are for empty jobs."
    );

    let best = drains.iter().max_by(|a, b| a.rate().total_cmp(&b.rate()));
    peers::print(
        peer_results,
        best.map(|m| (m.label.as_str(), m.rate())),
        single.rate(),
        piped.rate(),
    );
}
