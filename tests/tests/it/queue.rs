//! The queue's transitions against a real redis-server, with time injected.

use std::time::Duration;

use fleet_shared::queue::{FailOutcome, Failure, QueueSettings, StateList};
use fleet_shared::{FailureReason, OrderState, Priority, QueueError, TaskType};
use fleet_tests::{T0, TestFleet, order};

const LEASE: Duration = Duration::from_secs(60);
const ALL: &[TaskType] = TaskType::ALL;

fn retryable(message: &str) -> Failure {
    Failure {
        reason: FailureReason::AgentExit(1),
        message: message.into(),
        permanent: false,
        details: None,
    }
}

#[tokio::test]
async fn claims_take_high_before_default_before_low_and_oldest_first() {
    let fleet = TestFleet::new();
    let low = fleet.enqueue(TaskType::Feature, Priority::Low).await;
    let default_1 = fleet.enqueue(TaskType::Feature, Priority::Default).await;
    let default_2 = fleet.enqueue(TaskType::Feature, Priority::Default).await;
    let high = fleet.enqueue(TaskType::Feature, Priority::High).await;

    let mut claimed = Vec::new();
    for _ in 0..4 {
        let lease = fleet.queue.claim("w-1", ALL, 1, LEASE).await.unwrap();
        claimed.push(lease[0].order.id.clone());
    }
    assert_eq!(claimed, vec![high.id, default_1.id, default_2.id, low.id]);
    assert!(
        fleet
            .queue
            .claim("w-1", ALL, 1, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_worker_claims_only_its_types_and_priority_wins_across_types() {
    let fleet = TestFleet::new();
    let docs_default = fleet.enqueue(TaskType::Docs, Priority::Default).await;
    let review_high = fleet.enqueue(TaskType::Review, Priority::High).await;
    let feature_high = fleet.enqueue(TaskType::Feature, Priority::High).await;

    let types = [TaskType::Docs, TaskType::Review];
    let leases = fleet.queue.claim("w-docs", &types, 5, LEASE).await.unwrap();
    let ids: Vec<_> = leases.iter().map(|l| l.order.id.clone()).collect();
    assert_eq!(ids, vec![review_high.id, docs_default.id]);

    let record = fleet.queue.order(&feature_high.id).await.unwrap().unwrap();
    assert_eq!(
        record.state,
        OrderState::Queued,
        "a feature order waits for a feature worker"
    );
}

#[tokio::test]
async fn a_claim_records_the_lease_worker_token_and_attempt() {
    let fleet = TestFleet::new();
    let order = fleet.enqueue(TaskType::Bugfix, Priority::Default).await;
    let lease = fleet
        .queue
        .claim("w-7", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);

    assert_eq!(lease.attempt, 1);
    assert_eq!(lease.deadline_ms, T0 + 60_000);
    assert_eq!(lease.order, order);
    let record = fleet.queue.order(&order.id).await.unwrap().unwrap();
    assert_eq!(record.state, OrderState::Running);
    assert_eq!(record.worker.as_deref(), Some("w-7"));
    assert_eq!(
        fleet.queue.places_of(&order.id).await.unwrap(),
        vec!["leases"]
    );
}

#[tokio::test]
async fn an_expired_lease_is_requeued_with_the_attempt_counted_and_the_reason_recorded() {
    let fleet = TestFleet::new();
    let order = fleet.enqueue(TaskType::Test, Priority::Default).await;
    fleet.queue.claim("w-3", ALL, 1, LEASE).await.unwrap();

    fleet.clock.advance(Duration::from_secs(59));
    assert!(
        fleet.queue.reap_expired(100).await.unwrap().is_empty(),
        "not yet expired"
    );

    fleet.clock.advance(Duration::from_secs(2));
    let reaped = fleet.queue.reap_expired(100).await.unwrap();
    assert_eq!(reaped.len(), 1);
    assert_eq!(
        (reaped[0].state.as_str(), reaped[0].worker.as_str()),
        ("queued", "w-3")
    );

    let record = fleet.queue.order(&order.id).await.unwrap().unwrap();
    assert_eq!(record.state, OrderState::Queued);
    assert_eq!(
        record.error.as_deref(),
        Some("lease_expired: worker w-3 missed heartbeats")
    );
    let again = fleet
        .queue
        .claim("w-4", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(again.attempt, 2);
}

#[tokio::test]
async fn heartbeats_keep_a_lease_alive() {
    let fleet = TestFleet::new();
    fleet.enqueue(TaskType::Test, Priority::Default).await;
    let lease = fleet
        .queue
        .claim("w-1", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    let held = [(lease.order.id.clone(), lease.token.clone())];
    for _ in 0..5 {
        fleet.clock.advance(Duration::from_secs(30));
        let lost = fleet
            .queue
            .heartbeat("w-1", &[], &held, LEASE, Duration::from_secs(15))
            .await
            .unwrap();
        assert!(lost.is_empty());
        assert!(fleet.queue.reap_expired(100).await.unwrap().is_empty());
    }
    fleet
        .queue
        .complete(&lease, &serde_json::json!({}), false)
        .await
        .unwrap();
}

#[tokio::test]
async fn exhausted_attempts_go_to_the_dead_set_and_a_retry_brings_the_order_back() {
    let fleet = TestFleet::new();
    let order = fleet.enqueue(TaskType::Refactor, Priority::Low).await;
    for attempt in 1..=3 {
        fleet.queue.promote_delayed(100).await.unwrap();
        let lease = fleet
            .queue
            .claim("w-1", ALL, 1, LEASE)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(lease.attempt, attempt);
        let outcome = fleet
            .queue
            .fail(&lease, &retryable("tests failed"))
            .await
            .unwrap();
        if attempt < 3 {
            assert!(matches!(outcome, FailOutcome::RetryAt(_)), "{outcome:?}");
            fleet.clock.advance(Duration::from_secs(3600));
        } else {
            assert_eq!(outcome, FailOutcome::Dead);
        }
    }
    let dead = fleet.queue.list(StateList::Dead, 10).await.unwrap();
    assert_eq!(dead, vec![order.id.clone()]);
    let record = fleet.queue.order(&order.id).await.unwrap().unwrap();
    assert_eq!(record.state, OrderState::Dead);
    assert_eq!(record.reason.as_deref(), Some("agent_exit(1)"));

    assert_eq!(
        fleet.queue.retry(&order.id, "test").await.unwrap(),
        OrderState::Dead
    );
    assert_eq!(
        fleet.queue.places_of(&order.id).await.unwrap(),
        vec!["ready:refactor:low"]
    );
    let lease = fleet
        .queue
        .claim("w-1", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        lease.attempt, 1,
        "a retried order gets a fresh set of attempts"
    );
}

#[tokio::test]
async fn a_failed_attempt_waits_out_its_backoff_before_running_again() {
    let settings = QueueSettings {
        backoff: fleet_shared::queue::Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(600),
            jitter: 0.0,
        },
        ..QueueSettings::default()
    };
    let fleet = TestFleet::with_settings(settings);
    let order = fleet.enqueue(TaskType::Feature, Priority::High).await;

    let lease = fleet
        .queue
        .claim("w-1", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    let outcome = fleet.queue.fail(&lease, &retryable("flaky")).await.unwrap();
    assert_eq!(outcome, FailOutcome::RetryAt(T0 + 10_000));

    fleet.clock.advance(Duration::from_millis(9_999));
    assert!(fleet.queue.promote_delayed(100).await.unwrap().is_empty());
    assert!(
        fleet
            .queue
            .claim("w-1", ALL, 1, LEASE)
            .await
            .unwrap()
            .is_empty()
    );

    fleet.clock.advance(Duration::from_millis(1));
    assert_eq!(
        fleet.queue.promote_delayed(100).await.unwrap(),
        vec![order.id.clone()]
    );
    let lease = fleet
        .queue
        .claim("w-1", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    let outcome = fleet.queue.fail(&lease, &retryable("flaky")).await.unwrap();
    assert_eq!(
        outcome,
        FailOutcome::RetryAt(T0 + 10_000 + 20_000),
        "the second wait doubles"
    );
}

#[tokio::test]
async fn a_permanent_failure_skips_the_retries() {
    let fleet = TestFleet::new();
    let order = fleet.enqueue(TaskType::Feature, Priority::High).await;
    let lease = fleet
        .queue
        .claim("w-1", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    let failure = Failure {
        reason: FailureReason::CloneFailed,
        message: "branch nope does not exist".into(),
        permanent: true,
        details: None,
    };
    assert_eq!(
        fleet.queue.fail(&lease, &failure).await.unwrap(),
        FailOutcome::Failed
    );
    let record = fleet.queue.order(&order.id).await.unwrap().unwrap();
    assert_eq!(record.state, OrderState::Failed);
    assert_eq!(record.reason.as_deref(), Some("clone_failed"));
    assert_eq!(
        fleet.queue.places_of(&order.id).await.unwrap(),
        vec!["finished"]
    );
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_cannot_complete_fail_or_extend_the_order() {
    let fleet = TestFleet::new();
    let order = fleet.enqueue(TaskType::Feature, Priority::Default).await;
    let stale = fleet
        .queue
        .claim("w-old", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);

    fleet.clock.advance(Duration::from_secs(61));
    fleet.queue.reap_expired(100).await.unwrap();
    let fresh = fleet
        .queue
        .claim("w-new", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    let before = fleet.redis.client();
    let snapshot = hash_of(before, &fleet.queue.keys().order(&order.id));

    let late = fleet
        .queue
        .complete(&stale, &serde_json::json!({}), false)
        .await;
    assert!(
        matches!(&late, Err(QueueError::Fenced { holder, state, .. }) if holder == "w-new" && state == "running"),
        "{late:?}"
    );
    let late_fail = fleet.queue.fail(&stale, &retryable("late")).await;
    assert!(
        matches!(late_fail, Err(QueueError::Fenced { .. })),
        "{late_fail:?}"
    );
    let lost = fleet
        .queue
        .heartbeat(
            "w-old",
            &[],
            &[(stale.order.id.clone(), stale.token.clone())],
            LEASE,
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].state, "running");
    assert_eq!(
        hash_of(fleet.redis.client(), &fleet.queue.keys().order(&order.id)),
        snapshot,
        "refused calls change nothing"
    );

    fleet
        .queue
        .complete(&fresh, &serde_json::json!({"ok": true}), false)
        .await
        .unwrap();
    assert_eq!(
        fleet.queue.order(&order.id).await.unwrap().unwrap().state,
        OrderState::Succeeded
    );
}

#[tokio::test]
async fn cancelling_a_queued_order_removes_it_from_its_list() {
    let fleet = TestFleet::new();
    let order = fleet.enqueue(TaskType::Docs, Priority::Default).await;
    let outcome = fleet.queue.cancel(&order.id, "alice").await.unwrap();
    assert_eq!(outcome.previous, OrderState::Queued);
    assert_eq!(
        fleet.queue.places_of(&order.id).await.unwrap(),
        vec!["finished"]
    );
    assert!(
        fleet
            .queue
            .claim("w-1", ALL, 1, LEASE)
            .await
            .unwrap()
            .is_empty()
    );

    let again = fleet.queue.cancel(&order.id, "alice").await;
    assert!(matches!(again, Err(QueueError::Conflict { ref state, .. }) if state == "cancelled"));
}

#[tokio::test]
async fn cancelling_a_running_order_revokes_the_lease_and_the_worker_hears_it() {
    let fleet = TestFleet::new();
    let order = fleet.enqueue(TaskType::Docs, Priority::Default).await;
    let lease = fleet
        .queue
        .claim("w-1", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);

    let outcome = fleet.queue.cancel(&order.id, "bob").await.unwrap();
    assert_eq!(outcome.previous, OrderState::Running);

    let lost = fleet
        .queue
        .heartbeat(
            "w-1",
            &[],
            &[(lease.order.id.clone(), lease.token.clone())],
            LEASE,
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    assert_eq!(lost[0].state, "cancelled");
    let late = fleet
        .queue
        .complete(&lease, &serde_json::json!({}), false)
        .await;
    assert!(matches!(late, Err(QueueError::Fenced { .. })));
    assert_eq!(
        fleet.queue.places_of(&order.id).await.unwrap(),
        vec!["finished"]
    );
}

#[tokio::test]
async fn a_released_order_goes_back_to_the_front_without_charging_the_attempt() {
    let fleet = TestFleet::new();
    let first = fleet.enqueue(TaskType::Test, Priority::Default).await;
    let lease = fleet
        .queue
        .claim("w-1", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    let _second = fleet.enqueue(TaskType::Test, Priority::Default).await;

    fleet
        .queue
        .release(&lease, "worker shutting down")
        .await
        .unwrap();
    let next = fleet
        .queue
        .claim("w-2", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(next.order.id, first.id);
    assert_eq!(next.attempt, 1);
}

#[tokio::test]
async fn enqueueing_the_same_id_twice_changes_nothing() {
    let fleet = TestFleet::new();
    let order = fleet.enqueue(TaskType::Test, Priority::Default).await;
    let again = fleet.queue.enqueue(&order, None).await;
    assert!(matches!(again, Err(QueueError::AlreadyExists { .. })));
    assert_eq!(fleet.queue.depths().await.unwrap().total_ready(), 1);
}

#[tokio::test]
async fn a_scheduled_order_waits_in_the_delayed_set() {
    let fleet = TestFleet::new();
    let order = order(TaskType::Test, Priority::Default);
    let state = fleet.queue.enqueue(&order, Some(T0 + 5_000)).await.unwrap();
    assert_eq!(state, OrderState::Delayed);
    assert!(
        fleet
            .queue
            .claim("w-1", ALL, 1, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    fleet.clock.advance(Duration::from_secs(5));
    fleet.queue.promote_delayed(10).await.unwrap();
    assert_eq!(
        fleet.queue.claim("w-1", ALL, 1, LEASE).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn finished_orders_expire_after_the_retention_and_the_stream_is_capped() {
    let settings = QueueSettings {
        retention: Duration::from_secs(3600),
        events_maxlen: 50,
        ..QueueSettings::default()
    };
    let fleet = TestFleet::with_settings(settings);
    for _ in 0..600 {
        fleet.enqueue(TaskType::Docs, Priority::Low).await;
    }
    let lease = fleet
        .queue
        .claim("w-1", ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    fleet
        .queue
        .complete(&lease, &serde_json::json!({}), false)
        .await
        .unwrap();

    let mut redis = fleet.redis.client();
    let key = fleet.queue.keys().order(&lease.order.id);
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut redis).unwrap();
    assert!(ttl > 3_500_000 && ttl <= 3_600_000, "ttl {ttl}");
    let history_ttl: i64 = redis::cmd("PTTL")
        .arg(fleet.queue.keys().history(&lease.order.id))
        .query(&mut redis)
        .unwrap();
    assert!(history_ttl > 0);
    let len: u64 = redis::cmd("XLEN")
        .arg(fleet.queue.keys().events())
        .query(&mut redis)
        .unwrap();
    assert!(
        len < 250,
        "events stream holds {len} entries; MAXLEN ~ 50 should trim it"
    );
}

#[tokio::test]
async fn the_dead_set_is_capped_and_drops_the_oldest_orders_entirely() {
    let settings = QueueSettings {
        dead_max: 2,
        ..QueueSettings::default()
    };
    let fleet = TestFleet::with_settings(settings);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut o = order(TaskType::Test, Priority::Default);
        o.max_attempts = 1;
        fleet.queue.enqueue(&o, None).await.unwrap();
        let lease = fleet
            .queue
            .claim("w-1", ALL, 1, LEASE)
            .await
            .unwrap()
            .remove(0);
        fleet.queue.fail(&lease, &retryable("boom")).await.unwrap();
        fleet.clock.advance(Duration::from_secs(1));
        ids.push(o.id);
    }
    let dead = fleet.queue.list(StateList::Dead, 10).await.unwrap();
    assert_eq!(dead, vec![ids[2].clone(), ids[1].clone()]);
    assert!(fleet.queue.order(&ids[0]).await.unwrap().is_none());
}

#[tokio::test]
async fn scripts_are_reloaded_after_redis_forgets_them() {
    let fleet = TestFleet::new();
    fleet.enqueue(TaskType::Test, Priority::Default).await;
    let mut redis = fleet.redis.client();
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut redis).unwrap();
    assert_eq!(
        fleet.queue.claim("w-1", ALL, 1, LEASE).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn an_idle_claimer_wakes_when_an_order_of_its_type_arrives() {
    let fleet = TestFleet::new();
    // Drain the marker a previous enqueue could have left, then block.
    let queue = fleet.queue.clone();
    let waiter = tokio::spawn(async move {
        queue
            .wait_for_work(&[TaskType::Review], Duration::from_secs(5))
            .await
            .unwrap()
    });
    // A feature order is not for this claimer: it must keep sleeping.
    tokio::time::sleep(Duration::from_millis(50)).await;
    fleet.enqueue(TaskType::Feature, Priority::High).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiter.is_finished());
    fleet.enqueue(TaskType::Review, Priority::Low).await;
    let woke = tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .expect("woken well before the 5 s fallback")
        .unwrap();
    assert!(woke);
}

#[tokio::test]
async fn a_restarted_worker_gives_up_its_previous_runs_leases_at_once() {
    let fleet = TestFleet::new();
    let order = fleet.enqueue(TaskType::Test, Priority::Default).await;
    fleet.queue.claim("w-1", ALL, 1, LEASE).await.unwrap();
    assert_eq!(
        fleet
            .queue
            .abandon_leases("w-1", "restarted")
            .await
            .unwrap(),
        1
    );
    let reaped = fleet.queue.reap_expired(10).await.unwrap();
    assert_eq!(reaped.len(), 1);
    let record = fleet.queue.order(&order.id).await.unwrap().unwrap();
    assert_eq!(
        record.error.as_deref(),
        Some("lease_expired: worker w-1 restarted")
    );
}

#[tokio::test]
async fn only_one_owner_holds_a_lock_until_it_expires() {
    let fleet = TestFleet::new();
    let ttl = Duration::from_secs(10);
    assert!(fleet.queue.hold_lock("reaper", "c-1", ttl).await.unwrap());
    assert!(!fleet.queue.hold_lock("reaper", "c-2", ttl).await.unwrap());
    assert!(
        fleet.queue.hold_lock("reaper", "c-1", ttl).await.unwrap(),
        "renewal"
    );
}

fn hash_of(mut redis: redis::Connection, key: &str) -> std::collections::BTreeMap<String, String> {
    redis::cmd("HGETALL").arg(key).query(&mut redis).unwrap()
}
