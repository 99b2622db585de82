//! The process executor: the agent as a child process, in a bubblewrap sandbox when `bwrap` is
//! installed, else as a plain process that is **not isolated**.
//!
//! Both modes run `prlimit <rlimits> -- ...` (util-linux: rlimits without `unsafe` pre-exec
//! code; memory becomes a per-process RLIMIT_DATA, pids an RLIMIT_NPROC only when the sandbox
//! has a uid of its own, cpus nothing — see `command::prlimit_args`), in a process group of its
//! own, with an environment that is exactly the spec's `env` plus two marker variables
//! (`FLEET_EXEC_WORKER`, `FLEET_EXEC_NAME`) that let [`ProcessExecutor::sweep`] find leftovers.
//! Resource use is sampled from /proc every 200 ms over the spawned process's tree: peak memory
//! is the largest sum of resident sizes, CPU time the tree's user + system time including reaped
//! children (details in `procfs`).
//!
//! The spec's `image` is ignored: the agent runs the host's binaries, and `argv[0]` is looked up
//! on the spec's `PATH` (or /bin:/usr/bin) inside whatever view the mode gives; a missing one is
//! an exit code (127 in plain mode, 1 from bwrap), not an error. Identity: the rule in
//! `executor::prepare` (as root, the spec's uid with its writable mounts chowned; otherwise the
//! worker's own uid).
//!
//! **Bubblewrap** ([`Sandbox::Bubblewrap`]): bwrap is started *as the sandbox user* (the uid
//! switch happens before exec, so no root process ever runs inside) and unshares every namespace,
//! so inside there is no network (unless `RunSpec.network`), no capabilities, no-new-privileges,
//! and a fresh pid namespace. The filesystem is a tmpfs root with the host's system directories
//! read-only, a private /dev, /proc and size-limited /tmp, and the mounts bound at their
//! container paths. On timeout or cancel the grace period does not reach the agent: bwrap does
//! not forward SIGTERM, and its death tears down the whole pid namespace at once. `bwrap`'s
//! `--die-with-parent` ties the sandbox to the *thread* that spawned it, so `run` must be polled
//! on runtime worker threads (not inside `spawn_blocking`), which do not exit while runs are live.
//!
//! **Plain** ([`Sandbox::Plain`]): no isolation at all — the agent sees the whole host as its
//! user and can use the network; read-only mounts are not read-only. Mounts cannot be moved, so
//! they are presented as environment variables holding their host paths (`FLEET_WORKSPACE`,
//! `FLEET_DIR`, and `FLEET_MOUNT_A_B` for a mount at `/a/b`), the working directory is the host
//! path of the mount holding `workdir`, and `TMPDIR` is a private per-run directory. Values in
//! the spec's `env` that name container paths are passed as they are.
//! On timeout or cancel the whole process group gets SIGTERM, then SIGKILL after
//! [`KILL_GRACE`]; when the agent exits, whatever is left in its group is killed. A process that
//! leaves the group (setsid) escapes both.

mod command;
mod procfs;

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::lines::forward_reader;
use super::prepare::{
    RunAs, check_read_only_mounts, chown_writable_mounts, effective_user, validate,
};
use super::{ExecError, KILL_GRACE, OutputLine, RunOutcome, RunSpec, Stream};

/// How long output may keep arriving after the agent exited: a process that escaped the group
/// can hold the pipes open forever.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Which kind of sandbox the process executor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sandbox {
    /// Bubblewrap if `bwrap` is on the worker's PATH, else plain.
    Auto,
    /// Bubblewrap, or fail to construct.
    Bubblewrap,
    /// A plain child process, even where bubblewrap exists (tests, or hosts where it is broken).
    Plain,
}

/// Runs phases as (optionally sandboxed) child processes of the worker.
#[derive(Debug, Clone)]
pub struct ProcessExecutor {
    /// `Some` exactly in bubblewrap mode.
    bwrap: Option<PathBuf>,
    /// `None` when prlimit is not installed: runs then have no rlimits (logged at construction).
    prlimit: Option<PathBuf>,
}

impl ProcessExecutor {
    /// Resolves `sandbox` against this host. [`Sandbox::Bubblewrap`] without `bwrap` on the PATH
    /// is an error; [`Sandbox::Auto`] then falls back to plain, loudly.
    pub fn new(sandbox: Sandbox) -> Result<Self, ExecError> {
        let found = find_on_path("bwrap");
        let bwrap = match (sandbox, found) {
            (Sandbox::Plain, _) => None,
            (_, Some(path)) => Some(path),
            (Sandbox::Bubblewrap, None) => {
                return Err(ExecError::Infrastructure(
                    "bubblewrap was required but `bwrap` is not on the PATH".into(),
                ));
            }
            (Sandbox::Auto, None) => {
                tracing::warn!("`bwrap` not found: agents will run WITHOUT isolation");
                None
            }
        };
        let prlimit = find_on_path("prlimit");
        if prlimit.is_none() {
            tracing::warn!("`prlimit` not found: agents will run without resource limits");
        }
        Ok(ProcessExecutor { bwrap, prlimit })
    }

    /// The mode in use: [`Sandbox::Bubblewrap`] or [`Sandbox::Plain`], never `Auto`.
    pub fn sandbox(&self) -> Sandbox {
        if self.bwrap.is_some() {
            Sandbox::Bubblewrap
        } else {
            Sandbox::Plain
        }
    }

    /// Runs `spec` as a child process; see [`super::Executor::run`] and the module docs.
    pub async fn run(
        &self,
        spec: &RunSpec,
        output: mpsc::Sender<OutputLine>,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, ExecError> {
        validate(spec)?;
        let (user, worker_is_root) = effective_user(spec)?;
        let isolated = self.bwrap.is_some();
        let plain_cwd = if isolated {
            None
        } else {
            Some(command::plain_cwd(spec)?)
        };
        if worker_is_root {
            check_read_only_mounts(&spec.mounts, user)?;
            chown_writable_mounts(&spec.mounts, user).await?;
        }
        // Held to the end of the run: dropping it removes the plain mode's private TMPDIR.
        let plain = match plain_cwd {
            None => None,
            Some(cwd) => {
                tracing::warn!(
                    order = %spec.order,
                    phase = %spec.phase,
                    "running the agent WITHOUT isolation (plain process: host filesystem and network)"
                );
                Some((cwd, private_tmp(worker_is_root.then_some(user))?))
            }
        };
        let plain_dirs = plain.as_ref().map(|(cwd, tmp)| (cwd.as_path(), tmp.path()));
        let mut cmd = self.command(spec, user, worker_is_root, plain_dirs);
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| spawn_error(e, spec))?;
        let group = KillGroupOnDrop::new(child.id());

        let usage = Arc::new(Mutex::new(procfs::Usage::default()));
        let sampler = child
            .id()
            .map(|pid| tokio::spawn(procfs::sample_tree(pid, usage.clone())));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            let forward = forward_reader(out, Stream::Stdout, output.clone());
            readers.push(tokio::spawn(forward));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(forward_reader(err, Stream::Stderr, output)));
        }

        let (mut timed_out, mut cancelled) = (false, false);
        let exited = tokio::select! {
            status = child.wait() => Some(status),
            () = tokio::time::sleep(spec.timeout) => { timed_out = true; None }
            () = cancel.cancelled() => { cancelled = true; None }
        };
        let status = match exited {
            Some(status) => status,
            // It exited on its own just before: its exit code stands.
            None if matches!(child.try_wait(), Ok(Some(_))) => {
                (timed_out, cancelled) = (false, false);
                child.wait().await
            }
            None => {
                tracing::info!(phase = %spec.phase, timed_out, cancelled, "stopping the agent");
                stop(&mut child, &group).await
            }
        };
        let duration = started.elapsed();
        // The phase is over: anything it left running in its group goes with it.
        group.finish();
        let status = status.map_err(|e| ExecError::Infrastructure(format!("wait: {e}")))?;
        drain(readers, &spec.phase).await;
        if let Some(sampler) = sampler {
            sampler.abort();
        }
        let usage = *usage.lock().unwrap_or_else(PoisonError::into_inner);

        Ok(RunOutcome {
            exit_code: if timed_out || cancelled {
                None
            } else {
                // Death by a signal we did not send reads like a shell (and Docker) report it.
                status
                    .code()
                    .or_else(|| status.signal().map(|s| 128 + s))
                    .map(i64::from)
            },
            timed_out,
            cancelled,
            duration,
            peak_memory_bytes: usage.peak_memory_bytes,
            cpu_time: usage.cpu_time,
            isolated,
        })
    }

    /// `prlimit … -- [bwrap … --] argv…`, with its environment, identity and process group.
    /// `plain` is the working directory and TMPDIR of plain mode, `None` under bubblewrap.
    fn command(
        &self,
        spec: &RunSpec,
        user: RunAs,
        worker_is_root: bool,
        plain: Option<(&Path, &Path)>,
    ) -> Command {
        let mut line: Vec<OsString> = Vec::new();
        if let Some(prlimit) = &self.prlimit {
            line.push(prlimit.into());
            line.extend(command::prlimit_args(&spec.limits, worker_is_root));
        }
        if let Some(bwrap) = &self.bwrap {
            line.push(bwrap.into());
            line.extend(command::bwrap_args(spec));
        }
        line.extend(spec.argv.iter().map(OsString::from));
        let mut cmd = Command::new(&line[0]);
        cmd.args(&line[1..])
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env(procfs::MARK_WORKER, &spec.worker)
            .env(procfs::MARK_NAME, &spec.name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group, so a timeout can signal everything the agent started at once.
            .process_group(0);
        match plain {
            // bwrap sets the working directory inside; "/" is one any user can enter.
            None => cmd.current_dir("/"),
            Some((cwd, tmp)) => cmd
                .current_dir(cwd)
                .envs(command::plain_mount_env(spec))
                .env("TMPDIR", tmp),
        };
        if worker_is_root {
            // std drops the supplementary groups too when root switches uid.
            cmd.uid(user.uid).gid(user.gid);
        }
        cmd
    }

    /// Kills every process marked as a sandbox of `worker` (plain-mode agents survive a worker
    /// crash; bubblewrap sandboxes die with it) and returns how many sandboxes that was. Only
    /// call it when this worker has no run in flight: it does not tell leftovers from live runs.
    pub async fn sweep(&self, worker: &str) -> Result<usize, ExecError> {
        let worker = worker.to_string();
        tokio::task::spawn_blocking(move || procfs::sweep(&worker))
            .await
            .map_err(|e| ExecError::Infrastructure(format!("sweep task failed: {e}")))
    }
}

/// SIGTERM to the whole group, SIGKILL after [`KILL_GRACE`]; returns the agent's exit status.
async fn stop(child: &mut Child, group: &KillGroupOnDrop) -> std::io::Result<ExitStatus> {
    group.signal(Signal::SIGTERM);
    match tokio::time::timeout(KILL_GRACE, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            group.signal(Signal::SIGKILL);
            child.wait().await
        }
    }
}

/// Waits for the output forwarders to finish, cutting off any whose pipe stays open.
async fn drain(readers: Vec<JoinHandle<u64>>, phase: &str) {
    let mut dropped = 0;
    for mut reader in readers {
        match tokio::time::timeout(DRAIN_TIMEOUT, &mut reader).await {
            Ok(Ok(n)) => dropped += n,
            Ok(Err(e)) => tracing::warn!(error = %e, "output forwarder failed"),
            Err(_) => {
                reader.abort();
                tracing::warn!(phase, "output pipe held open after exit; cut off");
            }
        }
    }
    if dropped > 0 {
        tracing::warn!(phase, dropped, "output lines were dropped");
    }
}

/// A per-run TMPDIR for plain mode, owned by the sandbox user when the worker is root.
fn private_tmp(owner: Option<RunAs>) -> Result<tempfile::TempDir, ExecError> {
    let failed = |e: std::io::Error| ExecError::Infrastructure(format!("private tmp: {e}"));
    let dir = tempfile::Builder::new()
        .prefix("fleet-tmp-")
        .tempdir()
        .map_err(failed)?;
    if let Some(owner) = owner {
        std::os::unix::fs::chown(dir.path(), Some(owner.uid), Some(owner.gid)).map_err(failed)?;
    }
    Ok(dir)
}

fn spawn_error(e: std::io::Error, spec: &RunSpec) -> ExecError {
    if e.kind() == std::io::ErrorKind::NotFound {
        ExecError::InvalidSpec(format!(
            "{}: command {:?} not found",
            spec.name, spec.argv[0]
        ))
    } else {
        ExecError::Infrastructure(format!("spawn {}: {e}", spec.name))
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Signals the child's process group; kills it if the run is abandoned before [`Self::finish`]
/// (the caller dropped the future), so no agent outlives its run.
struct KillGroupOnDrop(Option<Pid>);

impl KillGroupOnDrop {
    fn new(pid: Option<u32>) -> Self {
        KillGroupOnDrop(pid.and_then(|p| i32::try_from(p).ok()).map(Pid::from_raw))
    }

    fn signal(&self, signal: Signal) {
        if let Some(group) = self.0 {
            // ESRCH: the group is already empty, which is the goal.
            let _ = killpg(group, signal);
        }
    }

    /// Kills what is left in the group and disarms: after this the group id may be reused.
    fn finish(mut self) {
        self.signal(Signal::SIGKILL);
        self.0 = None;
    }
}

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}
