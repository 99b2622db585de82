//! Real `fleet-worker` processes: kill -9 mid-order, and SIGTERM drain.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fleet_controller::maintenance::{Maintenance, MaintenanceConfig};
use fleet_shared::queue::Lease;
use fleet_shared::{OrderState, QueueError};
use fleet_tests::git_fixtures::Upstream;
use fleet_tests::images::{containers_labelled, require_docker};
use fleet_tests::worker::{DefinitionSpec, helper_dir, test_agent_image, wait_for_state};
use fleet_tests::{RedisServer, bin, queue_on};
use tokio_util::sync::CancellationToken;

use crate::worker::order_for;

const MINUTE: Duration = Duration::from_secs(60);

/// A `fleet-worker run` process with a short lease, so a killed worker's order comes back fast.
fn spawn_worker(redis: &RedisServer, name: &str, definition: &Path, work_dir: &Path) -> Child {
    Command::new(bin("fleet-worker"))
        .args([
            "run",
            "--executor",
            "docker",
            "--heartbeat",
            "300ms",
            "--lease",
            "2s",
        ])
        .args(["--grace", "20s", "--poll", "500ms", "--name", name])
        .arg("--definition")
        .arg(definition)
        .arg("--work-dir")
        .arg(work_dir)
        .arg("--agent-helper-dir")
        .arg(helper_dir())
        .env("FLEET_REDIS_URL", redis.url())
        .env("FLEET_NAME", "test")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_workers_order_is_finished_by_another_and_its_late_result_is_refused() {
    require_docker();
    let redis = RedisServer::start();
    // Real time here: the worker processes use Redis's clock, so the test does too.
    let queue = queue_on(&redis.url(), "test");
    let upstream = Upstream::new("app");
    let defs = tempfile::tempdir().unwrap();
    let def = DefinitionSpec::new(&test_agent_image()).write(defs.path(), "kill-worker");
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    let stop = CancellationToken::new();
    let maintenance = Maintenance::new(
        queue.clone(),
        "test-controller",
        MaintenanceConfig {
            interval: Duration::from_millis(200),
            ..MaintenanceConfig::default()
        },
    );
    tokio::spawn(maintenance.run(stop.clone()));

    let mut a = spawn_worker(&redis, "w-a", &def, dir_a.path());
    let mut order = order_for(&upstream, "test", "sleep 3");
    order.max_attempts = 3;
    queue.enqueue(&order, None).await.unwrap();
    let running = wait_for_state(&queue, &order.id, MINUTE, |s| s == OrderState::Running).await;
    assert_eq!(running.worker.as_deref(), Some("w-a"));
    let token: String = {
        let mut c = redis.client();
        redis::cmd("HGET")
            .arg(queue.keys().order(&order.id))
            .arg("token")
            .query(&mut c)
            .unwrap()
    };
    let stale = Lease {
        order: order.clone(),
        worker: "w-a".into(),
        token,
        attempt: 1,
        deadline_ms: 0,
    };

    a.kill().unwrap(); // SIGKILL: no drain, no goodbye
    a.wait().unwrap();
    let mut b = spawn_worker(&redis, "w-b", &def, dir_b.path());

    let done = wait_for_state(&queue, &order.id, MINUTE, |s| s.is_finished()).await;
    assert_eq!(done.state, OrderState::Succeeded, "{:?}", done.error);
    assert_eq!(done.worker.as_deref(), Some("w-b"));
    assert_eq!(done.attempt, 2, "the killed attempt counts");
    let history = queue.history(&order.id, 20).await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.note.as_deref() == Some("lease_expired: worker w-a missed heartbeats")),
        "{history:?}"
    );
    assert_eq!(
        upstream.file(&order.result_branch(), "slept.txt").unwrap(),
        b"slept\n"
    );

    let late = queue.complete(&stale, &serde_json::json!({}), false).await;
    assert!(matches!(late, Err(QueueError::Fenced { .. })), "{late:?}");
    assert_eq!(
        queue.order(&order.id).await.unwrap().unwrap().state,
        OrderState::Succeeded,
        "the refused call changed nothing"
    );

    // The killed worker's container may still run; its successor under the same name sweeps it.
    let mut a_again = spawn_worker(&redis, "w-a", &def, dir_a.path());
    let mut swept = false;
    for _ in 0..100 {
        if containers_labelled("io.fleet.worker=w-a").is_empty() {
            swept = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        swept,
        "the restarted worker removed its predecessor's container"
    );

    for child in [&mut b, &mut a_again] {
        signal(child, "-TERM");
        assert!(child.wait().unwrap().success(), "SIGTERM is a clean stop");
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_running_order_finish_then_the_worker_exits() {
    require_docker();
    let redis = RedisServer::start();
    let queue = queue_on(&redis.url(), "test");
    let upstream = Upstream::new("app");
    let defs = tempfile::tempdir().unwrap();
    let def = DefinitionSpec::new(&test_agent_image()).write(defs.path(), "term-worker");
    let dir = tempfile::tempdir().unwrap();
    let mut worker = spawn_worker(&redis, "w-term", &def, dir.path());
    let order = order_for(&upstream, "test", "sleep 2");
    queue.enqueue(&order, None).await.unwrap();
    wait_for_state(&queue, &order.id, MINUTE, |s| s == OrderState::Running).await;

    signal(&worker, "-TERM");
    let status = tokio::task::spawn_blocking(move || worker.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let record = queue.order(&order.id).await.unwrap().unwrap();
    assert_eq!(record.state, OrderState::Succeeded, "{:?}", record.error);
    assert!(queue.workers().await.unwrap().is_empty(), "deregistered");
}
