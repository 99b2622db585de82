//! `worker-overhead`: what the real worker pipeline adds around one container, against a raw
//! `docker run --rm` of the same image and the same command, measured alternately in one run.
//!
//! fleet side: a real [`fleet_worker::runtime::Worker`] (Docker executor, concurrency 1) in this
//! process claims each order from a private Redis, clones a local bare repository through its
//! mirror cache, runs the test agent (`edit bench.txt ...`: writes one file and reports a result
//! through `fleet-agent`), commits, pushes `fleet/docs/<id>` and completes. Its time is the
//! order's own `queued_at` → `finished_at` (Redis clock); the phases come from its audit trail.
//!
//! Raw side: `docker run --rm` of the same image and argv with the same two bind mounts
//! (a plain one, and one with fleet's hardening flags), timed around the CLI.

mod raw;
mod tables;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use fleet_shared::audit::AuditEntry;
use fleet_shared::{OrderId, Queue, definition};
use fleet_worker::config::{Definitions, WorkerConfig};
use fleet_worker::executor::Executor;
use fleet_worker::executor::docker::DockerExecutor;
use fleet_worker::git::GitSettings;
use fleet_worker::runtime::{Shutdown, Worker};

use crate::agent_image::{BENCH_LABEL, agent_image, remove_containers_labelled, static_helper};
use crate::fleet::{DefinitionSpec, order, wait_until};
use crate::redis_server::PrivateRedis;
use crate::repo::{BareRepo, Shape};
use raw::raw_run;

const AGENT_ARGV: [&str; 2] = ["/bin/sh", "/opt/test/agent.sh"];

#[derive(Debug, Clone, Args)]
pub struct OverheadArgs {
    /// Measured orders (each also runs the raw commands once) [default: 10, --quick: 4].
    #[arg(long)]
    pub orders: Option<usize>,
    /// The target: fleet's median per-order time at most this many times the raw run's.
    #[arg(long, default_value_t = 1.5)]
    pub target: f64,
    /// Print each order's audit trail, times relative to its queued_at.
    #[arg(long)]
    pub trace: bool,
    /// Where repositories, mirrors and workspaces go [default: the system temp dir]; e.g.
    /// /dev/shm to take the disk out of the figures.
    #[arg(long, env = "FLEET_BENCH_SCRATCH")]
    pub scratch_dir: Option<std::path::PathBuf>,
    #[arg(long)]
    pub quick: bool,
}

/// The phases of one fleet order, in ms, from its hash and audit trail.
#[derive(Debug, Clone, Default)]
struct Phases {
    total: f64,
    claimed: f64,
    workspace: f64,
    to_sandbox: f64,
    executor: f64,
    container: f64,
    to_pushed: f64,
    to_finished: f64,
    /// Enqueue → observed finished, by this process's clock (includes the 2 ms poll).
    observed: f64,
}

/// Runs fleet and the raw commands side by side; true when fleet's median is within
/// `--target` × the raw run's.
pub async fn run(args: OverheadArgs) -> anyhow::Result<bool> {
    let orders = args.orders.unwrap_or(if args.quick { 4 } else { 10 });
    let docker_exec = DockerExecutor::connect()
        .await
        .context("worker-overhead needs a Docker engine")?;
    eprintln!("worker-overhead: building the static helper and the agent image");
    let helper = static_helper()?;
    let image = agent_image(&helper)?;

    let tmp = crate::fleet::scratch_dir("fleet-bench-overhead-", args.scratch_dir.as_deref())?;
    let upstream_dir = tmp.path().join("upstream");
    std::fs::create_dir(&upstream_dir)?;
    let repo = BareRepo::create(&upstream_dir, "app", Shape::TINY)?;
    // The helper as a deployment has it: alone in a directory the sandbox user can read.
    let helper_dir = tmp.path().join("helper");
    std::fs::create_dir(&helper_dir)?;
    std::fs::copy(&helper, helper_dir.join("fleet-agent"))?;
    std::fs::set_permissions(&helper_dir, std::fs::Permissions::from_mode(0o755))?;

    let redis = PrivateRedis::start()?;
    let queue = crate::fleet::queue(&redis.url())?;
    let name = format!("fleet-bench-{}", std::process::id());
    let run_label = format!("{BENCH_LABEL}={name}");
    let definition_path = DefinitionSpec {
        worker_id: "bench-overhead",
        image: &image,
        command: &AGENT_ARGV,
    }
    .write(tmp.path())?;
    let definition = definition::load_file(&definition_path)?;
    let work_dir = tmp.path().join("work");
    let worker = Worker {
        config: WorkerConfig {
            name: name.clone(),
            definitions: Definitions::new(vec![definition]).map_err(anyhow::Error::msg)?,
            concurrency: 1,
            work_dir: work_dir.clone(),
            heartbeat: fleet_worker::config::defaults::HEARTBEAT,
            lease: fleet_worker::config::defaults::LEASE,
            grace: Duration::from_secs(10),
            poll: fleet_worker::config::defaults::POLL,
            log_lines: fleet_worker::config::defaults::LOG_LINES,
        },
        queue: queue.clone(),
        executor: Arc::new(Executor::Docker(docker_exec.clone())),
        git: Arc::new(GitSettings::new(work_dir.join("mirrors"))),
        helper_dir: Some(helper_dir),
    };
    let shutdown = Shutdown::default();
    let task = tokio::spawn(worker.run(shutdown.clone()));

    let result = measure(
        &queue,
        &repo,
        &image,
        &run_label,
        tmp.path(),
        orders,
        args.trace,
    )
    .await;

    shutdown.drain.cancel();
    match tokio::time::timeout(Duration::from_secs(30), task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("worker-overhead: the worker stopped with an error: {e:#}"),
        Ok(Err(e)) => eprintln!("worker-overhead: the worker task failed: {e}"),
        Err(_) => {
            shutdown.force.cancel();
            eprintln!("worker-overhead: the worker did not drain within 30 s");
        }
    }
    let _ = docker_exec.sweep(&name).await;
    remove_containers_labelled(&run_label);
    let (fleet, raw_plain, raw_hardened) = result?;
    Ok(tables::report(
        &fleet,
        &raw_plain,
        &raw_hardened,
        args.target,
    ))
}

type Runs = (Vec<Phases>, Vec<f64>, Vec<f64>);

async fn measure(
    queue: &Queue,
    repo: &BareRepo,
    image: &str,
    label: &str,
    tmp: &Path,
    orders: usize,
    trace: bool,
) -> anyhow::Result<Runs> {
    let (mut fleet, mut plain, mut hardened) = (Vec::new(), Vec::new(), Vec::new());
    // One of each first, not counted: the cold mirror, the engine's first container.
    eprintln!("worker-overhead: warm-up");
    fleet_order(queue, repo, "warm-up", trace).await?;
    raw_run(image, label, tmp, "warm-up", false).await?;
    raw_run(image, label, tmp, "warm-up-h", true).await?;
    for i in 0..orders {
        eprintln!("worker-overhead: order {}/{orders}", i + 1);
        // Alternate which goes first, so drift on a shared machine hits both sides alike.
        if i % 2 == 0 {
            plain.push(raw_run(image, label, tmp, &format!("p{i}"), false).await?);
            fleet.push(fleet_order(queue, repo, &format!("run {i}"), trace).await?);
            hardened.push(raw_run(image, label, tmp, &format!("h{i}"), true).await?);
        } else {
            hardened.push(raw_run(image, label, tmp, &format!("h{i}"), true).await?);
            fleet.push(fleet_order(queue, repo, &format!("run {i}"), trace).await?);
            plain.push(raw_run(image, label, tmp, &format!("p{i}"), false).await?);
        }
    }
    Ok((fleet, plain, hardened))
}

/// Enqueues one order for the in-process worker and waits for it to succeed.
async fn fleet_order(
    queue: &Queue,
    repo: &BareRepo,
    tag: &str,
    trace: bool,
) -> anyhow::Result<Phases> {
    let order = order(&repo.file_url(), &format!("edit bench.txt {tag}"))?;
    let id = order.id.clone();
    let started = Instant::now();
    queue.enqueue(&order, None).await?;
    let finished = wait_until(
        Duration::from_secs(120),
        Duration::from_millis(2),
        || async { matches!(queue.order(&id).await, Ok(Some(r)) if r.state.is_finished()) },
    )
    .await;
    let observed = started.elapsed().as_secs_f64() * 1000.0;
    let record = queue.order(&id).await?.context("the order vanished")?;
    if !finished || record.result.as_ref().is_none_or(|r| r["branch"].is_null()) {
        bail!(
            "order {id} did not succeed with a pushed branch: {:?} {:?} {:?}",
            record.state,
            record.error,
            record.result
        );
    }
    let queued_at: Vec<Option<String>> = queue.order_fields(&id, &["queued_at"]).await?;
    let queued_at: f64 = queued_at
        .first()
        .cloned()
        .flatten()
        .and_then(|v| v.parse().ok())
        .context("the order has no queued_at")?;
    let finished_at = record.finished_at_ms.context("no finished_at")? as f64;
    let trail = queue.audit_trail(&id).await?;
    phases(trace, &id, &trail, queued_at, finished_at, observed)
}

fn phases(
    trace: bool,
    id: &OrderId,
    trail: &[AuditEntry],
    queued_at: f64,
    finished_at: f64,
    observed: f64,
) -> anyhow::Result<Phases> {
    let find = |action: &str| {
        trail
            .iter()
            .find(|e| e.action == action)
            .with_context(|| format!("order {id} has no `{action}` audit entry: {trail:?}"))
    };
    let at = |action: &str| find(action).map(|e| e.at_ms as f64);
    if trace {
        for e in trail {
            eprintln!(
                "  {:>6} ms {} {}",
                e.at_ms as f64 - queued_at,
                e.action,
                e.detail
            );
        }
        eprintln!("  {:>6} ms finished", finished_at - queued_at);
    }
    let claim = at("claim")?;
    let clone = at("clone")?;
    let start = at("sandbox_start")?;
    let exit = find("sandbox_exit")?;
    let container = exit.detail["seconds"].as_f64().unwrap_or(f64::NAN) * 1000.0;
    let exit_at = exit.at_ms as f64;
    let pushed = at("push")?;
    Ok(Phases {
        total: finished_at - queued_at,
        claimed: claim - queued_at,
        workspace: clone - claim,
        to_sandbox: start - clone,
        executor: (exit_at - start) - container,
        container,
        to_pushed: pushed - exit_at,
        to_finished: finished_at - pushed,
        observed,
    })
}
