//! `throughput`: orders/s through N real `fleet-worker run` processes with the process executor
//! (there is no no-op executor: the agent is a real child process).
//!
//! Every order still does the whole pipeline: claim, fetch the base branch into the host's
//! shared mirror cache and copy a workspace out of it, spawn the agent, stage the change, and
//! (variant `push`) commit and push `fleet/docs/<id>` to a local bare repository, then complete.
//! Variant `nochange` runs `/bin/true`, which changes nothing, so nothing is committed or pushed.
//!
//! The sandbox is a plain child process by default (the worker picks bubblewrap whenever `bwrap`
//! is on its PATH, so the workers get a PATH holding only `prlimit`); `--sandbox bwrap` measures
//! the bubblewrap sandbox instead.

mod orders;
mod tables;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use fleet_shared::Queue;
use nix::sys::signal::Signal;

use crate::fleet::{DefinitionSpec, wait_until};
use crate::procs::{cpu_seconds, signal};
use crate::redis_server::{PrivateRedis, Probe};
use crate::repo::{BareRepo, Shape};
use crate::report::Targets;
use orders::{EndPhases, phases_at_ends, run_orders};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxKind {
    /// A plain child process (no isolation): the cheapest real executor.
    Plain,
    /// bubblewrap.
    Bwrap,
}

#[derive(Debug, Clone, Args)]
pub struct ThroughputArgs {
    /// Worker process counts to try.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub workers: Vec<usize>,
    /// `--concurrency` of each worker process.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Orders per measurement; the depth case uses 10× this with the most workers
    /// [default: 100, --quick: 30].
    #[arg(long)]
    pub orders: Option<usize>,
    #[arg(long, value_enum, default_value = "plain")]
    pub sandbox: SandboxKind,
    /// The `fleet-worker` binary [default: next to this one; build it with
    /// `cargo build --release -p fleet-worker`].
    #[arg(long)]
    pub worker_bin: Option<PathBuf>,
    /// Where repositories, mirrors and workspaces go [default: the system temp dir]; e.g.
    /// /dev/shm to take the disk out of the figures.
    #[arg(long, env = "FLEET_BENCH_SCRATCH")]
    pub scratch_dir: Option<std::path::PathBuf>,
    #[arg(long)]
    pub quick: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// The agent writes one file: commit and push per order.
    Push,
    /// `/bin/true`: nothing to commit, nothing pushed.
    NoChange,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Push => "push (agent writes a file; commit + push)",
            Variant::NoChange => "nochange (/bin/true; no commit, no push)",
        }
    }

    fn command(self) -> &'static [&'static str] {
        match self {
            Variant::Push => &[
                "/bin/sh",
                "-c",
                "echo \"$FLEET_ORDER_ID\" > fleet-bench.txt",
            ],
            Variant::NoChange => &["/bin/true"],
        }
    }
}

struct Measured {
    variant: Variant,
    workers: usize,
    orders: usize,
    seconds: f64,
    /// Orders/s between the 10% and 90% completion marks.
    steady: f64,
    /// Phase medians of the first and the last tenth of the orders (in enqueue order).
    first: EndPhases,
    last: EndPhases,
    redis_cpu_ms_per_order: f64,
    worker_cpu_ms_per_order: f64,
    redis_cmds_per_order: f64,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.orders as f64 / self.seconds
    }
}

/// Runs the benchmark and prints its tables; true when every stated target was met (it states
/// none: an error is returned when an order fails).
pub async fn run(args: ThroughputArgs) -> anyhow::Result<bool> {
    let bin = match &args.worker_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("this binary has no directory")?
            .join("fleet-worker"),
    };
    if !bin.is_file() {
        bail!(
            "{} does not exist: build it first with `cargo build --release -p fleet-worker` (or pass --worker-bin)",
            bin.display()
        );
    }
    let base = args.orders.unwrap_or(if args.quick { 30 } else { 100 });
    let most = args.workers.iter().copied().max().unwrap_or(1);
    let tmp = crate::fleet::scratch_dir("fleet-bench-throughput-", args.scratch_dir.as_deref())?;
    // A PATH with prlimit but no bwrap makes the worker's `process` executor run plain.
    let path_dir = tmp.path().join("path");
    std::fs::create_dir(&path_dir)?;
    if let Some(prlimit) = ["/usr/bin/prlimit", "/bin/prlimit"]
        .iter()
        .find(|p| Path::new(p).exists())
    {
        symlink(prlimit, path_dir.join("prlimit"))?;
    }
    let worker_path = match args.sandbox {
        SandboxKind::Plain => path_dir.display().to_string(),
        SandboxKind::Bwrap => "/usr/local/bin:/usr/bin:/bin".to_string(),
    };

    let redis = PrivateRedis::start()?;
    let probe = redis.probe().await?;
    let queue = crate::fleet::queue(&redis.url())?;
    let setup = Setup {
        bin: &bin,
        tmp: tmp.path(),
        redis_url: redis.url(),
        path: worker_path,
        concurrency: args.concurrency,
    };
    let mut results = Vec::new();
    let mut step = 0;
    for variant in [Variant::Push, Variant::NoChange] {
        let mut plan: Vec<(usize, usize)> = args.workers.iter().map(|&n| (n, base)).collect();
        plan.push((most, base * 10));
        for (workers, orders) in plan {
            step += 1;
            eprintln!(
                "throughput: {} with {workers} worker process(es) × {}, {orders} orders",
                variant.name(),
                args.concurrency
            );
            let m = setup
                .measure(&queue, &probe, variant, workers, orders, step)
                .await
                .with_context(|| format!("{} with {workers} workers", variant.name()))?;
            results.push(m);
        }
    }
    tables::report(&results, args.concurrency, args.sandbox, base);
    Ok(Targets::default().print())
}

struct Setup<'a> {
    bin: &'a Path,
    tmp: &'a Path,
    redis_url: String,
    path: String,
    concurrency: usize,
}

/// The worker processes of one measurement; killed if dropped before they were stopped.
struct Workers(Vec<Child>);

impl Workers {
    /// SIGTERM (drain), then SIGKILL whatever has not exited after 30 s.
    fn stop(&mut self) {
        for child in &self.0 {
            signal(child.id(), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for child in &mut self.0 {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.0.clear();
    }

    fn cpu_seconds(&self) -> f64 {
        self.0.iter().map(|c| cpu_seconds(c.id(), true)).sum()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Setup<'_> {
    async fn measure(
        &self,
        queue: &Queue,
        probe: &Probe,
        variant: Variant,
        n_workers: usize,
        orders: usize,
        step: usize,
    ) -> anyhow::Result<Measured> {
        probe.flushall().await?;
        let dir = self.tmp.join(format!("case-{step}"));
        let upstream = dir.join("upstream");
        std::fs::create_dir_all(&upstream)?;
        let repo = BareRepo::create(&upstream, "app", Shape::TINY)?;
        let definition = DefinitionSpec {
            worker_id: "bench-throughput",
            image: "fleet-bench-unused:latest",
            command: variant.command(),
        }
        .write(&dir)?;
        let log = std::fs::File::create(dir.join("workers.log"))?;
        let mut workers = Workers(Vec::new());
        for k in 0..n_workers {
            let child = Command::new(self.bin)
                .args(["run", "--executor", "process"])
                .arg("--definition")
                .arg(&definition)
                .args(["--concurrency", &self.concurrency.to_string()])
                .args(["--name", &format!("bench-{step}-{k}")])
                .arg("--work-dir")
                .arg(dir.join("work"))
                .args([
                    "--redis-url",
                    &self.redis_url,
                    "--fleet",
                    crate::fleet::FLEET,
                ])
                .env_clear()
                .env("PATH", &self.path)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log.try_clone()?)
                .spawn()
                .with_context(|| format!("spawn {}", self.bin.display()))?;
            workers.0.push(child);
        }
        let registered = wait_until(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async { queue.workers().await.is_ok_and(|w| w.len() == n_workers) },
        )
        .await;
        if !registered {
            bail!(
                "the workers did not register within 30 s; see {}",
                dir.join("workers.log").display()
            );
        }

        // Warm-up, not counted: one order per slot, so the mirror exists and every process
        // has claimed before the clock starts.
        let warm = n_workers * self.concurrency;
        let log = dir.join("workers.log");
        let _ = run_orders(queue, &repo, warm, 0, &log).await?;
        let before = probe.snapshot().await?;
        let cpu0 = workers.cpu_seconds();
        let started = Instant::now();
        let (steady, ids) = run_orders(queue, &repo, orders, warm, &log).await?;
        let seconds = started.elapsed().as_secs_f64();
        let worker_cpu = workers.cpu_seconds() - cpu0;
        let after = probe.snapshot().await?;
        workers.stop();
        if variant == Variant::Push {
            let branches = repo.branch_count()?;
            if branches != warm + orders + 1 {
                bail!(
                    "{} orders pushed {} branches",
                    warm + orders,
                    branches.saturating_sub(1)
                );
            }
        }
        let delta = before.delta(&after);
        let (first, last) = phases_at_ends(queue, &ids).await?;
        let _ = std::fs::remove_dir_all(dir.join("work"));
        Ok(Measured {
            variant,
            workers: n_workers,
            orders,
            seconds,
            steady,
            first,
            last,
            redis_cpu_ms_per_order: 1000.0 * delta.cpu_s / orders as f64,
            worker_cpu_ms_per_order: 1000.0 * worker_cpu / orders as f64,
            redis_cmds_per_order: (delta.commands + delta.script_calls) as f64 / orders as f64,
        })
    }
}
