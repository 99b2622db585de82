//! The peers' no-op job benchmarks (/work/shared/peers: BullMQ, apalis, RQ, Celery), driven
//! through their own `bench.py` against a private redis-server of ours, in the same run as
//! fleet's figures.
//!
//! `bench.py` FLUSHes db 0 of the Redis it is given, so it gets a server of its own. The peers
//! directory must be a writable copy on which its setup.sh has run (the original is read-only).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::redis_server::PrivateRedis;
use crate::report::{Table, ratio, thousands};

/// What the peers' run produced, or why there is nothing.
pub struct PeerResults {
    pub skipped: Option<String>,
    pub enqueue: Vec<PeerEnqueue>,
    pub drains: Vec<PeerDrain>,
}

/// One enqueue measurement of a peer (`single` or its bulk mode).
pub struct PeerEnqueue {
    pub peer: String,
    pub mode: String,
    pub jobs_per_s: f64,
}

/// One drain measurement of a peer's worker configuration (bench.py's steady rate).
pub struct PeerDrain {
    pub peer: String,
    pub config: String,
    pub n: u64,
    pub jobs_per_s: Option<f64>,
    pub worker_cpu_ms_per_1k: Option<f64>,
    pub redis_cpu_ms_per_1k: Option<f64>,
    pub error: Option<String>,
}

impl PeerResults {
    pub fn skipped(why: &str) -> Self {
        PeerResults {
            skipped: Some(why.to_string()),
            enqueue: Vec::new(),
            drains: Vec::new(),
        }
    }
}

/// Runs `bench.py run --peers <peers> --reps 1 --jobmode noop` from `dir`. A peer that cannot
/// run is reported, not fatal: fleet's own figures stand without it.
pub async fn run(dir: &Path, peers: &str, n: usize, quick: bool) -> PeerResults {
    match try_run(dir, peers, n, quick).await {
        Ok(results) => results,
        Err(e) => {
            eprintln!("queue: peers not run: {e:#}");
            PeerResults::skipped(&format!("{e:#}"))
        }
    }
}

async fn try_run(dir: &Path, peers: &str, n: usize, quick: bool) -> anyhow::Result<PeerResults> {
    let python = dir.join(".venv/bin/python");
    if !python.exists() || !dir.join("bench.py").exists() {
        bail!(
            "{} is not a set-up copy of the peers (copy /work/shared/peers there and run its setup.sh)",
            dir.display()
        );
    }
    let redis = PrivateRedis::start()?;
    let out = tempfile::Builder::new()
        .prefix("fleet-bench-peers-")
        .suffix(".jsonl")
        .tempfile()?;
    let mut cmd = tokio::process::Command::new(&python);
    cmd.current_dir(dir)
        .args(["bench.py", "run", "--peers", peers, "--reps", "1"])
        .args(["--jobmode", "noop", "--no-baseline", "--n", &n.to_string()])
        .arg("--out")
        .arg(out.path())
        .env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", redis.port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if quick {
        // The best configuration of each fast peer in the recorded runs.
        cmd.args(["--only", "C=50,C=200"]);
    }
    let status = tokio::time::timeout(Duration::from_secs(1200), cmd.status())
        .await
        .context("the peers' benchmark took over 20 minutes")?
        .context("run the peers' bench.py")?;
    let text = std::fs::read_to_string(out.path()).unwrap_or_default();
    let mut results = parse(&text);
    if !status.success() {
        results.skipped = Some(format!(
            "bench.py exited with {status}; results up to the failure are shown"
        ));
    }
    Ok(results)
}

fn parse(jsonl: &str) -> PeerResults {
    let mut results = PeerResults {
        skipped: None,
        enqueue: Vec::new(),
        drains: Vec::new(),
    };
    for line in jsonl.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        match v["kind"].as_str() {
            Some("enqueue") => results.enqueue.push(PeerEnqueue {
                peer: s("peer"),
                mode: s("mode"),
                jobs_per_s: v["jobs_per_s"].as_f64().unwrap_or(f64::NAN),
            }),
            Some("drain") => results.drains.push(PeerDrain {
                peer: s("peer"),
                config: s("worker"),
                n: v["n"].as_u64().unwrap_or(0),
                jobs_per_s: v["jobs_per_s"].as_f64(),
                worker_cpu_ms_per_1k: v["worker_cpu_ms_per_1k_jobs"].as_f64(),
                redis_cpu_ms_per_1k: v["redis_cpu_ms_per_1k_jobs"].as_f64(),
                error: v["error"].as_str().map(str::to_string),
            }),
            _ => {}
        }
    }
    results
}

/// Prints the peers' figures with fleet:peer ratios. `fleet_drain` is fleet's best drain
/// configuration and rate; `single` and `piped` fleet's enqueue rates.
pub fn print(results: &PeerResults, fleet_drain: Option<(&str, f64)>, single: f64, piped: f64) {
    if let Some(why) = &results.skipped {
        println!("\npeers: {why}");
    }
    if results.enqueue.is_empty() && results.drains.is_empty() {
        return;
    }
    let mut t = Table::new(
        "peers: enqueue (same machine, same session; fleet ÷ peer)",
        &["peer", "mode", "jobs/s", "fleet orders/s", "fleet : peer"],
    );
    for e in &results.enqueue {
        // The peers' bulk APIs against fleet's pipelined enqueue (fleet has no bulk API).
        let fleet = if e.mode == "single" { single } else { piped };
        t.row(vec![
            e.peer.clone(),
            e.mode.clone(),
            thousands(e.jobs_per_s),
            thousands(fleet),
            ratio(fleet / e.jobs_per_s),
        ]);
    }
    t.print();

    let (fleet_label, fleet_rate) = fleet_drain.unwrap_or(("-", f64::NAN));
    let mut t = Table::new(
        &format!(
            "peers: no-op drain, steady (fleet's best drain: {fleet_label}, {} orders/s)",
            thousands(fleet_rate)
        ),
        &[
            "peer",
            "config",
            "N",
            "jobs/s",
            "worker CPU ms/1k",
            "Redis CPU ms/1k",
            "fleet : peer",
        ],
    );
    let opt = |x: Option<f64>| x.map_or("n/a".to_string(), |v| format!("{v:.0}"));
    for d in &results.drains {
        t.row(vec![
            d.peer.clone(),
            d.config.clone(),
            d.n.to_string(),
            match (&d.error, d.jobs_per_s) {
                (Some(e), _) => format!("failed: {e}"),
                (None, Some(r)) => thousands(r),
                (None, None) => "n/a".into(),
            },
            opt(d.worker_cpu_ms_per_1k),
            opt(d.redis_cpu_ms_per_1k),
            d.jobs_per_s.map_or("n/a".into(), |r| ratio(fleet_rate / r)),
        ]);
    }
    t.print();

    let mut t = Table::new(
        "fleet : best configuration of each peer (drain)",
        &[
            "peer",
            "best config",
            "peer jobs/s",
            "fleet orders/s",
            "fleet : peer",
        ],
    );
    let mut names: Vec<&str> = results.drains.iter().map(|d| d.peer.as_str()).collect();
    names.dedup();
    for name in names {
        let best = results
            .drains
            .iter()
            .filter(|d| d.peer == name && d.error.is_none())
            .filter_map(|d| d.jobs_per_s.map(|r| (d, r)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((d, r)) = best {
            t.row(vec![
                name.to_string(),
                d.config.clone(),
                thousands(r),
                thousands(fleet_rate),
                ratio(fleet_rate / r),
            ]);
        }
    }
    t.print();
}
