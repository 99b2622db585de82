//! `mirror`: cold against warm workspace preparation through the worker's git mirror cache
//! (`fleet_worker::git::prepare_workspace`), as its module docs describe: the same
//! `GitSettings::cache_dir` twice, into fresh directories. A fresh cache dir makes a call cold.
//!
//! The repository is synthetic but shaped like a real one (thousands of source files, thousands
//! of one-line commits), served over git:// by `git daemon` on loopback (the worker fetches it
//! shallowly, `--git-depth` 50 by default), and read through file:// (always a full fetch:
//! libgit2 cannot fetch local paths shallowly).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use fleet_shared::{BranchName, RepoUrl};
use fleet_worker::git::{self, GitSettings, PrepareStats};

use crate::repo::{BareRepo, GitDaemon, Shape};
use crate::report::{Table, Targets, median, ms, ratio, thousands};

#[derive(Debug, Clone, Args)]
pub struct MirrorArgs {
    /// Files in the synthetic repository [default: 3000, --quick: 1000].
    #[arg(long)]
    pub files: Option<usize>,
    /// Commits on its main branch [default: 5000, --quick: 1000].
    #[arg(long)]
    pub commits: Option<usize>,
    /// Cold/warm pairs per transport [default: 5, --quick: 2].
    #[arg(long)]
    pub reps: Option<usize>,
    /// The target: warm at least this many times faster than cold.
    #[arg(long, default_value_t = 5.0)]
    pub target: f64,
    /// Where repositories, mirrors and workspaces go [default: the system temp dir]; e.g.
    /// /dev/shm to take the disk out of the figures.
    #[arg(long, env = "FLEET_BENCH_SCRATCH")]
    pub scratch_dir: Option<std::path::PathBuf>,
    #[arg(long)]
    pub quick: bool,
}

/// One way of reaching the repository.
struct Transport {
    name: &'static str,
    url: String,
    depth: u32,
    /// Whether the target applies: the worker's default network fetch (shallow) and file://.
    gated: bool,
}

/// Medians over the reps of one transport.
#[derive(Default)]
struct Samples {
    cold: Vec<PrepareStats>,
    warm: Vec<PrepareStats>,
    moved: Vec<PrepareStats>,
    cold_ms: Vec<f64>,
    warm_ms: Vec<f64>,
    moved_ms: Vec<f64>,
}

/// Runs every transport's cold/warm pairs; true when the gated warm ÷ cold ratios reach
/// `--target`.
pub async fn run(args: MirrorArgs) -> anyhow::Result<bool> {
    let shape = Shape {
        files: args.files.unwrap_or(if args.quick { 1000 } else { 3000 }),
        commits: args.commits.unwrap_or(if args.quick { 1000 } else { 5000 }),
        files_per_commit: 3,
        lines: 40,
    };
    let reps = args.reps.unwrap_or(if args.quick { 2 } else { 5 }).max(1);
    let tmp = crate::fleet::scratch_dir("fleet-bench-mirror-", args.scratch_dir.as_deref())?;
    let served = tmp.path().join("served");
    std::fs::create_dir(&served)?;
    eprintln!(
        "mirror: writing a repository of {} files and {} commits",
        shape.files, shape.commits
    );
    let started = Instant::now();
    let mut repo = BareRepo::create(&served, "big", shape)?;
    let size = dir_size(&repo.path());
    eprintln!(
        "mirror: written in {:.1} s ({} MiB on disk)",
        started.elapsed().as_secs_f64(),
        size / (1 << 20)
    );
    let daemon = GitDaemon::start(&served)?;
    let transports = [
        Transport {
            name: "git:// (shallow, depth 50: the worker's default)",
            url: daemon.url(&repo.name),
            depth: git::DEFAULT_DEPTH,
            gated: true,
        },
        Transport {
            name: "git:// (full history, --git-depth 0)",
            url: daemon.url(&repo.name),
            depth: 0,
            gated: false,
        },
        Transport {
            name: "file:// (always full)",
            url: repo.file_url(),
            depth: 0,
            gated: true,
        },
    ];

    let mut results = Vec::new();
    let mut step = 0;
    for t in &transports {
        let mut s = Samples::default();
        for rep in 0..reps {
            eprintln!("mirror: {} rep {}/{reps}", t.name, rep + 1);
            let mut settings = GitSettings::new(tmp.path().join(format!("cache-{step}")));
            settings.depth = t.depth;
            let (stats, took) = prepare(&settings, &t.url, tmp.path(), &mut step).await?;
            s.cold.push(stats);
            s.cold_ms.push(took);
            let (stats, took) = prepare(&settings, &t.url, tmp.path(), &mut step).await?;
            s.warm.push(stats);
            s.warm_ms.push(took);
            repo.advance("NEWS.md", &format!("upstream change {step}\n"))?;
            let (stats, took) = prepare(&settings, &t.url, tmp.path(), &mut step).await?;
            s.moved.push(stats);
            s.moved_ms.push(took);
            // Free the disk as we go: every prepare copied the whole object store.
            let _ = std::fs::remove_dir_all(&settings.cache_dir);
        }
        results.push(s);
    }
    drop(daemon);
    Ok(report(&transports, &results, shape, size, args.target))
}

/// One `prepare_workspace` into a fresh directory; returns its stats and wall time (ms).
async fn prepare(
    settings: &GitSettings,
    url: &str,
    tmp: &Path,
    step: &mut usize,
) -> anyhow::Result<(PrepareStats, f64)> {
    *step += 1;
    let dest = tmp.join(format!("ws-{step}"));
    let repo = RepoUrl::parse(url)?;
    let branch = BranchName::parse("main")?;
    let settings = settings.clone();
    let into = dest.clone();
    let (workspace, took) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let ws = git::prepare_workspace(&settings, &repo, &branch, &into);
        (ws, started.elapsed())
    })
    .await
    .context("the prepare task panicked")?;
    let workspace = workspace.context("prepare_workspace")?;
    let _ = std::fs::remove_dir_all(&dest);
    Ok((workspace.stats, millis(took)))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut pending: Vec<PathBuf> = vec![path.to_path_buf()];
    while let Some(p) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => pending.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn report(
    transports: &[Transport],
    results: &[Samples],
    shape: Shape,
    size: u64,
    target: f64,
) -> bool {
    println!(
        "\nrepository: {} files, {} commits ({} files changed per commit), {} MiB on disk",
        shape.files,
        shape.commits,
        shape.files_per_commit,
        size / (1 << 20)
    );
    let mut t = Table::new(
        "prepare_workspace, ms (median over reps; cold = fresh cache dir)",
        &[
            "transport",
            "order",
            "total",
            "fetch",
            "copy + checkout",
            "objects fetched",
            "KiB fetched",
            "cold ÷ this",
        ],
    );
    let mut targets = Targets::default();
    let mut notes = Vec::new();
    for (tr, s) in transports.iter().zip(results) {
        let cold = median(&s.cold_ms);
        for (what, stats, took) in [
            ("cold (first order)", &s.cold, &s.cold_ms),
            ("warm, upstream unchanged", &s.warm, &s.warm_ms),
            ("warm, upstream 1 commit ahead", &s.moved, &s.moved_ms),
        ] {
            let f = |g: fn(&PrepareStats) -> f64| median(&stats.iter().map(g).collect::<Vec<_>>());
            t.row(vec![
                tr.name.to_string(),
                what.to_string(),
                ms(median(took)),
                ms(f(|s| millis(s.fetch_time))),
                ms(f(|s| millis(s.clone_time))),
                thousands(f(|s| s.received_objects as f64)),
                thousands(f(|s| s.received_bytes as f64 / 1024.0)),
                ratio(cold / median(took)),
            ]);
        }
        for (what, took) in [("unchanged", &s.warm_ms), ("1 commit ahead", &s.moved_ms)] {
            let speedup = cold / median(took);
            let name = format!("warm ({what}) vs cold, {}", tr.name);
            // The target is about the second order (upstream unchanged); the order
            // after an upstream commit is reported beside it.
            if tr.gated && what == "unchanged" {
                targets.check(
                    &name,
                    ratio(speedup),
                    format!("≥ {target:.1}×"),
                    speedup >= target,
                );
            } else {
                notes.push(format!("{name}: {} (reported, not gated)", ratio(speedup)));
            }
        }
    }
    t.print();
    for note in notes {
        println!("{note}");
    }
    targets.print()
}
