//! A worker's settings, assembled from the command line and the definition.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fleet_shared::definition::Definition;

/// Everything a worker needs to know besides Redis.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The worker's id in the registry, labels and directories; stable across restarts so that
    /// a restarted worker can clean up after its crashed predecessor.
    pub name: String,
    pub definition: Definition,
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
