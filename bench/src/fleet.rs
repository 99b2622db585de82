//! The pieces of fleet every benchmark builds: a queue on a private Redis, valid orders, and a
//! worker definition file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use fleet_shared::clock::wall_clock_ms;
use fleet_shared::{FleetName, Keys, NewOrder, OrderId, Queue, RedisHandle, WorkOrder};

/// The fleet name every benchmark uses on its private server.
pub const FLEET: &str = "bench";

/// A queue for the benchmark fleet on the Redis at `url`, with the default settings and Redis's
/// own clock (what production runs).
pub fn queue(url: &str) -> anyhow::Result<Queue> {
    let fleet = FleetName::parse(FLEET)?;
    let redis = RedisHandle::open(url)?;
    Ok(Queue::new(redis, Keys::new(&fleet)))
}

/// A valid `docs` order for `repo` whose prompt is `prompt`.
pub fn order(repo: &str, prompt: &str) -> anyhow::Result<WorkOrder> {
    NewOrder {
        task_type: "docs".into(),
        repo: repo.into(),
        branch: Some("main".into()),
        prompt: prompt.into(),
        ..NewOrder::default()
    }
    .validate(OrderId::generate(), wall_clock_ms())
    .context("build a benchmark order")
}

// The sandbox resources of every benchmark definition: those of definitions/docs.yaml.

/// Memory of the sandbox (also the raw hardened run's `--memory`).
pub const MEMORY: &str = "512m";
/// Process limit of the sandbox (also the raw hardened run's `--pids-limit`). The process
/// executor makes it RLIMIT_NPROC of the sandbox uid, which every concurrent sandbox shares: at 64,
/// four concurrent bubblewrap sandboxes intermittently failed to fork.
pub const PIDS: u32 = 128;
/// The workspace quota / tmpfs size.
pub const DISK: &str = "512m";

/// What a benchmark definition varies.
pub struct DefinitionSpec<'a> {
    pub worker_id: &'a str,
    pub image: &'a str,
    /// The agent's argv.
    pub command: &'a [&'a str],
}

impl DefinitionSpec<'_> {
    /// Writes the definition to `dir/<worker_id>.yaml`: accepts `docs`, autonomous (no approval),
    /// no constraints, and the resources and `log_all_actions: false` of definitions/docs.yaml.
    pub fn write(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let command = serde_json::to_string(self.command)?;
        let yaml = format!(
            r#"worker_id: {id}
identity:
  name: "Benchmark worker"
  system_prompt: "You are a benchmark agent."
accepts: [docs]
runtime:
  image: {image}
  command: {command}
  network: none
  resources:
    memory: {memory}
    cpus: 1
    pids: {pids}
    timeout: 15m
    disk: {disk}
trust_level: autonomous
constraints: []
audit:
  log_all_actions: false
  retention_days: 7
clarification:
  timeout: 30m
  on_timeout: fail
git:
  author_name: "fleet bench"
  author_email: "fleet-bench@localhost"
  commit_message: "fleet {{task_type}} {{order_id}}"
"#,
            id = self.worker_id,
            image = self.image,
            memory = MEMORY,
            pids = PIDS,
            disk = DISK,
        );
        let path = dir.join(format!("{}.yaml", self.worker_id));
        std::fs::write(&path, yaml).context("write the benchmark definition")?;
        Ok(path)
    }
}

/// A temp dir for a benchmark's repositories, mirrors and workspaces: under `under` when given
/// (e.g. /dev/shm, to take the disk out of the figures), else the system temp dir. Removed when
/// dropped.
pub fn scratch_dir(prefix: &str, under: Option<&Path>) -> anyhow::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    let dir = match under {
        Some(base) => builder.tempdir_in(base),
        None => builder.tempdir(),
    };
    dir.context("create the benchmark's scratch dir")
}

/// Polls `done` every `every` until it returns true or `within` passes.
pub async fn wait_until<F, Fut>(within: Duration, every: Duration, mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if done().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}
