//! Running an agent in a sandbox: the contract every executor meets.
//!
//! An order runs as one or more *phases* (today: the agent, then any `require_command` witness);
//! each phase is one [`RunSpec`] — one container or sandboxed process with its own image, argv,
//! mounts and permissions. The prompt never appears in `argv` spliced into a shell string: it
//! reaches the agent as data (/fleet/order.json, an env var).
//!
//! Two executors meet the same contract:
//! - [`docker`]: a hardened container through the Docker engine API (bollard).
//! - [`process`]: a bubblewrap sandbox when `bwrap` exists, else a plain child process in its own
//!   process group with rlimits, and a loud warning that it is not isolated.

pub mod docker;
mod lines;
mod prepare;
pub mod process;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Label keys every sandbox carries, so a worker can find and remove what a crashed run left.
pub const LABEL_MANAGED: &str = "io.fleet.managed";
pub const LABEL_WORKER: &str = "io.fleet.worker";
pub const LABEL_ORDER: &str = "io.fleet.order";
pub const LABEL_PHASE: &str = "io.fleet.phase";

/// How long a sandbox gets between SIGTERM and SIGKILL when it is stopped for a timeout or a
/// cancel. A worker's shutdown drain must allow at least this much per run.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// One phase of an order, ready to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Unique per phase: the container name, e.g. `fleet-w-1-<order id>-agent`.
    pub name: String,
    pub image: String,
    /// The command as an argv list. Never a shell string with data spliced in.
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Working directory inside the sandbox (normally /workspace).
    pub workdir: String,
    pub mounts: Vec<Mount>,
    /// Whether the sandbox may reach the network. Off unless the definition allows it.
    pub network: bool,
    pub limits: Limits,
    /// Killed after this long; the outcome then says `timed_out`.
    pub timeout: Duration,
    /// `uid:gid` the agent runs as; never 0.
    pub user: String,
    /// Labels in addition to the managed/worker/order/phase ones the executor adds.
    pub labels: BTreeMap<String, String>,
    /// The worker id, for labels and the orphan sweep.
    pub worker: String,
    /// The order id, for labels.
    pub order: String,
    /// The phase name (`agent`, `witness:<id>`), for labels and logs.
    pub phase: String,
}

/// A host directory made visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    pub container: String,
    pub read_only: bool,
}

/// Resource limits of one sandbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub memory_bytes: u64,
    /// CPU cores (may be fractional).
    pub cpus: f64,
    pub pids: u64,
    /// Size of the private /tmp.
    pub tmpfs_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 1 << 30,
            cpus: 1.0,
            pids: 256,
            tmpfs_bytes: 256 << 20,
        }
    }
}

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of the agent's output. Output is always drained, so a chatty agent never blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    pub line: String,
}

/// How a phase ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunOutcome {
    /// The exit code; `None` when the sandbox was killed before it exited on its own.
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    pub cancelled: bool,
    pub duration: Duration,
    /// Peak memory use, where the executor can measure it.
    pub peak_memory_bytes: Option<u64>,
    /// CPU time used, where the executor can measure it.
    pub cpu_time: Option<Duration>,
    /// False when the sandbox ran without isolation (the plain process fallback).
    pub isolated: bool,
}

impl RunOutcome {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.cancelled
    }
}

/// The sandbox could not be run at all (as opposed to the agent failing inside it).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The image does not exist locally (fleet never pulls); a definition or setup problem.
    #[error("image {0:?} is not available on this host (build it locally; fleet does not pull)")]
    ImageMissing(String),
    /// The spec cannot run (bad mount, bad user...): retrying will not help.
    #[error("invalid sandbox spec: {0}")]
    InvalidSpec(String),
    /// The engine or the host failed: retrying later may help.
    #[error("executor failure: {0}")]
    Infrastructure(String),
}

/// The executor a worker uses. An enum rather than a trait object: there are two, and async
/// methods stay plain.
pub enum Executor {
    Docker(docker::DockerExecutor),
    Process(process::ProcessExecutor),
}

impl Executor {
    /// Runs one phase to its end, sending every output line to `output`. Kills the sandbox on
    /// timeout or when `cancel` fires, and always removes it.
    pub async fn run(
        &self,
        spec: &RunSpec,
        output: mpsc::Sender<OutputLine>,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, ExecError> {
        match self {
            Executor::Docker(d) => d.run(spec, output, cancel).await,
            Executor::Process(p) => p.run(spec, output, cancel).await,
        }
    }

    /// Removes every sandbox labelled with `worker` that a crashed earlier run left behind.
    /// Returns how many were removed.
    pub async fn sweep(&self, worker: &str) -> Result<usize, ExecError> {
        match self {
            Executor::Docker(d) => d.sweep(worker).await,
            Executor::Process(p) => p.sweep(worker).await,
        }
    }

    /// `docker` or `process`, for the registry and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Executor::Docker(_) => "docker",
            Executor::Process(_) => "process",
        }
    }
}
