//! The Docker executor against a real engine, with locally built `FROM scratch` images.
//! Every test uses its own worker name, so its containers are told apart by label, and checks at
//! the end that none of them is left.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::CreateContainerOptions;
use fleet_tests::images::{agent_image, containers_labelled, require_docker};
use fleet_worker::executor::docker::DockerExecutor;
use fleet_worker::executor::{
    ExecError, Executor, KILL_GRACE, LABEL_MANAGED, LABEL_WORKER, OutputLine, RunSpec, Stream,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::executor_process::{Dirs, reported, run, spec, texts, unique};

/// A test's executor, image and worker name; checks on drop that the worker left no container.
struct DockerTest {
    executor: Executor,
    image: String,
    worker: String,
}

impl DockerTest {
    async fn new() -> Self {
        require_docker();
        let executor = DockerExecutor::connect().await.unwrap();
        DockerTest {
            executor: Executor::Docker(executor),
            image: agent_image(),
            worker: unique("it-docker"),
        }
    }

    fn spec(&self, argv: &[&str], dirs: &Dirs) -> RunSpec {
        spec(&self.worker, &self.image, argv, dirs)
    }
}

impl Drop for DockerTest {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let left = containers_labelled(&format!("{LABEL_WORKER}={}", self.worker));
        assert_eq!(left, Vec::<String>::new(), "containers left behind");
    }
}

#[tokio::test]
async fn an_agent_writes_its_workspace_and_the_host_sees_it() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    let s = t.spec(&["sh", "-c", "echo hello > /workspace/out.txt"], &dirs);

    let (outcome, lines) = run(&t.executor, &s, CancellationToken::new()).await;

    let outcome = outcome.unwrap();
    assert!(outcome.succeeded(), "{outcome:?} {lines:#?}");
    assert!(outcome.isolated);
    let written = std::fs::read_to_string(dirs.workspace.path().join("out.txt")).unwrap();
    assert_eq!(written, "hello\n");
}

const HARDENING_PROBE: &str = r#"
touch /rootfile 2>/dev/null && echo root=writable || echo root=readonly
touch /fleet/x 2>/dev/null && echo fleet=writable || echo fleet=readonly
echo tmp > /tmp/t && echo tmp=writable
echo uid=$(id -u)
echo cap=$(grep CapEff /proc/self/status | tr -d ' \t' | cut -d: -f2)
echo nnp=$(grep NoNewPrivs /proc/self/status | tr -d ' \t' | cut -d: -f2)
echo ifaces=$(ls /sys/class/net | tr '\n' ,)
wget -q -T 2 -O /dev/null http://1.1.1.1/ 2>/dev/null && echo net=reachable || echo net=unreachable
"#;

#[tokio::test]
async fn the_container_is_hardened_as_seen_from_inside() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    let s = t.spec(&["sh", "-c", HARDENING_PROBE], &dirs);

    let (outcome, lines) = run(&t.executor, &s, CancellationToken::new()).await;

    assert!(outcome.unwrap().succeeded(), "{lines:#?}");
    assert_eq!(reported(&lines, "root"), "readonly");
    assert_eq!(reported(&lines, "fleet"), "readonly");
    assert_eq!(reported(&lines, "tmp"), "writable");
    assert_ne!(reported(&lines, "uid"), "0");
    assert_eq!(reported(&lines, "cap"), "0000000000000000");
    assert_eq!(reported(&lines, "nnp"), "1");
    assert_eq!(reported(&lines, "ifaces"), "lo,");
    assert_eq!(reported(&lines, "net"), "unreachable");
}

#[tokio::test]
async fn the_pids_limit_holds() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    let script = "i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); echo spawned=$i; done";
    let mut s = t.spec(&["sh", "-c", script], &dirs);
    s.limits.pids = 16;

    let (outcome, lines) = run(&t.executor, &s, CancellationToken::new()).await;

    assert_ne!(outcome.unwrap().exit_code, Some(0), "{lines:#?}");
    let spawned = texts(&lines, Stream::Stdout).len();
    assert!(
        spawned < 16,
        "spawned {spawned} processes with a limit of 16"
    );
}

#[tokio::test]
async fn a_timeout_kills_the_container_promptly() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    let mut s = t.spec(&["sleep", "60"], &dirs);
    s.timeout = Duration::from_secs(1);

    let started = Instant::now();
    let (outcome, _) = run(&t.executor, &s, CancellationToken::new()).await;
    let elapsed = started.elapsed();

    let outcome = outcome.unwrap();
    assert!(outcome.timed_out && !outcome.cancelled, "{outcome:?}");
    assert_eq!(outcome.exit_code, None);
    // The init forwards SIGTERM, so the grace period is not waited out.
    assert!(elapsed < s.timeout + KILL_GRACE, "took {elapsed:?}");
}

#[tokio::test]
async fn cancelling_the_token_kills_the_container() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    let s = t.spec(&["sh", "-c", "echo ready; sleep 60"], &dirs);
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

    let outcome = t.executor.run(&s, tx, cancel).await.unwrap();
    canceller.await.unwrap();

    assert!(outcome.cancelled && !outcome.timed_out, "{outcome:?}");
    assert_eq!(outcome.exit_code, None);
    assert!(outcome.duration < KILL_GRACE, "took {:?}", outcome.duration);
}

#[tokio::test]
async fn an_abandoned_run_still_removes_its_container() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    let s = t.spec(&["sh", "-c", "echo ready; sleep 60"], &dirs);
    let (tx, mut rx) = mpsc::channel::<OutputLine>(16);

    // The worker gives up on the run future (say, its task is aborted) once the agent runs.
    tokio::select! {
        outcome = t.executor.run(&s, tx, CancellationToken::new()) => panic!("{outcome:?}"),
        () = async { while rx.recv().await.is_some_and(|l| l.line != "ready") {} } => {}
    }

    // The removal is spawned when the future is dropped; give it a bounded while to land.
    let label = format!("{LABEL_WORKER}={}", t.worker);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !containers_labelled(&label).is_empty() {
        assert!(Instant::now() < deadline, "the container outlived its run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn output_arrives_in_order_per_stream_and_a_flood_does_not_block() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    let script = "seq 1 100000; seq 1 1000 | sed 's/^/e/' >&2";
    let s = t.spec(&["sh", "-c", script], &dirs);

    let (outcome, lines) = run(&t.executor, &s, CancellationToken::new()).await;

    assert!(outcome.unwrap().succeeded());
    let out = texts(&lines, Stream::Stdout);
    assert_eq!(out.len(), 100_000, "last: {:?}", out.last());
    assert!(out.iter().zip(1..).all(|(l, i)| *l == i.to_string()));
    let err = texts(&lines, Stream::Stderr);
    assert_eq!(err, (1..=1000).map(|i| format!("e{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_receiver_that_is_gone_does_not_fail_the_run() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    let s = t.spec(&["seq", "1", "50000"], &dirs);
    let (tx, rx) = mpsc::channel(1);
    drop(rx);

    let outcome = t.executor.run(&s, tx, CancellationToken::new()).await;

    assert!(outcome.unwrap().succeeded());
}

#[tokio::test]
async fn the_exit_code_and_resource_use_are_reported() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    // 64 MiB in the tmpfs is charged to the container's memory; the counting loop is a fixed
    // amount of CPU work (about half a second), and the idle second after it lets the engine's
    // once-a-second stats sample catch all of it, however loaded the host is.
    let script = "dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>/dev/null; \
                  i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; sleep 1.5; exit 7";
    let s = t.spec(&["sh", "-c", script], &dirs);

    let (outcome, _) = run(&t.executor, &s, CancellationToken::new()).await;

    let outcome = outcome.unwrap();
    assert_eq!(outcome.exit_code, Some(7));
    let peak = outcome.peak_memory_bytes.expect("peak memory measured");
    assert!(peak >= 64 << 20, "peak {peak}");
    let cpu = outcome.cpu_time.expect("cpu measured");
    assert!(cpu >= Duration::from_millis(100), "cpu {cpu:?}");
}

#[tokio::test]
async fn a_missing_image_is_reported_and_never_pulled() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    let mut s = t.spec(&["true"], &dirs);
    s.image = format!("fleet-test-missing:{}", unique("never-built"));

    let (outcome, _) = run(&t.executor, &s, CancellationToken::new()).await;

    assert!(matches!(outcome, Err(ExecError::ImageMissing(ref i)) if *i == s.image));
}

#[tokio::test]
async fn a_command_missing_from_the_image_exits_127_like_in_a_shell() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    let s = t.spec(&["/usr/bin/not-in-the-image"], &dirs);

    let (outcome, lines) = run(&t.executor, &s, CancellationToken::new()).await;

    assert_eq!(outcome.unwrap().exit_code, Some(127), "{lines:#?}");
}

#[tokio::test]
async fn a_root_user_is_refused() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    let mut s = t.spec(&["true"], &dirs);
    s.user = "0:1000".into();

    let (outcome, _) = run(&t.executor, &s, CancellationToken::new()).await;

    assert!(
        matches!(outcome, Err(ExecError::InvalidSpec(_))),
        "{outcome:?}"
    );
}

/// Creates (and starts) a labelled `sleep` container as a crashed run would have left it.
async fn leftover(docker: &Docker, image: &str, worker: &str, name: &str) {
    let body = ContainerCreateBody {
        image: Some(image.into()),
        cmd: Some(vec!["sleep".into(), "300".into()]),
        labels: Some(HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_WORKER.to_string(), worker.to_string()),
        ])),
        ..ContainerCreateBody::default()
    };
    let options = CreateContainerOptions {
        name: Some(name.into()),
        ..CreateContainerOptions::default()
    };
    docker.create_container(Some(options), body).await.unwrap();
    docker.start_container(name, None).await.unwrap();
}

#[tokio::test]
async fn sweep_removes_only_the_containers_of_its_worker() {
    let t = DockerTest::new().await;
    let docker = Docker::connect_with_local_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .unwrap();
    let other = DockerTest {
        executor: Executor::Docker(DockerExecutor::new(docker.clone())),
        image: t.image.clone(),
        worker: unique("it-docker-other"),
    };
    leftover(&docker, &t.image, &t.worker, &unique("fleet-crashed")).await;
    leftover(&docker, &t.image, &t.worker, &unique("fleet-crashed")).await;
    leftover(&docker, &t.image, &other.worker, &unique("fleet-other")).await;

    assert_eq!(t.executor.sweep(&t.worker).await.unwrap(), 2);
    assert_eq!(t.executor.sweep(&t.worker).await.unwrap(), 0);
    let others = containers_labelled(&format!("{LABEL_WORKER}={}", other.worker));
    assert_eq!(others.len(), 1, "another worker's container was touched");
    assert_eq!(other.executor.sweep(&other.worker).await.unwrap(), 1);
}

#[tokio::test]
async fn a_container_left_with_the_same_name_is_replaced() {
    let t = DockerTest::new().await;
    let dirs = Dirs::new();
    let s = t.spec(&["true"], &dirs);
    let docker = Docker::connect_with_local_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .unwrap();
    leftover(&docker, &t.image, &t.worker, &s.name).await;

    let (outcome, _) = run(&t.executor, &s, CancellationToken::new()).await;

    assert!(outcome.unwrap().succeeded());
}
