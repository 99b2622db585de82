//! The `fleet-worker` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use fleet_shared::config::RedisArgs;
use fleet_shared::definition::{self, LoadedDefinition};
use fleet_shared::telemetry::{self, LogFormat};

use crate::config::{Definitions, WorkerConfig, default_work_dir, defaults};
use crate::executor::Executor;
use crate::executor::docker::DockerExecutor;
use crate::executor::process::{ProcessExecutor, Sandbox};
use crate::git::{Credentials, GitSettings};
use crate::runtime::{Shutdown, Worker, host_name};

#[derive(Debug, Parser)]
#[command(
    name = "fleet-worker",
    version,
    about = "A stateless fleet worker: claims orders, runs their agent in a sandbox, pushes the result",
    long_about = "A stateless fleet worker.\n\n\
        `run` claims orders of the task types its definition accepts from Redis, runs each agent in \
        a hardened sandbox (Docker, or bubblewrap when no engine answers), checks the change \
        against the definition's constraints, then commits and pushes fleet/<type>/<order-id>.\n\n\
        `once` runs a single order without Redis (for CI pipelines) and prints a JSON result.\n\n\
        Signals: the first SIGTERM or Ctrl-C drains (no new orders; running ones get --grace to \
        finish, then are handed back without charging an attempt); a second one forces.\n\n\
        Git credentials: FLEET_GIT_TOKEN (+ FLEET_GIT_USERNAME) or FLEET_GIT_CREDENTIALS_FILE; \
        they reach git only through libgit2's credential callback."
)]
pub struct Cli {
    /// Log line format.
    #[arg(
        long,
        value_enum,
        default_value_t,
        global = true,
        env = "FLEET_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Claim and run orders until stopped.
    Run(RunArgs),
    /// Run one order without Redis and print its result as JSON.
    ///
    /// Exit codes: 0 succeeded, 1 order failed, 2 bad input, 3 timed out, 4 infrastructure error.
    Once(OnceArgs),
}

/// Which sandbox runs the agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorKind {
    /// Docker when an engine answers, else the process executor.
    Auto,
    Docker,
    /// bubblewrap when `bwrap` exists, else a plain child process (not isolated).
    Process,
}

/// Settings `run` and `once` share.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// A definition file, or a worker_id looked up in --definitions-dir. Repeat it (or give a
    /// comma-separated list) to run several definitions in one worker: each order runs under the
    /// definition that accepts its task type. `all` runs every definition in the directory.
    #[arg(long, env = "FLEET_DEFINITION", required = true, value_delimiter = ',')]
    pub definition: Vec<String>,
    /// Where worker ids given to --definition are looked up.
    #[arg(long, env = "FLEET_DEFINITIONS_DIR", default_value = "definitions")]
    pub definitions_dir: PathBuf,
    #[arg(long, value_enum, default_value = "auto", env = "FLEET_EXECUTOR")]
    pub executor: ExecutorKind,
    /// Root of the git mirror cache and the per-order directories [default: /var/lib/fleet,
    /// or a temp dir when that is not writable]. With the Docker executor this path must be the
    /// same on the Docker host (bind mounts name host paths).
    #[arg(long, env = "FLEET_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// Directory holding the static `fleet-agent` helper, mounted read-only into sandboxes
    /// [default: next to this binary, when present].
    #[arg(long, env = "FLEET_AGENT_HELPER_DIR")]
    pub agent_helper_dir: Option<PathBuf>,
    /// Commits of history fetched for network repositories (0 = all).
    #[arg(long, default_value_t = crate::git::DEFAULT_DEPTH)]
    pub git_depth: u32,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Orders run at once.
    #[arg(long, default_value_t = 1, env = "FLEET_CONCURRENCY")]
    pub concurrency: usize,
    /// Worker id [default: <definition>-<hostname>]. Keep it stable across restarts: a
    /// restarted worker cleans up what its crashed predecessor of the same name left.
    #[arg(long, env = "FLEET_WORKER_NAME")]
    pub name: Option<String>,
    /// Heartbeat interval.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub heartbeat: Duration,
    /// Lease length; every heartbeat extends it.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub lease: Duration,
    /// How long running orders may finish after the first SIGTERM.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub grace: Duration,
    /// Longest idle wait before claiming again anyway.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub poll: Duration,
}

#[derive(Debug, Args)]
pub struct OnceArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The order as JSON (the same fields as POST /api/v1/orders); `-` for stdin.
    #[arg(long)]
    pub order: PathBuf,
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    fleet_shared::units::parse_duration(raw)
}

/// Runs the command line; returns the exit code.
pub async fn run(cli: Cli) -> ExitCode {
    telemetry::init(cli.log_format, "info");
    match cli.command {
        Command::Run(args) => match run_worker(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err((code, message)) => {
                eprintln!("error: {message}");
                ExitCode::from(code)
            }
        },
        Command::Once(args) => crate::once::run(args).await,
    }
}

/// Loads and checks the definitions; an error is the definition checker's one line.
pub fn load_definitions(common: &CommonArgs) -> Result<Vec<LoadedDefinition>, String> {
    if common.definition.iter().any(|d| d == "all") {
        let (loaded, errors) = definition::load_dir(&common.definitions_dir);
        if let Some(e) = errors.first() {
            return Err(e.to_string());
        }
        if loaded.is_empty() {
            return Err(format!(
                "definition: no definitions in {}",
                common.definitions_dir.display()
            ));
        }
        return Ok(loaded);
    }
    common
        .definition
        .iter()
        .map(|d| definition::resolve(d, &common.definitions_dir).map_err(|e| e.to_string()))
        .collect()
}

/// Builds the executor asked for; `auto` falls back to the process executor with a warning.
pub async fn build_executor(kind: ExecutorKind) -> Result<Executor, String> {
    let process = || {
        ProcessExecutor::new(Sandbox::Auto)
            .map(Executor::Process)
            .map_err(|e| e.to_string())
    };
    match kind {
        ExecutorKind::Docker => DockerExecutor::connect()
            .await
            .map(Executor::Docker)
            .map_err(|e| format!("{e} (start a Docker engine, or use --executor process)")),
        ExecutorKind::Process => process(),
        ExecutorKind::Auto => match DockerExecutor::connect().await {
            Ok(docker) => Ok(Executor::Docker(docker)),
            Err(e) => {
                tracing::warn!(error = %e, "no Docker engine answers; using the process executor");
                process()
            }
        },
    }
}

/// The directory mounted read-only at /fleet/bin in sandboxes, holding only `fleet-agent`.
///
/// The helper comes from --agent-helper-dir, else from next to this binary, and is copied into
/// `<work dir>/helper/`. Why copy: bind mounts name paths on the Docker host, and the work dir
/// is the one path known to be the same on the host and in a containerised worker — mounting the
/// worker's own binary directory would mount whatever the host has at that path.
pub fn helper_dir(common: &CommonArgs, work_dir: &std::path::Path) -> Option<PathBuf> {
    let source = match &common.agent_helper_dir {
        Some(dir) => dir.join("fleet-agent"),
        None => std::env::current_exe().ok()?.parent()?.join("fleet-agent"),
    };
    if !source.is_file() {
        if common.agent_helper_dir.is_some() {
            tracing::warn!(path = %source.display(), "no fleet-agent helper there; sandboxes get none");
        }
        return None;
    }
    // Agent images may have no libc at all: a dynamically linked helper would fail there, so
    // only a static one is ever mounted (`cargo build` makes a dynamic one next to this binary).
    if !crate::elf::is_static_executable(&source) {
        tracing::warn!(path = %source.display(),
            "the fleet-agent helper there is not a static executable; sandboxes get none (build one with scripts/build-agent-helper.sh)");
        return None;
    }
    let staged = work_dir.join("helper");
    let copy = || -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&staged)?;
        let target = staged.join("fleet-agent");
        // Write then rename: a sandbox starting meanwhile sees the old helper or the new one.
        let tmp = staged.join(format!(".fleet-agent.{}", std::process::id()));
        std::fs::copy(&source, &tmp)?;
        std::fs::rename(&tmp, &target)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755))?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
        std::fs::canonicalize(&staged)
    };
    match copy() {
        Ok(dir) => Some(dir),
        Err(e) => {
            tracing::warn!(error = %e, "could not stage the fleet-agent helper; sandboxes get none");
            None
        }
    }
}

/// Git settings: the mirror cache under the work dir, credentials from the environment.
pub fn git_settings(work_dir: &std::path::Path, depth: u32) -> Result<GitSettings, String> {
    let credentials = Credentials::from_env().map_err(|e| e.to_string())?;
    let mut settings = GitSettings::new(work_dir.join("mirrors"));
    settings.depth = depth;
    settings.credentials = credentials;
    Ok(settings)
}

async fn run_worker(args: RunArgs) -> Result<(), (u8, String)> {
    let bad = |m: String| (2u8, m);
    let infra = |m: String| (4u8, m);
    let loaded = load_definitions(&args.common).map_err(bad)?;
    if args.concurrency == 0 || args.concurrency > 256 {
        return Err(bad(format!(
            "concurrency: {} must be between 1 and 256",
            args.concurrency
        )));
    }
    let queue = args.redis.queue().map_err(|e| bad(e.to_string()))?;
    let work_dir = prepare_work_dir(args.common.work_dir.clone()).map_err(bad)?;
    let definitions =
        Definitions::new(loaded.into_iter().map(|l| l.definition).collect()).map_err(bad)?;
    let name = args.name.clone().unwrap_or_else(|| {
        let prefix = match definitions.iter().count() {
            1 => definitions.ids(),
            _ => "worker".to_string(),
        };
        format!("{prefix}-{}", host_name())
    });
    validate_name(&name).map_err(bad)?;
    let git = git_settings(&work_dir, args.common.git_depth).map_err(bad)?;
    let executor = build_executor(args.common.executor).await.map_err(infra)?;
    let config = WorkerConfig {
        name,
        definitions,
        concurrency: args.concurrency,
        work_dir,
        heartbeat: args.heartbeat,
        lease: args.lease,
        grace: args.grace,
        poll: args.poll,
        log_lines: defaults::LOG_LINES,
    };
    let worker = Worker {
        helper_dir: helper_dir(&args.common, &config.work_dir),
        config,
        queue,
        executor: Arc::new(executor),
        git: Arc::new(git),
    };
    let shutdown = Shutdown::default();
    tokio::spawn(listen_for_signals(shutdown.clone()));
    worker
        .run(shutdown)
        .await
        .map_err(|e| infra(format!("{e:#}")))
}

/// Creates the work dir and makes it absolute: sandboxes bind-mount paths under it.
pub fn prepare_work_dir(flag: Option<PathBuf>) -> Result<PathBuf, String> {
    let dir = flag.unwrap_or_else(default_work_dir);
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::canonicalize(&dir))
        .map_err(|e| format!("work-dir: cannot use {}: {e}", dir.display()))
}

/// Worker names end up in container names, labels and paths.
fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name: {name:?} is not a worker name (1-100 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit)"
        ))
    }
}

/// First SIGTERM / Ctrl-C drains, the second forces.
pub async fn listen_for_signals(shutdown: Shutdown) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    let next = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    next.await;
    tracing::warn!("shutdown requested: draining (send the signal again to force)");
    shutdown.drain.cancel();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::warn!("second signal: forcing shutdown");
    shutdown.force.cancel();
}
