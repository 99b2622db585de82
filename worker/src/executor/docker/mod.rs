//! The Docker executor: each phase is one hardened container, created, run, and always removed.
//!
//! The container is built in `config` (read-only root, private /tmp, no capabilities,
//! no-new-privileges, not root, limits, no network unless the spec allows it). The executor never
//! pulls: an image that is not on the host is [`ExecError::ImageMissing`]. Who the container runs
//! as and how the workspace becomes writable to it is the rule in `executor::prepare`.
//!
//! Output comes from an attach made before the start, so none is missed. Resource use comes from
//! the engine's stats stream (about one sample a second): peak memory is the cgroup's own
//! high-water mark on cgroup v1 and the largest sampled usage on v2, page cache included; CPU
//! time is the cgroup's total from the last sample. Details, and what can be missed, in
//! `monitor`.

mod config;
mod monitor;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, ListContainersOptions, RemoveContainerOptions,
    StopContainerOptions,
};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::prepare::{check_read_only_mounts, chown_writable_mounts, effective_user, validate};
use super::{ExecError, KILL_GRACE, LABEL_MANAGED, LABEL_WORKER, OutputLine, RunOutcome, RunSpec};

/// How long output may keep arriving after the container stopped before the rest is given up.
/// The attach ends by itself when the container stops; this only bounds an engine that hangs.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs phases as containers on one Docker engine.
#[derive(Clone)]
pub struct DockerExecutor {
    docker: Docker,
}

impl DockerExecutor {
    /// Connects to the local engine (`DOCKER_HOST` if it is a `unix://` socket, else
    /// /var/run/docker.sock) and settles on an API version the engine speaks: bollard defaults to
    /// a newer API than older engines (Debian's 20.10 speaks 1.41) accept, so the version is
    /// negotiated down before any other call.
    pub async fn connect() -> Result<Self, ExecError> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(|e| ExecError::Infrastructure(format!("docker client: {e}")))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| ExecError::Infrastructure(format!("no Docker engine answers: {e}")))?;
        Ok(Self::new(docker))
    }

    /// Wraps a client the caller already connected (and negotiated a version for).
    pub fn new(docker: Docker) -> Self {
        DockerExecutor { docker }
    }

    /// Runs `spec` as a container; see [`super::Executor::run`].
    pub async fn run(
        &self,
        spec: &RunSpec,
        output: mpsc::Sender<OutputLine>,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, ExecError> {
        validate(spec)?;
        let (user, worker_is_root) = effective_user(spec)?;
        self.require_image(&spec.image).await?;
        let body = config::container_body(spec, user)?;
        if worker_is_root {
            check_read_only_mounts(&spec.mounts, user)?;
            chown_writable_mounts(&spec.mounts, user).await?;
        }
        // A container of this name can only be a leftover of a crashed attempt at this phase.
        self.remove(&spec.name).await?;

        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..CreateContainerOptions::default()
        };
        self.docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| create_error(e, spec))?;
        let guard = RemoveOnDrop {
            docker: self.docker.clone(),
            name: Some(spec.name.clone()),
        };
        let result = self.run_created(spec, output, cancel).await;
        // Removed here, awaited, rather than by the guard: the caller may look for the container
        // the moment run() returns. A failed removal is logged, not returned, so the outcome of an
        // agent that did run is not lost; the next sweep removes it.
        if let Err(e) = self.remove(&spec.name).await {
            tracing::error!(container = %spec.name, error = %e, "could not remove the container");
        }
        guard.disarm();
        result
    }

    async fn run_created(
        &self,
        spec: &RunSpec,
        output: mpsc::Sender<OutputLine>,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, ExecError> {
        let name = spec.name.as_str();
        // Attached before the start, so not a byte is missed however fast the agent exits. (A
        // log follow after the start would need no attach, but Docker 20.10 ends a follow early
        // when the container exits while it is still reading — observed losing the tail of
        // large outputs.)
        let options = AttachContainerOptions {
            stream: true,
            stdout: true,
            stderr: true,
            ..AttachContainerOptions::default()
        };
        let attached = self
            .docker
            .attach_container(name, Some(options))
            .await
            .map_err(|e| ExecError::Infrastructure(format!("attach {name}: {e}")))?;
        let mut logs = tokio::spawn(monitor::forward_output(
            attached.output,
            name.to_string(),
            output,
        ));

        let started = Instant::now();
        self.docker
            .start_container(name, None)
            .await
            .map_err(|e| match e {
                // The runtime refused to set the container up (a workdir that is a file, a
                // mount it cannot make...): the same spec fails the same way. (A missing argv[0]
                // is not this: the init starts, and the agent exits 127.)
                DockerError::DockerResponseServerError {
                    status_code: 400,
                    message,
                } => ExecError::InvalidSpec(format!("{name}: {message}")),
                e => ExecError::Infrastructure(format!("start {name}: {e}")),
            })?;
        let usage = Arc::new(Mutex::new(monitor::Usage::default()));
        let stats = tokio::spawn(monitor::sample_stats(
            self.docker.clone(),
            name.to_string(),
            usage.clone(),
        ));

        let (mut timed_out, mut cancelled) = tokio::select! {
            exited = self.wait_exit(name) => { exited?; (false, false) }
            () = tokio::time::sleep(spec.timeout) => (true, false),
            () = cancel.cancelled() => (false, true),
        };
        if (timed_out || cancelled) && !self.is_running(name).await? {
            // It exited on its own just before: its exit code stands.
            (timed_out, cancelled) = (false, false);
        }
        if timed_out || cancelled {
            tracing::info!(
                container = name,
                timed_out,
                cancelled,
                "stopping the container"
            );
            self.stop(name).await;
        }
        let state = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(|e| ExecError::Infrastructure(format!("inspect {name}: {e}")))?
            .state
            .unwrap_or_default();
        let duration = started.elapsed();

        match tokio::time::timeout(DRAIN_TIMEOUT, &mut logs).await {
            Ok(Ok(0)) => {}
            Ok(Ok(dropped)) => {
                tracing::warn!(container = name, dropped, "output lines were dropped")
            }
            Ok(Err(e)) => tracing::warn!(container = name, error = %e, "log forwarder failed"),
            Err(_) => {
                logs.abort();
                tracing::warn!(
                    container = name,
                    "output still streaming after stop; cut off"
                );
            }
        }
        stats.abort();
        let usage = *usage.lock().unwrap_or_else(PoisonError::into_inner);

        if state.oom_killed == Some(true) {
            tracing::warn!(
                container = name,
                "the container was killed for exceeding its memory"
            );
        }
        Ok(RunOutcome {
            // Killed by us: no exit code, even if SIGTERM made it exit "cleanly".
            exit_code: if timed_out || cancelled {
                None
            } else {
                state.exit_code
            },
            timed_out,
            cancelled,
            duration,
            peak_memory_bytes: usage.peak_memory_bytes,
            cpu_time: usage.cpu_time,
            isolated: true,
        })
    }

    async fn is_running(&self, name: &str) -> Result<bool, ExecError> {
        let state = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(|e| ExecError::Infrastructure(format!("inspect {name}: {e}")))?
            .state;
        Ok(state.is_some_and(|s| s.running == Some(true)))
    }

    /// Resolves once the container is no longer running. The wait endpoint is only a wake-up:
    /// the engine's answer (and bollard's mapping of non-zero exits to errors) is not trusted for
    /// the state, and a dropped wait (client timeout, engine restart) is retried after checking
    /// that the container is really still running.
    async fn wait_exit(&self, name: &str) -> Result<(), ExecError> {
        loop {
            let _ = self.docker.wait_container(name, None).next().await;
            if !self.is_running(name).await? {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// SIGTERM, then SIGKILL after [`KILL_GRACE`] — the engine does both for a stop with `t`.
    async fn stop(&self, name: &str) {
        let grace = i32::try_from(KILL_GRACE.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptions {
            t: Some(grace),
            // `signal` is left unset: the engine's default is SIGTERM, and API 1.41 has no such
            // parameter.
            signal: None,
        };
        if let Err(e) = self.docker.stop_container(name, Some(options)).await {
            // Removal with force kills it anyway; the outcome is still a kill.
            tracing::warn!(container = name, error = %e, "stop failed; it is killed on removal");
        }
    }

    /// Force-removes a container (and its anonymous volumes); a container that is not there is
    /// not an error.
    async fn remove(&self, name: &str) -> Result<(), ExecError> {
        remove_container(&self.docker, name).await
    }

    async fn require_image(&self, image: &str) -> Result<(), ExecError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(()),
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => Err(ExecError::ImageMissing(image.to_string())),
            Err(e) => Err(ExecError::Infrastructure(format!(
                "inspect image {image}: {e}"
            ))),
        }
    }

    /// Removes every container labelled as managed by fleet for `worker` — what a crashed
    /// earlier run of that worker left. Only call it when this worker has no run in flight: it
    /// does not tell leftovers from live runs.
    pub async fn sweep(&self, worker: &str) -> Result<usize, ExecError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(
                [(
                    "label".to_string(),
                    vec![
                        format!("{LABEL_MANAGED}=true"),
                        format!("{LABEL_WORKER}={worker}"),
                    ],
                )]
                .into(),
            ),
            ..ListContainersOptions::default()
        };
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| ExecError::Infrastructure(format!("list containers: {e}")))?;
        let mut removed = 0;
        for id in containers.into_iter().filter_map(|c| c.id) {
            remove_container(&self.docker, &id).await?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(worker, removed, "removed containers left by an earlier run");
        }
        Ok(removed)
    }
}

async fn remove_container(docker: &Docker, name: &str) -> Result<(), ExecError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..RemoveContainerOptions::default()
    };
    match docker.remove_container(name, Some(options)).await {
        Ok(()) => Ok(()),
        // 404: already gone. 409: removal already in progress (e.g. a concurrent sweep).
        Err(DockerError::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }) => Ok(()),
        Err(e) => Err(ExecError::Infrastructure(format!("remove {name}: {e}"))),
    }
}

fn create_error(e: DockerError, spec: &RunSpec) -> ExecError {
    match e {
        // The image vanished between the check and the create.
        DockerError::DockerResponseServerError {
            status_code: 404, ..
        } => ExecError::ImageMissing(spec.image.clone()),
        // The engine refused the configuration (a mount it cannot make, a bad limit...).
        DockerError::DockerResponseServerError {
            status_code: 400,
            message,
        } => ExecError::InvalidSpec(format!("{}: {message}", spec.name)),
        e => ExecError::Infrastructure(format!("create {}: {e}", spec.name)),
    }
}

/// Removes the container if `run` is dropped mid-way (its caller gave up on the future): the
/// removal cannot be awaited in `drop`, so it is spawned onto the runtime.
struct RemoveOnDrop {
    docker: Docker,
    name: Option<String>,
}

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.name = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else {
            return;
        };
        let docker = self.docker.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = remove_container(&docker, &name).await {
                    tracing::error!(container = %name, error = %e, "could not remove the container");
                }
            });
        }
    }
}
