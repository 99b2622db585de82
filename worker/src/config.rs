//! A worker's settings, assembled from the command line and the definition.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fleet_shared::TaskType;
use fleet_shared::definition::Definition;

/// Everything a worker needs to know besides Redis.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker's id in the registry, labels and directories; stable across restarts so that
    /// a restarted worker can clean up after its crashed predecessor.
    pub name: String,
    /// One or more definitions; each order runs under the one that accepts its task type.
    pub definitions: Definitions,
    /// Orders run at once.
    pub concurrency: usize,
    /// Root of mirrors and per-order directories.
    pub work_dir: PathBuf,
    pub heartbeat: Duration,
    /// Lease length; each heartbeat extends it.
    pub lease: Duration,
    /// How long a draining worker lets running orders finish before handing them back.
    pub grace: Duration,
    /// Longest wait for work before claiming again anyway (the fallback poll).
    pub poll: Duration,
    /// Lines of agent output kept per order in Redis.
    pub log_lines: usize,
}

impl WorkerConfig {
    /// The directory holding this worker's per-order directories.
    pub fn orders_dir(&self) -> PathBuf {
        self.work_dir.join("orders").join(&self.name)
    }

    /// The git mirror cache (shared by every worker on this host that uses the same work dir).
    pub fn mirrors_dir(&self) -> PathBuf {
        self.work_dir.join("mirrors")
    }
}

/// The definitions one worker runs, no two accepting the same task type.
#[derive(Debug, Clone)]
pub struct Definitions(Vec<Definition>);

impl Definitions {
    /// Refuses an empty set and two definitions that accept the same task type (an order must
    /// never depend on which of them a worker happens to pick).
    pub fn new(definitions: Vec<Definition>) -> Result<Self, String> {
        if definitions.is_empty() {
            return Err("definition: give at least one --definition".into());
        }
        for (i, a) in definitions.iter().enumerate() {
            for b in &definitions[i + 1..] {
                if let Some(t) = a.accepts.iter().find(|t| b.accepts.contains(t)) {
                    return Err(format!(
                        "definition: {} and {} both accept {t:?} orders; give each task type to one definition",
                        a.worker_id, b.worker_id
                    ));
                }
            }
        }
        Ok(Definitions(definitions))
    }

    /// The definition that runs orders of `task_type`.
    pub fn for_type(&self, task_type: TaskType) -> Option<&Definition> {
        self.0.iter().find(|d| d.accepts(task_type))
    }

    /// Every task type any of them accepts: what the worker claims.
    pub fn accepts(&self) -> Vec<TaskType> {
        let mut types: Vec<TaskType> = self.0.iter().flat_map(|d| d.accepts.clone()).collect();
        types.sort();
        types
    }

    /// `docs-worker,review-worker`: the registry's `definition` field.
    pub fn ids(&self) -> String {
        self.0
            .iter()
            .map(|d| d.worker_id.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn iter(&self) -> impl Iterator<Item = &Definition> {
        self.0.iter()
    }
}

/// Defaults of the tunables, also used by the CLI.
pub mod defaults {
    use std::time::Duration;

    pub const HEARTBEAT: Duration = Duration::from_secs(5);
    pub const LEASE: Duration = Duration::from_secs(60);
    pub const GRACE: Duration = Duration::from_secs(30);
    pub const POLL: Duration = Duration::from_secs(2);
    pub const LOG_LINES: usize = 2000;
}

/// `/var/lib/fleet` when it can be used, else a directory under the system temp dir.
pub fn default_work_dir() -> PathBuf {
    let preferred = Path::new("/var/lib/fleet");
    if std::fs::create_dir_all(preferred).is_ok() && is_writable(preferred) {
        return preferred.to_path_buf();
    }
    std::env::temp_dir().join(format!("fleet-{}", nix::unistd::getuid()))
}

fn is_writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}
