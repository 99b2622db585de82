//! What runs beside a container: its output forwarded line by line, and its resource use
//! sampled.
//!
//! **What is measured.** Docker's stats stream (one sample about every second while the
//! container runs):
//! - peak memory: on cgroup v1, the cgroup's own high-water mark (`memory.max_usage_in_bytes`,
//!   reported as `max_usage`), so a spike between samples still counts; on cgroup v2, where the
//!   engine reports no high-water mark, the largest `usage` seen in a sample, so a spike shorter
//!   than a second can be missed. Either way it is memory *as the cgroup counts it*, page cache
//!   included — the same number the memory limit is enforced against.
//! - CPU time: the cgroup's cumulative `total_usage` (user + system, all processes) from the last
//!   sample, so up to a second of work at the very end is not counted.
//!
//! A container that lives less than about a second may yield no sample: both are then `None`.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::StatsOptions;
use futures_util::{Stream as FuturesStream, StreamExt};
use tokio::sync::mpsc;

use crate::executor::lines::{LineSink, LineSplitter};
use crate::executor::{OutputLine, Stream};

/// The container's output as the engine streams it to an attached client.
pub(super) type OutputStream =
    Pin<Box<dyn FuturesStream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// Forwards the attached stdout and stderr as whole lines until the container's streams close.
/// Returns how many lines the receiver did not take.
///
/// Reading an attach applies back-pressure — the agent waits while this is not reading — so
/// this loop never waits on the receiver for long (see `LineSink`): the agent is held up by at
/// most one patience period before lines start being dropped instead.
pub(super) async fn forward_output(
    mut attached: OutputStream,
    name: String,
    output: mpsc::Sender<OutputLine>,
) -> u64 {
    let mut sink = LineSink::new(output);
    let mut out = LineSplitter::new(Stream::Stdout);
    let mut err = LineSplitter::new(Stream::Stderr);
    while let Some(item) = attached.next().await {
        let lines = match item {
            Ok(LogOutput::StdOut { message }) => out.push(&message),
            Ok(LogOutput::StdErr { message }) => err.push(&message),
            Ok(LogOutput::StdIn { .. } | LogOutput::Console { .. }) => continue,
            Err(e) => {
                // The engine dropped the stream; the run itself goes on, only output is lost.
                tracing::warn!(container = %name, error = %e, "lost the container's output stream");
                break;
            }
        };
        for line in lines {
            sink.send(line).await;
        }
    }
    for line in [out.finish(), err.finish()].into_iter().flatten() {
        sink.send(line).await;
    }
    sink.dropped()
}

/// Resource use seen so far; shared with the sampler so nothing is lost when it is stopped.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Usage {
    pub(super) peak_memory_bytes: Option<u64>,
    pub(super) cpu_time: Option<Duration>,
}

/// Samples the container's stats into `usage` until the stream ends or the task is aborted.
pub(super) async fn sample_stats(docker: Docker, name: String, usage: Arc<Mutex<Usage>>) {
    let options = StatsOptions {
        stream: true,
        one_shot: false,
    };
    let mut stats = docker.stats(&name, Some(options));
    while let Some(Ok(sample)) = stats.next().await {
        let memory = sample
            .memory_stats
            .and_then(|m| m.max_usage.or(m.usage))
            .filter(|b| *b > 0);
        let cpu_ns = sample
            .cpu_stats
            .and_then(|c| c.cpu_usage)
            .and_then(|u| u.total_usage)
            .filter(|ns| *ns > 0);
        // A std Mutex: held for two comparisons, never across an await.
        let mut seen = usage.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = memory {
            seen.peak_memory_bytes = Some(seen.peak_memory_bytes.map_or(m, |p| p.max(m)));
        }
        if let Some(ns) = cpu_ns {
            let t = Duration::from_nanos(ns);
            seen.cpu_time = Some(seen.cpu_time.map_or(t, |p| p.max(t)));
        }
    }
}
