//! The worker end to end: real Redis, real Docker containers, real bare repositories.

use std::time::Duration;

use fleet_shared::queue::Lease;
use fleet_shared::{NewOrder, OrderId, OrderState, QueueError, WorkOrder};
use fleet_tests::TestFleet;
use fleet_tests::git_fixtures::Upstream;
use fleet_tests::images::{containers_labelled, require_docker};
use fleet_tests::worker::{
    DefinitionSpec, TestWorker, WorkerOptions, test_agent_image, wait_for_state,
};

const MINUTE: Duration = Duration::from_secs(60);

/// An order for `upstream` whose prompt picks the test agent's behaviour.
pub fn order_for(upstream: &Upstream, task_type: &str, prompt: &str) -> WorkOrder {
    NewOrder {
        task_type: task_type.into(),
        repo: upstream.file_url(),
        branch: Some("main".into()),
        prompt: prompt.into(),
        max_attempts: Some(1),
        ..NewOrder::default()
    }
    .validate(OrderId::generate(), fleet_tests::T0)
    .unwrap()
}

fn definition(dir: &std::path::Path, id: &str) -> std::path::PathBuf {
    DefinitionSpec::new(&test_agent_image()).write(dir, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_edit_ends_as_a_pushed_branch_holding_that_commit() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let worker = TestWorker::for_spec(
        &fleet.queue,
        "w-edit",
        DefinitionSpec::new(&test_agent_image()),
        WorkerOptions::default(),
    )
    .await;
    let order = order_for(&upstream, "feature", "edit hello.txt hello from the agent");
    fleet.queue.enqueue(&order, None).await.unwrap();

    let record = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| s.is_finished()).await;
    assert_eq!(record.state, OrderState::Succeeded, "{:?}", record.error);
    let result = record.result.unwrap();
    let branch = order.result_branch();
    assert_eq!(result["branch"], branch.as_str());
    let tip = upstream.tip(&branch).expect("the branch was pushed");
    assert_eq!(result["commit"], tip.to_string());
    assert_eq!(
        upstream.file(&branch, "hello.txt").unwrap(),
        b"hello from the agent\n"
    );
    assert_eq!(result["summary"], "edited hello.txt");
    assert!(
        upstream.file("main", "hello.txt").is_none(),
        "main is untouched"
    );
    let log = fleet.queue.order_log(&order.id, 100).await.unwrap();
    assert!(
        log.iter().any(|l| l == "[agent] editing hello.txt"),
        "{log:?}"
    );
    worker.drain().await.unwrap();
    assert!(containers_labelled(&format!("io.fleet.order={}", order.id)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_over_its_timeout_is_killed_and_the_order_records_why() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let _worker = TestWorker::for_spec(
        &fleet.queue,
        "w-timeout",
        DefinitionSpec::new(&test_agent_image()),
        WorkerOptions::default(),
    )
    .await;
    let mut order = order_for(&upstream, "test", "sleep 120");
    order.timeout_secs = 2;
    fleet.queue.enqueue(&order, None).await.unwrap();

    let started = std::time::Instant::now();
    let record = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| s.is_finished()).await;
    assert_eq!(record.state, OrderState::Dead);
    assert_eq!(record.reason.as_deref(), Some("timeout"));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(containers_labelled(&format!("io.fleet.order={}", order.id)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_reaches_a_running_order_within_a_heartbeat() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let _worker = TestWorker::for_spec(
        &fleet.queue,
        "w-cancel",
        DefinitionSpec::new(&test_agent_image()),
        WorkerOptions::default(),
    )
    .await;
    let order = order_for(&upstream, "test", "sleep 120");
    fleet.queue.enqueue(&order, None).await.unwrap();
    wait_for_state(&fleet.queue, &order.id, MINUTE, |s| {
        s == OrderState::Running
    })
    .await;
    // Wait for the container itself, so the cancel has something to stop.
    let label = format!("io.fleet.order={}", order.id);
    for _ in 0..100 {
        if !containers_labelled(&label).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    fleet.queue.cancel(&order.id, "test").await.unwrap();
    let cancelled_at = std::time::Instant::now();
    while !containers_labelled(&label).is_empty() {
        assert!(
            cancelled_at.elapsed() < Duration::from_secs(15),
            "the container outlived the cancel"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let record = fleet.queue.order(&order.id).await.unwrap().unwrap();
    assert_eq!(record.state, OrderState::Cancelled);
    assert!(
        upstream.tip(&order.result_branch()).is_none(),
        "nothing was pushed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_branch_or_repository_fails_at_once_with_the_reason() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let _worker = TestWorker::for_spec(
        &fleet.queue,
        "w-bad",
        DefinitionSpec::new(&test_agent_image()),
        WorkerOptions::default(),
    )
    .await;
    let mut no_branch = order_for(&upstream, "docs", "noop");
    no_branch.branch = "release-9".parse::<String>().unwrap().try_into().unwrap();
    no_branch.max_attempts = 3;
    let mut no_repo = order_for(&upstream, "docs", "noop");
    no_repo.repo = "file:///nonexistent/repo.git"
        .to_string()
        .try_into()
        .unwrap();
    no_repo.max_attempts = 3;
    fleet.queue.enqueue(&no_branch, None).await.unwrap();
    fleet.queue.enqueue(&no_repo, None).await.unwrap();

    for (order, needle) in [
        (&no_branch, "release-9"),
        (&no_repo, "/nonexistent/repo.git"),
    ] {
        let record = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| s.is_finished()).await;
        assert_eq!(record.state, OrderState::Failed, "permanent: no retries");
        assert_eq!(record.attempt, 1);
        assert_eq!(record.reason.as_deref(), Some("clone_failed"));
        let error = record.error.unwrap();
        assert!(error.contains(needle), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_worker_finishes_what_it_runs_and_stops_claiming() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let options = WorkerOptions {
        concurrency: 1,
        ..WorkerOptions::default()
    };
    let worker = TestWorker::for_spec(
        &fleet.queue,
        "w-drain",
        DefinitionSpec::new(&test_agent_image()),
        options,
    )
    .await;
    let first = order_for(&upstream, "test", "sleep 2");
    fleet.queue.enqueue(&first, None).await.unwrap();
    wait_for_state(&fleet.queue, &first.id, MINUTE, |s| {
        s == OrderState::Running
    })
    .await;
    let second = order_for(&upstream, "test", "noop");
    fleet.queue.enqueue(&second, None).await.unwrap();

    worker.drain().await.unwrap();

    let first = fleet.queue.order(&first.id).await.unwrap().unwrap();
    assert_eq!(first.state, OrderState::Succeeded, "{:?}", first.error);
    let second = fleet.queue.order(&second.id).await.unwrap().unwrap();
    assert_eq!(
        second.state,
        OrderState::Queued,
        "a draining worker claims nothing new"
    );
    assert!(
        fleet.queue.workers().await.unwrap().is_empty(),
        "deregistered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_grace_period_a_draining_worker_hands_orders_back_uncharged() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let options = WorkerOptions {
        grace: Duration::from_millis(500),
        ..WorkerOptions::default()
    };
    let worker = TestWorker::for_spec(
        &fleet.queue,
        "w-handback",
        DefinitionSpec::new(&test_agent_image()),
        options,
    )
    .await;
    let order = order_for(&upstream, "test", "sleep 120");
    fleet.queue.enqueue(&order, None).await.unwrap();
    wait_for_state(&fleet.queue, &order.id, MINUTE, |s| {
        s == OrderState::Running
    })
    .await;

    worker.drain().await.unwrap();

    let record = fleet.queue.order(&order.id).await.unwrap().unwrap();
    assert_eq!(record.state, OrderState::Queued);
    assert_eq!(record.attempt, 0, "the attempt is not charged");
    assert!(containers_labelled(&format!("io.fleet.order={}", order.id)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_worker_sweeps_what_its_crashed_predecessor_left() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let defs = tempfile::tempdir().unwrap();
    let def = definition(defs.path(), "sweep-worker");
    // A crashed run: a lease the worker held, a container and an order directory it left.
    let mut order = order_for(&upstream, "test", "noop");
    order.max_attempts = 2;
    fleet.queue.enqueue(&order, None).await.unwrap();
    let lease: Lease = fleet
        .queue
        .claim("w-sweep", &[fleet_shared::TaskType::Test], 1, MINUTE)
        .await
        .unwrap()
        .remove(0);
    let image = test_agent_image();
    let leftover = std::process::Command::new("docker")
        .args([
            "run",
            "-d",
            "--label",
            "io.fleet.managed=true",
            "--label",
            "io.fleet.worker=w-sweep",
            "--label",
            "io.fleet.test=true",
            &image,
            "sleep",
            "600",
        ])
        .output()
        .unwrap();
    assert!(leftover.status.success());

    let work_dir = tempfile::tempdir().unwrap();
    let stale_dir = work_dir.path().join("orders/w-sweep/stale-order");
    std::fs::create_dir_all(stale_dir.join("workspace")).unwrap();

    let _worker = TestWorker::start_in(
        &fleet.queue,
        "w-sweep",
        &def,
        WorkerOptions::default(),
        work_dir,
    )
    .await;
    let record = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| s.is_finished()).await;
    assert_eq!(
        record.state,
        OrderState::Succeeded,
        "requeued at once and run again"
    );
    assert_eq!(record.attempt, 2);
    assert!(containers_labelled("io.fleet.worker=w-sweep").is_empty());
    assert!(!stale_dir.exists());
    let late = fleet
        .queue
        .complete(&lease, &serde_json::json!({}), false)
        .await;
    assert!(matches!(late, Err(QueueError::Fenced { .. })), "{late:?}");
}
