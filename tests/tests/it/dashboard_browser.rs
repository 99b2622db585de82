//! The dashboard in a real headless Chromium (Debian's `chromium` + `chromium-driver`), against
//! a real controller and a real Redis: what an operator sees and clicks.

use std::path::Path;
use std::time::Duration;

use fleet_shared::clock::wall_clock_ms;
use fleet_shared::queue::{Backoff, FailOutcome, Failure, QueueSettings};
use fleet_shared::registry::{WorkerInfo, WorkerStatus};
use fleet_shared::{FailureReason, Lease, NewOrder, OrderId, OrderState, TaskType, WorkOrder};
use fleet_tests::browser::Browser;
use fleet_tests::controller::ControllerHandle;
use fleet_tests::{TestFleet, bin};
use serde_json::json;

/// Long enough that the controller's reaper never takes an order back while the clock moves.
const LEASE: Duration = Duration::from_secs(3600);

/// Opens the dashboard and waits until its event stream is connected, so that every change
/// made afterwards reaches the page as an event.
async fn open_dashboard(controller: &ControllerHandle) -> Browser {
    let browser = Browser::start().await;
    browser.goto(&controller.url("/")).await;
    browser
        .wait_for("the event stream to connect", async || {
            let live = browser.text_of("#live-text").await?;
            live.starts_with("live").then_some(())
        })
        .await;
    browser
}

/// Waits until the order's row in "Recent orders" is in `state`, badge included.
async fn wait_for_row_state(browser: &Browser, id: &str, state: OrderState) {
    let row = format!(r#"tr[data-order="{id}"]"#);
    let badge = format!("{row} .badge");
    let label = state.as_str().replace('_', " ");
    browser
        .wait_for(&format!("order {id} to show as {state}"), async || {
            let shown = browser.attribute_of(&row, "data-state").await?;
            let text = browser.text_of(&badge).await?;
            (shown == state.as_str() && text == label).then_some(())
        })
        .await;
}

/// Runs `fleet-controller enqueue` as an operator would; returns the new order's id.
async fn enqueue_from_cli(fleet: &TestFleet, args: &[&str]) -> String {
    let out = tokio::process::Command::new(bin("fleet-controller"))
        .arg("enqueue")
        .args(args)
        .env("FLEET_REDIS_URL", fleet.redis.url())
        .env("FLEET_NAME", "test")
        .env_remove("FLEET_API_TOKEN")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "enqueue failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn assert_no_console_errors(browser: &Browser) {
    let errors = browser.console_errors().await;
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
}

#[tokio::test]
async fn an_order_from_the_cli_appears_live_and_once_dead_is_queued_again_by_the_retry_button() {
    let fleet = TestFleet::new();
    let controller = ControllerHandle::start(fleet.queue.clone(), None).await;
    let browser = open_dashboard(&controller).await;
    // Survives only as long as the page is never reloaded: updates must come by themselves.
    browser
        .execute("window.fleetTestMarker = 'not reloaded'", json!([]))
        .await;
    // Stop the page's 5-second fallback poll (timer ids count up from 1, and it is the only
    // timer yet): from here on, only the event stream can bring a change in.
    browser
        .execute(
            "const last = setTimeout(() => {}, 0); \
             for (let i = 1; i <= last; i++) clearInterval(i);",
            json!([]),
        )
        .await;

    let id = enqueue_from_cli(
        &fleet,
        &[
            "--type",
            "bugfix",
            "--priority",
            "high",
            "--max-attempts",
            "1",
            "--repo",
            "https://git.example.com/team/app.git",
            "--prompt",
            "Fix the crash on empty input",
        ],
    )
    .await;
    wait_for_row_state(&browser, &id, OrderState::Queued).await;

    // The CLI stamped the order with Redis's clock; move the test's clock there so the claim
    // does not happen before the enqueue.
    fleet.clock.set(wall_clock_ms());
    let lease = fleet
        .queue
        .claim("worker-a", &[TaskType::Bugfix], 1, LEASE)
        .await
        .unwrap()
        .pop()
        .expect("the CLI's order is claimable");
    assert_eq!(lease.order.id.as_str(), id);
    wait_for_row_state(&browser, &id, OrderState::Running).await;

    let outcome = fleet
        .queue
        .fail(
            &lease,
            &failure(FailureReason::AgentExit(1), "cargo test: 1 failed"),
        )
        .await
        .unwrap();
    assert_eq!(outcome, FailOutcome::Dead, "its only attempt is used up");
    wait_for_row_state(&browser, &id, OrderState::Dead).await;
    let dead_row = format!(r#"tr[data-dead="{id}"]"#);
    browser
        .wait_for("the dead-letter row", async || {
            browser.text_of(&dead_row).await
        })
        .await;

    browser
        .click_on(&format!(
            r#"#dead button[data-action="retry"][data-id="{id}"]"#
        ))
        .await;
    wait_for_row_state(&browser, &id, OrderState::Queued).await;
    browser
        .wait_for("the dead-letter row to go", async || {
            browser.text_of(&dead_row).await.is_none().then_some(())
        })
        .await;
    let record = fleet
        .queue
        .order(&id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.state, OrderState::Queued, "queued in Redis too");
    browser
        .wait_for("the toast to confirm the retry", async || {
            let toast = browser.text_of("#toast").await?;
            toast.contains("queued again").then_some(())
        })
        .await;

    let marker = browser
        .execute("return window.fleetTestMarker", json!([]))
        .await;
    assert_eq!(marker, "not reloaded");
    assert_no_console_errors(&browser).await;
}

#[tokio::test]
async fn a_busy_fleet_renders_without_errors_or_overflow_and_is_kept_as_docs_screenshot() {
    // Retries wait half an hour, so the order that timed out stays delayed while the clock moves.
    let fleet = TestFleet::with_settings(QueueSettings {
        backoff: Backoff {
            base: Duration::from_secs(30 * 60),
            ..Backoff::default()
        },
        ..QueueSettings::default()
    });
    let controller = ControllerHandle::start(fleet.queue.clone(), None).await;
    busy_fleet(&fleet).await;

    let browser = open_dashboard(&controller).await;
    browser.set_viewport(1400, 1000).await;
    let title = browser.find("header h1").await.expect("a title");
    assert_eq!(browser.text(&title).await.unwrap(), "▲ fleet test");
    let dot = browser.find("#live-dot").await.expect("a live dot");
    assert_eq!(
        browser.attribute(&dot, "class").await.unwrap().as_deref(),
        Some("dot ok"),
        "the dot is green while the event stream is connected"
    );
    for panel in ["#questions", "#approvals", "#workers table", "#dead table"] {
        assert!(
            browser.find(panel).await.is_some(),
            "{panel} is on the page"
        );
    }
    // Neither the page nor any panel scrolls sideways: every table fits at this width.
    let overflowing = browser
        .execute(
            "return [document.documentElement, ...document.querySelectorAll('.panel')] \
               .filter(e => e.scrollWidth > e.clientWidth) \
               .map(e => e.id || e.tagName)",
            json!([]),
        )
        .await;
    assert_eq!(overflowing, json!([]), "these scroll sideways at 1400 px");
    assert_no_console_errors(&browser).await;

    // The picture in the docs shows every panel: the window grows to the page's height.
    let height = browser
        .execute("return document.documentElement.scrollHeight", json!([]))
        .await;
    browser
        .set_viewport(1400, height.as_u64().unwrap() as u32)
        .await;
    let png = browser.screenshot().await;
    // Every run writes target/screenshots/dashboard.png; the copy in docs/ is refreshed only
    // when asked (FLEET_UPDATE_SCREENSHOT=1), so running the tests leaves the tree clean.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shots = root.join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(shots.join("dashboard.png"), &png).unwrap();
    if std::env::var("FLEET_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        std::fs::write(root.join("docs/dashboard.png"), &png).unwrap();
    }
}

/// Fills the queue with what a fleet looks like mid-morning: orders in every state, workers
/// on them, a question and an approval waiting for a person. The clock moves between steps so
/// ages differ.
async fn busy_fleet(fleet: &TestFleet) {
    let q = &fleet.queue;
    let minutes = |m: u64| fleet.clock.advance(Duration::from_secs(60 * m));

    let done = submit(
        fleet,
        "refactor",
        "default",
        "Split the queue module by operation",
    )
    .await;
    let lease = claim_one(fleet, "refactor-1", TaskType::Refactor).await;
    minutes(9);
    q.complete(
        &lease,
        &json!({"summary": "moved transitions and inspection apart"}),
        false,
    )
    .await
    .unwrap();
    assert_eq!(lease.order.id, done.id);

    submit_with(
        fleet,
        "test",
        "default",
        "Add property tests for the backoff schedule",
        1,
    )
    .await;
    let lease = claim_one(fleet, "bugfix-1", TaskType::Test).await;
    minutes(4);
    let dead = failure(
        FailureReason::AgentExit(101),
        "cargo test: 2 failed (backoff::jitter_stays_within_bounds, backoff::caps_at_max_delay)",
    );
    assert_eq!(q.fail(&lease, &dead).await.unwrap(), FailOutcome::Dead);

    submit(
        fleet,
        "bugfix",
        "high",
        "Fix the lease renewal race when a worker restarts",
    )
    .await;
    let lease = claim_one(fleet, "bugfix-1", TaskType::Bugfix).await;
    minutes(3);
    let timeout = failure(FailureReason::Timeout, "the agent ran past its 30m timeout");
    assert!(matches!(
        q.fail(&lease, &timeout).await.unwrap(),
        FailOutcome::RetryAt(_)
    ));

    let approval = submit(
        fleet,
        "feature",
        "default",
        "Add a --json flag to `fleet-controller queues`",
    )
    .await;
    let lease = claim_one(fleet, "docs-1", TaskType::Feature).await;
    minutes(6);
    let result = json!({
        "branch": format!("fleet/feature/{}", approval.id),
        "summary": "Adds --json to `queues`: the depths as one JSON object, documented in docs/cli.md",
        "changed_files": 3,
        "lines_added": 84,
        "lines_removed": 12,
    });
    assert_eq!(
        q.complete(&lease, &result, true).await.unwrap(),
        OrderState::AwaitingApproval
    );

    let asking = submit(
        fleet,
        "bugfix",
        "default",
        "Fix the crash when the prompt file is empty",
    )
    .await;
    let asking_lease = claim_one(fleet, "bugfix-1", TaskType::Bugfix).await;
    minutes(2);
    let qid = fleet_shared::clarification::question_id(&asking.id, 1, "empty-prompt").unwrap();
    q.ask(
        &asking_lease,
        &qid,
        "An empty prompt file: should enqueue refuse it, or fall back to --prompt?",
        &["refuse it".to_string(), "fall back to --prompt".to_string()],
        Duration::from_secs(30 * 60),
    )
    .await
    .unwrap();

    submit(
        fleet,
        "docs",
        "default",
        "Document the dashboard and its live updates",
    )
    .await;
    let running = claim_one(fleet, "docs-1", TaskType::Docs).await;
    minutes(3);
    q.progress(&running, 60, "writing docs/dashboard.md")
        .await
        .unwrap();

    submit(
        fleet,
        "review",
        "high",
        "Review the lease-fencing change in heartbeat.lua",
    )
    .await;
    submit(
        fleet,
        "feature",
        "default",
        "Per-definition concurrency limits",
    )
    .await;
    submit(fleet, "test", "default", "Cover the CLI's exit codes").await;
    submit(fleet, "docs", "low", "Fix typos in the README").await;
    minutes(1);

    let workers = [
        worker(
            "docs-1",
            "docs",
            "docker",
            WorkerStatus::Busy,
            &[&running],
            63.5,
            812,
        ),
        worker(
            "bugfix-1",
            "bugfix",
            "docker",
            WorkerStatus::Busy,
            &[&asking_lease],
            4.0,
            264,
        ),
        worker(
            "refactor-1",
            "refactor",
            "process",
            WorkerStatus::Idle,
            &[],
            0.5,
            38,
        ),
    ];
    for (info, held) in workers {
        q.heartbeat(&info.id, &info.to_fields(), &held, LEASE, LEASE)
            .await
            .unwrap();
    }
    fleet.clock.advance(Duration::from_secs(4));
}

async fn submit(fleet: &TestFleet, ty: &str, priority: &str, prompt: &str) -> WorkOrder {
    submit_with(fleet, ty, priority, prompt, 3).await
}

async fn submit_with(
    fleet: &TestFleet,
    ty: &str,
    priority: &str,
    prompt: &str,
    max_attempts: u32,
) -> WorkOrder {
    let order = NewOrder {
        task_type: ty.into(),
        priority: Some(priority.into()),
        repo: "https://git.example.com/team/fleet.git".into(),
        branch: Some("main".into()),
        prompt: prompt.into(),
        max_attempts: Some(max_attempts),
        ..NewOrder::default()
    }
    .validate(OrderId::generate(), fleet.clock.script_arg())
    .unwrap();
    fleet.queue.enqueue(&order, None).await.unwrap();
    order
}

async fn claim_one(fleet: &TestFleet, worker: &str, ty: TaskType) -> Lease {
    let mut leases = fleet.queue.claim(worker, &[ty], 1, LEASE).await.unwrap();
    leases.pop().expect("an order to claim")
}

fn failure(reason: FailureReason, message: &str) -> Failure {
    Failure {
        reason,
        message: message.into(),
        permanent: false,
        details: None,
    }
}

/// A worker's registry entry as a real worker reports it, and the leases it holds.
fn worker(
    id: &str,
    definition: &str,
    executor: &str,
    status: WorkerStatus,
    leases: &[&Lease],
    cpu_percent: f32,
    memory_mib: u64,
) -> (WorkerInfo, Vec<(OrderId, String)>) {
    let info = WorkerInfo {
        id: id.into(),
        definition: definition.into(),
        accepts: vec![definition.parse().unwrap_or(TaskType::Docs)],
        executor: executor.into(),
        concurrency: 2,
        version: env!("CARGO_PKG_VERSION").into(),
        host: format!("build-{:02}", id.len()),
        pid: 4000 + id.len() as u32,
        status,
        current_orders: leases.iter().map(|l| l.order.id.to_string()).collect(),
        cpu_percent,
        memory_bytes: memory_mib * 1024 * 1024,
        started_at_ms: fleet_tests::T0,
        last_heartbeat_ms: 0,
        heartbeat_interval_ms: 10_000,
        limits: "2 GiB, 1.5 cpus, 256 pids".into(),
    };
    let held = leases
        .iter()
        .map(|l| (l.order.id.clone(), l.token.clone()))
        .collect();
    (info, held)
}
