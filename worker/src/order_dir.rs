//! The directories of one order on the worker's disk, and the files the agent reads.
//!
//! ```text
//! <work dir>/orders/<worker>/<order id>/
//!   workspace/   the clone; mounted at /workspace
//!   fleet/       mounted at /fleet: order.json, prompt.txt, system_prompt.txt,
//!                events.jsonl (the agent appends), answers/<question id>.json (the worker writes)
//! ```
//! Everything under the worker's `orders/<worker>/` belongs to runs of this worker name, so a
//! restarted worker removes what its crashed predecessor left there.

use std::io;
use std::path::{Path, PathBuf};

use fleet_shared::WorkOrder;
use fleet_shared::definition::Definition;
use serde::Serialize;

/// Where the fleet directory appears inside the sandbox.
pub const FLEET_MOUNT: &str = "/fleet";
/// Where the workspace appears inside the sandbox.
pub const WORKSPACE_MOUNT: &str = "/workspace";

/// The on-disk directories of one order's attempt.
#[derive(Debug, Clone)]
pub struct OrderDirs {
    pub root: PathBuf,
    pub workspace: PathBuf,
    pub fleet: PathBuf,
}

/// `/fleet/order.json`: what the agent is asked to do (see docs/agent-protocol.md).
#[derive(Serialize)]
struct OrderFile<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    task_type: &'a str,
    priority: &'a str,
    prompt: &'a str,
    repository: &'a str,
    branch: &'a str,
    result_branch: String,
    attempt: u32,
    max_attempts: u32,
    timeout_secs: u64,
    labels: &'a [String],
    worker: WorkerFile<'a>,
}

#[derive(Serialize)]
struct WorkerFile<'a> {
    definition: &'a str,
    name: &'a str,
    system_prompt: &'a str,
    onboarding_steps: &'a [String],
}

impl OrderDirs {
    /// Creates fresh directories for `order` under `orders_dir`, replacing leftovers of an
    /// earlier attempt of the same order on this worker.
    pub fn create(orders_dir: &Path, order: &WorkOrder) -> io::Result<Self> {
        let root = orders_dir.join(order.id.as_str());
        if root.exists() {
            remove_tree(&root)?;
        }
        let dirs = OrderDirs {
            workspace: root.join("workspace"),
            fleet: root.join("fleet"),
            root,
        };
        std::fs::create_dir_all(&dirs.fleet)?;
        std::fs::create_dir_all(dirs.answers_dir())?;
        Ok(dirs)
    }

    /// Writes the agent's inputs: order.json, prompt.txt, system_prompt.txt and an empty
    /// events.jsonl. The prompt is data in files, never part of a command line.
    pub fn write_inputs(
        &self,
        order: &WorkOrder,
        attempt: u32,
        definition: &Definition,
    ) -> io::Result<()> {
        let file = OrderFile {
            id: order.id.as_str(),
            task_type: order.task_type.as_str(),
            priority: order.priority.as_str(),
            prompt: &order.prompt,
            repository: order.repo.as_str(),
            branch: order.branch.as_str(),
            result_branch: order.result_branch(),
            attempt,
            max_attempts: order.max_attempts,
            timeout_secs: order.timeout_secs,
            labels: &order.labels,
            worker: WorkerFile {
                definition: definition.worker_id.as_str(),
                name: &definition.identity.name,
                system_prompt: &definition.identity.system_prompt,
                onboarding_steps: &definition.identity.onboarding_steps,
            },
        };
        let json = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
        std::fs::write(self.fleet.join("order.json"), json)?;
        std::fs::write(self.fleet.join("prompt.txt"), &order.prompt)?;
        std::fs::write(
            self.fleet.join("system_prompt.txt"),
            &definition.identity.system_prompt,
        )?;
        std::fs::write(self.events_file(), b"")?;
        Ok(())
    }

    /// The channel the agent appends JSON lines to.
    pub fn events_file(&self) -> PathBuf {
        self.fleet.join("events.jsonl")
    }

    /// Where the worker writes answers to the agent's questions.
    pub fn answers_dir(&self) -> PathBuf {
        self.fleet.join("answers")
    }

    /// Removes the order's directories (workspace included) without making the caller wait:
    /// the tree is renamed aside at once (so a retry of the same order can start in a fresh
    /// directory), then deleted on a blocking thread. Deleting thousands of files can take
    /// long on a busy disk, and it must not delay recording the order's outcome. Whatever a
    /// crash leaves behind is swept when the worker starts again.
    pub fn discard(self) {
        let trash = self.root.with_file_name(format!(
            ".trash-{}-{}",
            self.root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id() as u128 * 1_000_000_000 + nanos()
        ));
        let target = match std::fs::rename(&self.root, &trash) {
            Ok(()) => trash,
            Err(_) => self.root.clone(),
        };
        let remove = move || {
            if let Err(e) = remove_tree(&target) {
                tracing::warn!(dir = %target.display(), error = %e, "could not remove an order directory");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u128)
        .unwrap_or(0)
}

/// Removes every order directory under `orders_dir` (what a crashed run left). Returns how many.
pub fn sweep(orders_dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(orders_dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if remove_tree(&entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// `remove_dir_all` that first makes read-only directories writable again: agents and git
/// leave read-only files (git's objects), which are removable, but a read-only *directory*
/// made by an agent would stop the removal.
fn remove_tree(path: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            make_writable(path);
            std::fs::remove_dir_all(path)
        }
    }
}

fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.is_dir()
    {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                make_writable(&entry.path());
            }
        }
    }
}

/// Gives a tree back to the worker's own user after a sandbox ran as another one.
///
/// A worker running as root hands the workspace to the sandbox's non-root user for the run;
/// libgit2 then refuses to open a repository owned by someone else ("not owned by current
/// user"), and turning that check off needs an `unsafe` call. So before touching git again the
/// worker takes ownership back. A non-root worker's sandboxes run as the worker itself: nothing
/// to do.
pub fn reclaim_ownership(path: &Path) -> io::Result<()> {
    let uid = nix::unistd::geteuid();
    if !uid.is_root() {
        return Ok(());
    }
    let gid = nix::unistd::getegid().as_raw();
    reclaim(path, uid.as_raw(), gid)
}

fn reclaim(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.uid() != uid || meta.gid() != gid {
        // lchown: never follow a symlink the agent planted out of the workspace.
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            reclaim(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}
