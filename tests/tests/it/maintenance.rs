//! The reaper, the scheduler and lost-worker detection, with injected time.

use std::time::Duration;

use fleet_controller::maintenance::{Maintenance, MaintenanceConfig};
use fleet_shared::queue::Failure;
use fleet_shared::registry::WorkerStatus;
use fleet_shared::{FailureReason, OrderState, Priority, TaskType};
use fleet_tests::TestFleet;

const LEASE: Duration = Duration::from_secs(60);

fn maintenance(fleet: &TestFleet, owner: &str) -> Maintenance {
    Maintenance::new(fleet.queue.clone(), owner, MaintenanceConfig::default())
}

#[tokio::test]
async fn the_reaper_requeues_expired_leases_and_the_scheduler_promotes_due_retries() {
    let fleet = TestFleet::new();
    let m = maintenance(&fleet, "c-1");
    let crashed = fleet.enqueue(TaskType::Feature, Priority::Default).await;
    let failing = fleet.enqueue(TaskType::Feature, Priority::Default).await;
    let leases = fleet
        .queue
        .claim("w-3", TaskType::ALL, 2, LEASE)
        .await
        .unwrap();
    let failing_lease = leases.iter().find(|l| l.order.id == failing.id).unwrap();
    let failure = Failure {
        reason: FailureReason::AgentExit(1),
        message: "boom".into(),
        permanent: false,
        details: None,
    };
    fleet.queue.fail(failing_lease, &failure).await.unwrap();

    let report = m.cycle().await.unwrap();
    assert!(report.leader);
    assert_eq!((report.requeued, report.promoted), (0, 0));

    fleet.clock.advance(Duration::from_secs(3600));
    let report = m.cycle().await.unwrap();
    assert_eq!((report.requeued, report.promoted), (1, 1));
    let record = fleet.queue.order(&crashed.id).await.unwrap().unwrap();
    assert_eq!(record.state, OrderState::Queued);
    assert_eq!(
        record.error.as_deref(),
        Some("lease_expired: worker w-3 missed heartbeats")
    );
    let retried = fleet.queue.order(&failing.id).await.unwrap().unwrap();
    assert_eq!(retried.state, OrderState::Queued);
}

#[tokio::test]
async fn two_controllers_side_by_side_never_requeue_an_order_twice() {
    let fleet = TestFleet::new();
    for _ in 0..200 {
        fleet.enqueue(TaskType::Test, Priority::Default).await;
    }
    let claimed = fleet
        .queue
        .claim("w-1", TaskType::ALL, 200, LEASE)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 200);
    fleet.clock.advance(LEASE + Duration::from_secs(1));

    let a = maintenance(&fleet, "c-a");
    let b = maintenance(&fleet, "c-b");
    let (ra, rb) = tokio::join!(a.cycle(), b.cycle());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(
        ra.leader != rb.leader,
        "exactly one controller holds the lock"
    );
    assert_eq!(ra.requeued + rb.requeued, 200);
    let stats = fleet.queue.stats().await.unwrap();
    assert_eq!(stats.get("requeued"), Some(&200));
    assert_eq!(fleet.queue.depths().await.unwrap().total_ready(), 200);
}

#[tokio::test]
async fn a_worker_that_misses_three_heartbeats_is_marked_lost_once() {
    let fleet = TestFleet::new();
    let m = maintenance(&fleet, "c-1");
    let fields = vec![
        ("status".to_string(), "idle".to_string()),
        ("heartbeat_interval_ms".to_string(), "5000".to_string()),
    ];
    fleet
        .queue
        .heartbeat("w-9", &fields, &[], LEASE, Duration::from_secs(3600))
        .await
        .unwrap();
    fleet.clock.advance(Duration::from_secs(14));
    assert!(m.cycle().await.unwrap().lost_workers.is_empty());
    fleet.clock.advance(Duration::from_secs(2));
    assert_eq!(m.cycle().await.unwrap().lost_workers, vec!["w-9"]);
    assert!(
        m.cycle().await.unwrap().lost_workers.is_empty(),
        "marked once"
    );
    let workers = fleet.queue.workers().await.unwrap();
    assert_eq!(workers[0].status, WorkerStatus::Lost);
    let events = fleet.queue.recent_events(5).await.unwrap();
    assert!(events.iter().any(|e| e.event == "worker_lost"));

    // An hour of silence later it is forgotten altogether.
    fleet.clock.advance(Duration::from_secs(3600));
    m.cycle().await.unwrap();
    assert!(fleet.queue.workers().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_worker_that_comes_back_is_judged_by_its_new_heartbeats() {
    let fleet = TestFleet::new();
    let m = maintenance(&fleet, "c-1");
    let beat = |status: &'static str| {
        let fields = vec![
            ("status".to_string(), status.to_string()),
            ("heartbeat_interval_ms".to_string(), "1000".to_string()),
        ];
        let queue = fleet.queue.clone();
        async move {
            queue
                .heartbeat("w-1", &fields, &[], LEASE, Duration::from_secs(3600))
                .await
                .unwrap()
        }
    };
    beat("idle").await;
    fleet.clock.advance(Duration::from_millis(3_500)); // its own interval: 1 s
    assert_eq!(m.cycle().await.unwrap().lost_workers, vec!["w-1"]);
    beat("idle").await;
    fleet.clock.advance(Duration::from_millis(2_000));
    assert!(m.cycle().await.unwrap().lost_workers.is_empty());
    assert_eq!(
        fleet.queue.workers().await.unwrap()[0].status,
        WorkerStatus::Idle
    );
}
