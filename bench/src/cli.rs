//! The `fleet-bench` command line: one subcommand per benchmark.

use clap::{Parser, Subcommand};

use crate::heartbeats::HeartbeatArgs;
use crate::mirror::MirrorArgs;
use crate::queue_bench::QueueArgs;
use crate::throughput::ThroughputArgs;
use crate::worker_overhead::OverheadArgs;

#[derive(Debug, Parser)]
#[command(
    name = "fleet-bench",
    about = "fleet's benchmarks: figures and ratios measured side by side in one run",
    long_about = "fleet's benchmarks. Each subcommand starts its own private redis-server (never \
        the machine's shared one), measures side by side in one run, prints tables of figures \
        and ratios, and exits 1 when a target it states is missed (2 when it could not run). \
        Build and run in release mode: `cargo run --release -p fleet-bench -- <benchmark>`. \
        Every benchmark takes --quick. See docs/benchmarks.md."
)]
// No doc comment here: clap would take it for the `about` text set above.
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// No-op queue throughput (enqueue; claim + complete with C claimers), a redis-benchmark
    /// baseline and the peers (BullMQ, apalis, ...) in the same run.
    Queue(QueueArgs),
    /// The real worker pipeline around one container (claim → container → pushed) against a
    /// raw `docker run --rm` of the same image and command. Target: ≤ 1.5× the raw run.
    WorkerOverhead(OverheadArgs),
    /// Cold against warm workspace preparation through the git mirror cache, over git:// and
    /// file://. Target: warm ≥ 5× faster than cold.
    Mirror(MirrorArgs),
    /// 1,000 simulated workers heartbeating with the maintenance loop running, then ×10 workers
    /// and ×10 queue depth: Redis CPU, bench CPU, cycle times and how they grow.
    Heartbeats(HeartbeatArgs),
    /// Orders/s through N real `fleet-worker` processes with the process executor, and with a
    /// 10× deeper queue.
    Throughput(ThroughputArgs),
}

/// Runs the benchmark; true when every target it states was met.
pub async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Queue(args) => crate::queue_bench::run(args).await,
        Command::WorkerOverhead(args) => crate::worker_overhead::run(args).await,
        Command::Mirror(args) => crate::mirror::run(args).await,
        Command::Heartbeats(args) => crate::heartbeats::run(args).await,
        Command::Throughput(args) => crate::throughput::run(args).await,
    }
}
