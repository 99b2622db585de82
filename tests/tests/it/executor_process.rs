//! The process executor against the real host: bubblewrap sandboxes and plain child processes.
//! Also home to the helpers the Docker executor tests share (`spec`, `run`, ...).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fleet_worker::executor::process::{ProcessExecutor, Sandbox};
use fleet_worker::executor::{
    ExecError, Executor, KILL_GRACE, Limits, Mount, OutputLine, RunOutcome, RunSpec, Stream,
};
use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A name no other test (or earlier run) uses, for workers, containers and marker arguments.
pub(crate) fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// A uid of the test's own, so per-uid limits (RLIMIT_NPROC) of parallel tests do not mix.
pub(crate) fn test_user() -> String {
    let uid = 20_000 + rand::random::<u32>() % 40_000;
    format!("{uid}:{uid}")
}

/// A workspace (writable, at /workspace) and a /fleet dir (read-only, world-readable).
pub(crate) struct Dirs {
    pub(crate) workspace: TempDir,
    pub(crate) fleet: TempDir,
}

impl Dirs {
    pub(crate) fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let fleet = tempfile::tempdir().unwrap();
        std::fs::set_permissions(fleet.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(fleet.path().join("order.json"), "{}").unwrap();
        Dirs {
            workspace: tempfile::tempdir().unwrap(),
            fleet,
        }
    }
}

/// A spec for `argv` in `image` with the usual mounts, small limits and a 30 s timeout.
pub(crate) fn spec(worker: &str, image: &str, argv: &[&str], dirs: &Dirs) -> RunSpec {
    RunSpec {
        name: unique(&format!("fleet-{worker}")),
        image: image.into(),
        argv: argv.iter().map(|a| a.to_string()).collect(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        workdir: "/workspace".into(),
        mounts: vec![
            Mount {
                host: dirs.workspace.path().into(),
                container: "/workspace".into(),
                read_only: false,
            },
            Mount {
                host: dirs.fleet.path().into(),
                container: "/fleet".into(),
                read_only: true,
            },
        ],
        network: false,
        limits: Limits {
            memory_bytes: 512 << 20,
            cpus: 1.0,
            pids: 64,
            tmpfs_bytes: 64 << 20,
        },
        timeout: Duration::from_secs(30),
        user: test_user(),
        labels: BTreeMap::from([("io.fleet.test".to_string(), "true".to_string())]),
        worker: worker.into(),
        order: "order-1".into(),
        phase: "agent".into(),
    }
}

/// Runs `spec` while a task collects its output, as the worker does.
pub(crate) async fn run(
    executor: &Executor,
    spec: &RunSpec,
    cancel: CancellationToken,
) -> (Result<RunOutcome, ExecError>, Vec<OutputLine>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = rx.recv().await {
            lines.push(line);
        }
        lines
    });
    let outcome = executor.run(spec, tx, cancel).await;
    (outcome, collector.await.unwrap())
}

/// The text of the lines from `stream`, in order.
pub(crate) fn texts(lines: &[OutputLine], stream: Stream) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.stream == stream)
        .map(|l| l.line.clone())
        .collect()
}

/// The value printed as `key=value` on stdout.
pub(crate) fn reported(lines: &[OutputLine], key: &str) -> String {
    let prefix = format!("{key}=");
    texts(lines, Stream::Stdout)
        .into_iter()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_else(|| panic!("{key} not reported; output: {lines:#?}"))
}

/// PIDs of live (not zombie) processes whose command line contains `token`.
fn processes_with(token: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            !zombie && String::from_utf8_lossy(&cmdline).contains(token)
        })
        .collect()
}

/// Whether the tests run as root (/proc/self belongs to the process's effective uid).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    })
}

fn bubblewrap() -> Executor {
    Executor::Process(
        ProcessExecutor::new(Sandbox::Bubblewrap)
            .expect("these tests need bubblewrap (`bwrap`, Debian package bubblewrap)"),
    )
}

fn plain() -> Executor {
    Executor::Process(ProcessExecutor::new(Sandbox::Plain).unwrap())
}

#[test]
fn auto_picks_bubblewrap_when_it_is_installed_and_plain_can_be_forced() {
    let auto = ProcessExecutor::new(Sandbox::Auto).unwrap();
    assert_eq!(auto.sandbox(), Sandbox::Bubblewrap);
    let plain = ProcessExecutor::new(Sandbox::Plain).unwrap();
    assert_eq!(plain.sandbox(), Sandbox::Plain);
}

const HARDENING_PROBE: &str = r#"
echo hello > /workspace/out.txt
touch /rootfile 2>/dev/null && echo root=writable || echo root=readonly
touch /usr/fleet-probe 2>/dev/null && echo usr=writable || echo usr=readonly
touch /fleet/x 2>/dev/null && echo fleet=writable || echo fleet=readonly
cat "$1" >/dev/null 2>&1 && echo outside=readable || echo outside=hidden
echo tmp > /tmp/t && echo tmp=writable
echo uid=$(id -u)
echo cap=$(grep CapEff /proc/self/status | tr -d ' \t' | cut -d: -f2)
echo nnp=$(grep NoNewPrivs /proc/self/status | tr -d ' \t' | cut -d: -f2)
echo ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\n' ,)
"#;

#[tokio::test]
async fn bubblewrap_confines_the_agent_to_its_workspace_without_network_or_privileges() {
    let dirs = Dirs::new();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "s").unwrap();
    let secret = secret.to_string_lossy().into_owned();
    let worker = unique("it-bwrap");
    let s = spec(
        &worker,
        "",
        &["sh", "-c", HARDENING_PROBE, "probe", &secret],
        &dirs,
    );

    let (outcome, lines) = run(&bubblewrap(), &s, CancellationToken::new()).await;
    let outcome = outcome.unwrap();

    assert!(outcome.succeeded(), "{outcome:?} {lines:#?}");
    assert!(outcome.isolated);
    let written = std::fs::read_to_string(dirs.workspace.path().join("out.txt")).unwrap();
    assert_eq!(written, "hello\n");
    assert_eq!(reported(&lines, "root"), "readonly");
    assert_eq!(reported(&lines, "usr"), "readonly");
    assert_eq!(reported(&lines, "fleet"), "readonly");
    assert_eq!(reported(&lines, "outside"), "hidden");
    assert_eq!(reported(&lines, "tmp"), "writable");
    assert_ne!(reported(&lines, "uid"), "0");
    assert_eq!(reported(&lines, "cap"), "0000000000000000");
    assert_eq!(reported(&lines, "nnp"), "1");
    assert_eq!(reported(&lines, "ifaces"), "lo,");
}

#[tokio::test]
async fn bubblewrap_shares_the_network_only_when_the_spec_allows_it() {
    let dirs = Dirs::new();
    let mut s = spec(&unique("it-bwrap"), "", &["cat", "/proc/net/dev"], &dirs);
    s.network = true;

    let (outcome, lines) = run(&bubblewrap(), &s, CancellationToken::new()).await;

    assert!(outcome.unwrap().succeeded());
    let interfaces = texts(&lines, Stream::Stdout).len() - 2;
    assert!(
        interfaces > 1,
        "only loopback with network allowed: {lines:#?}"
    );
}

#[tokio::test]
async fn bubblewrap_holds_the_pids_limit_when_the_worker_is_root() {
    if !running_as_root() {
        // By design: without a uid of its own the sandbox gets no RLIMIT_NPROC (it would count
        // the worker's processes too), so there is no limit to check.
        eprintln!("not root: the process executor sets no pids limit; nothing to check");
        return;
    }
    let dirs = Dirs::new();
    let script = "i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); echo spawned=$i; done";
    let mut s = spec(&unique("it-bwrap"), "", &["sh", "-c", script], &dirs);
    s.limits.pids = 16;

    let (outcome, lines) = run(&bubblewrap(), &s, CancellationToken::new()).await;

    let outcome = outcome.unwrap();
    assert_ne!(outcome.exit_code, Some(0), "{lines:#?}");
    let spawned = texts(&lines, Stream::Stdout).len();
    assert!(
        spawned < 16,
        "spawned {spawned} processes with a limit of 16"
    );
}

#[tokio::test]
async fn plain_mode_runs_in_the_workspace_and_reports_no_isolation() {
    let dirs = Dirs::new();
    let script = "echo hi > out.txt; echo cwd=$(pwd); echo ws=$FLEET_WORKSPACE; \
                  echo fleet=$FLEET_DIR; echo uid=$(id -u)";
    let s = spec(&unique("it-plain"), "", &["sh", "-c", script], &dirs);

    let (outcome, lines) = run(&plain(), &s, CancellationToken::new()).await;

    let outcome = outcome.unwrap();
    assert!(outcome.succeeded(), "{outcome:?} {lines:#?}");
    assert!(!outcome.isolated);
    let workspace = dirs.workspace.path().to_string_lossy().into_owned();
    assert_eq!(reported(&lines, "cwd"), workspace);
    assert_eq!(reported(&lines, "ws"), workspace);
    assert_eq!(
        reported(&lines, "fleet"),
        dirs.fleet.path().to_string_lossy()
    );
    assert_ne!(reported(&lines, "uid"), "0");
    assert!(dirs.workspace.path().join("out.txt").exists());
}

/// The agent starts a grandchild and waits; at the timeout both must be gone.
async fn a_timeout_kills_every_process_of(executor: Executor, worker: &str) {
    let dirs = Dirs::new();
    let token = format!("4242.{}", rand::random::<u32>());
    let script = format!("sleep {token} & echo started; sleep {token}");
    let mut s = spec(worker, "", &["sh", "-c", &script], &dirs);
    s.timeout = Duration::from_secs(1);

    let started = Instant::now();
    let (outcome, lines) = run(&executor, &s, CancellationToken::new()).await;
    let elapsed = started.elapsed();

    let outcome = outcome.unwrap();
    assert!(outcome.timed_out && !outcome.cancelled, "{outcome:?}");
    assert_eq!(outcome.exit_code, None);
    assert_eq!(texts(&lines, Stream::Stdout), ["started"]);
    assert!(elapsed < s.timeout + KILL_GRACE, "took {elapsed:?}");
    assert_eq!(processes_with(&token), Vec::<u32>::new(), "left running");
}

#[tokio::test]
async fn a_plain_timeout_kills_the_whole_process_group() {
    a_timeout_kills_every_process_of(plain(), &unique("it-plain")).await;
}

#[tokio::test]
async fn a_bubblewrap_timeout_kills_the_whole_sandbox() {
    a_timeout_kills_every_process_of(bubblewrap(), &unique("it-bwrap")).await;
}

#[tokio::test]
async fn cancelling_the_token_kills_the_agent() {
    let dirs = Dirs::new();
    let s = spec(
        &unique("it-bwrap"),
        "",
        &["sh", "-c", "echo ready; sleep 60"],
        &dirs,
    );
    let executor = bubblewrap();
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel::<OutputLine>(16);
    let canceller = {
        let cancel = cancel.clone();
        // Cancel once the agent is demonstrably running, not after a guessed delay.
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if line.line == "ready" {
                    cancel.cancel();
                }
            }
        })
    };

    let outcome = executor.run(&s, tx, cancel).await.unwrap();
    canceller.await.unwrap();

    assert!(outcome.cancelled && !outcome.timed_out, "{outcome:?}");
    assert_eq!(outcome.exit_code, None);
    assert!(outcome.duration < Duration::from_secs(10));
}

#[tokio::test]
async fn an_abandoned_run_still_kills_its_processes() {
    let dirs = Dirs::new();
    let token = format!("4245.{}", rand::random::<u32>());
    let script = format!("sleep {token} & echo ready; sleep {token}");
    let s = spec(&unique("it-plain"), "", &["sh", "-c", &script], &dirs);
    let executor = plain();
    let (tx, mut rx) = mpsc::channel::<OutputLine>(16);

    // The worker gives up on the run future (say, its task is aborted) once the agent runs.
    tokio::select! {
        outcome = executor.run(&s, tx, CancellationToken::new()) => panic!("{outcome:?}"),
        () = async { while rx.recv().await.is_some_and(|l| l.line != "ready") {} } => {}
    }

    // SIGKILL was sent to the group on drop; the kernel needs a moment to finish them off.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_with(&token).is_empty() {
        assert!(Instant::now() < deadline, "the agent outlived its run");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn output_arrives_in_order_per_stream_and_a_flood_does_not_block() {
    let dirs = Dirs::new();
    let script = "seq 1 100000; seq 1 1000 | sed 's/^/e/' >&2";
    let s = spec(&unique("it-bwrap"), "", &["sh", "-c", script], &dirs);

    let (outcome, lines) = run(&bubblewrap(), &s, CancellationToken::new()).await;

    assert!(outcome.unwrap().succeeded());
    let out = texts(&lines, Stream::Stdout);
    assert_eq!(out.len(), 100_000, "last: {:?}", out.last());
    assert!(out.iter().zip(1..).all(|(l, i)| *l == i.to_string()));
    let err = texts(&lines, Stream::Stderr);
    assert_eq!(err, (1..=1000).map(|i| format!("e{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_receiver_that_is_gone_does_not_fail_the_run() {
    let dirs = Dirs::new();
    let s = spec(&unique("it-bwrap"), "", &["seq", "1", "50000"], &dirs);
    let (tx, rx) = mpsc::channel(1);
    drop(rx);

    let outcome = bubblewrap().run(&s, tx, CancellationToken::new()).await;

    assert!(outcome.unwrap().succeeded());
}

#[tokio::test]
async fn the_exit_code_and_resource_use_are_reported() {
    let dirs = Dirs::new();
    // dd holds a 64 MiB buffer and copies through it for a while: memory and CPU to measure.
    let script = "dd if=/dev/zero of=/dev/null bs=64M count=100 2>/dev/null; exit 7";
    let s = spec(&unique("it-bwrap"), "", &["sh", "-c", script], &dirs);

    let (outcome, _) = run(&bubblewrap(), &s, CancellationToken::new()).await;

    let outcome = outcome.unwrap();
    assert_eq!(outcome.exit_code, Some(7));
    assert!(!outcome.succeeded());
    let peak = outcome.peak_memory_bytes.expect("peak memory measured");
    assert!(peak >= 64 << 20, "peak {peak}");
    assert!(outcome.cpu_time.expect("cpu measured") > Duration::ZERO);
}

#[tokio::test]
async fn a_root_user_is_refused() {
    let dirs = Dirs::new();
    let mut s = spec(&unique("it-bwrap"), "", &["true"], &dirs);
    s.user = "0:0".into();

    let (outcome, _) = run(&bubblewrap(), &s, CancellationToken::new()).await;

    assert!(
        matches!(outcome, Err(ExecError::InvalidSpec(_))),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn sweep_kills_processes_a_crashed_plain_run_left_behind() {
    let worker = unique("it-sweep");
    let token = format!("4244.{}", rand::random::<u32>());
    let mut leftover = std::process::Command::new("sleep")
        .arg(&token)
        .env("FLEET_EXEC_WORKER", &worker)
        .env("FLEET_EXEC_NAME", "fleet-crashed-run")
        .spawn()
        .unwrap();
    let mut bystander = std::process::Command::new("sleep")
        .arg(&token)
        .env("FLEET_EXEC_WORKER", unique("it-other"))
        .spawn()
        .unwrap();

    let removed = plain().sweep(&worker).await.unwrap();

    assert_eq!(removed, 1);
    assert!(!leftover.wait().unwrap().success());
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "another worker's process was killed"
    );
    bystander.kill().unwrap();
    bystander.wait().unwrap();
    assert_eq!(plain().sweep(&worker).await.unwrap(), 0);
}
