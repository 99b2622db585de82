//! "Nothing lost, nothing run twice" under concurrency and under a random mix of operations.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use fleet_shared::queue::{Failure, Lease};
use fleet_shared::{FailureReason, OrderId, Priority, QueueError, TaskType};
use fleet_tests::{TestFleet, order};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_claimers_never_claim_an_order_twice() {
    const ORDERS: usize = 10_000;
    let fleet = TestFleet::new();
    // Enqueue in pipelined batches: the test is about claims, not enqueue speed.
    let mut tasks = Vec::new();
    for chunk in 0..10 {
        let queue = fleet.queue.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..ORDERS / 10 {
                let priority = Priority::ALL[(chunk + i) % 3];
                let task_type = TaskType::ALL[i % TaskType::ALL.len()];
                queue
                    .enqueue(&order(task_type, priority), None)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let mut claimers = Vec::new();
    for w in 0..8 {
        let queue = fleet.queue.clone();
        claimers.push(tokio::spawn(async move {
            let worker = format!("w-{w}");
            let mut mine = Vec::new();
            loop {
                let leases = queue
                    .claim(&worker, TaskType::ALL, 16, LEASE)
                    .await
                    .unwrap();
                if leases.is_empty() {
                    break;
                }
                for lease in leases {
                    queue
                        .complete(&lease, &serde_json::json!({}), false)
                        .await
                        .unwrap();
                    mine.push(lease.order.id);
                }
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for c in claimers {
        for id in c.await.unwrap() {
            total += 1;
            assert!(seen.insert(id.clone()), "order {id} was claimed twice");
        }
    }
    assert_eq!(total, ORDERS);
    let stats = fleet.queue.stats().await.unwrap();
    assert_eq!(stats.get("succeeded"), Some(&(ORDERS as u64)));
    assert_eq!(fleet.queue.depths().await.unwrap().total_ready(), 0);
}

/// One worker's view: the leases it believes it holds.
#[derive(Default)]
struct SimWorker {
    leases: Vec<Lease>,
}

#[tokio::test]
async fn every_order_is_in_exactly_one_place_after_every_random_step() {
    let fleet = TestFleet::new();
    let seed = std::env::var("FLEET_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f1ee7u64);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut workers: Vec<SimWorker> = (0..3).map(|_| SimWorker::default()).collect();
    let mut ids: Vec<OrderId> = Vec::new();

    for step in 0..600 {
        let op = rng.random_range(0..100);
        let w = rng.random_range(0..workers.len());
        let worker_name = format!("w-{w}");
        let what = match op {
            0..=24 => {
                let t = TaskType::ALL[rng.random_range(0..TaskType::ALL.len())];
                let p = Priority::ALL[rng.random_range(0..3)];
                let mut o = order(t, p);
                o.max_attempts = rng.random_range(1..4);
                fleet.queue.enqueue(&o, None).await.unwrap();
                ids.push(o.id);
                "enqueue"
            }
            25..=44 => {
                let n = rng.random_range(1..4);
                let got = fleet
                    .queue
                    .claim(&worker_name, TaskType::ALL, n, LEASE)
                    .await
                    .unwrap();
                workers[w].leases.extend(got);
                "claim"
            }
            45..=59 => {
                if let Some(lease) = take_random(&mut workers[w].leases, &mut rng) {
                    accept_fenced(
                        fleet
                            .queue
                            .complete(&lease, &serde_json::json!({}), false)
                            .await,
                    );
                }
                "complete"
            }
            60..=69 => {
                if let Some(lease) = take_random(&mut workers[w].leases, &mut rng) {
                    let failure = Failure {
                        reason: FailureReason::AgentExit(2),
                        message: "random failure".into(),
                        permanent: rng.random_bool(0.2),
                        details: None,
                    };
                    accept_fenced(fleet.queue.fail(&lease, &failure).await);
                }
                "fail"
            }
            70..=74 => {
                // The worker is killed: it forgets its leases without telling anyone.
                workers[w].leases.clear();
                "kill"
            }
            75..=82 => {
                // Time passes; leases without heartbeats run out and the reaper acts.
                fleet
                    .clock
                    .advance(Duration::from_secs(rng.random_range(1..90)));
                fleet.queue.reap_expired(1000).await.unwrap();
                fleet.queue.promote_delayed(1000).await.unwrap();
                "expire"
            }
            83..=87 => {
                let held: Vec<_> = workers[w]
                    .leases
                    .iter()
                    .map(|l| (l.order.id.clone(), l.token.clone()))
                    .collect();
                let lost = fleet
                    .queue
                    .heartbeat(&worker_name, &[], &held, LEASE, Duration::from_secs(15))
                    .await
                    .unwrap();
                let lost: HashSet<_> = lost.into_iter().map(|l| l.id).collect();
                workers[w].leases.retain(|l| !lost.contains(&l.order.id));
                "heartbeat"
            }
            88..=93 => {
                if !ids.is_empty() {
                    let id = &ids[rng.random_range(0..ids.len())];
                    match fleet.queue.cancel(id, "chaos").await {
                        Ok(_) | Err(QueueError::Conflict { .. }) => {}
                        Err(e) => panic!("cancel: {e}"),
                    }
                }
                "cancel"
            }
            _ => {
                if !ids.is_empty() {
                    let id = &ids[rng.random_range(0..ids.len())];
                    match fleet.queue.retry(id, "chaos").await {
                        Ok(_) | Err(QueueError::Conflict { .. }) => {}
                        Err(e) => panic!("retry: {e}"),
                    }
                }
                "retry"
            }
        };
        check_every_order_has_one_place(&fleet, &ids)
            .await
            .unwrap_or_else(|e| panic!("seed {seed:#x}, step {step} ({what}): {e}"));
    }
}

fn take_random(leases: &mut Vec<Lease>, rng: &mut StdRng) -> Option<Lease> {
    if leases.is_empty() {
        None
    } else {
        Some(leases.swap_remove(rng.random_range(0..leases.len())))
    }
}

/// A late call from a worker whose lease was revoked is refused; anything else is a bug.
fn accept_fenced<T: std::fmt::Debug>(result: Result<T, QueueError>) {
    match result {
        Ok(_) | Err(QueueError::Fenced { .. }) => {}
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Reads every place in one snapshot and checks each id sits in exactly one, matching its state.
async fn check_every_order_has_one_place(fleet: &TestFleet, ids: &[OrderId]) -> Result<(), String> {
    let keys = fleet.queue.keys();
    let mut redis = fleet.redis.client();
    let mut pipe = redis::pipe();
    pipe.atomic();
    let mut places: Vec<(String, bool)> = Vec::new();
    for t in TaskType::ALL {
        for p in Priority::ALL {
            pipe.lrange(keys.ready(*t, *p), 0, -1);
            places.push((format!("ready:{t}:{p}"), true));
        }
    }
    for (key, name) in [
        (keys.leases(), "leases"),
        (keys.delayed(), "delayed"),
        (keys.dead(), "dead"),
        (keys.approvals(), "approvals"),
        (keys.finished(), "finished"),
    ] {
        pipe.zrange(key, 0, -1);
        places.push((name.to_string(), false));
    }
    for id in ids {
        pipe.hget(keys.order(id), "state");
    }
    let replies: Vec<redis::Value> = pipe.query(&mut redis).map_err(|e| e.to_string())?;
    let (lists, states) = replies.split_at(places.len());
    let mut where_is: HashMap<String, Vec<String>> = HashMap::new();
    for ((name, _), members) in places.iter().zip(lists) {
        let members: Vec<String> =
            redis::from_redis_value(members.clone()).map_err(|e| e.to_string())?;
        for m in members {
            where_is.entry(m).or_default().push(name.clone());
        }
    }
    let expected_place: BTreeMap<&str, &str> = [
        ("queued", "ready"),
        ("running", "leases"),
        ("awaiting_clarification", "leases"),
        ("delayed", "delayed"),
        ("dead", "dead"),
        ("awaiting_approval", "approvals"),
        ("succeeded", "finished"),
        ("failed", "finished"),
        ("cancelled", "finished"),
    ]
    .into_iter()
    .collect();
    for (id, state) in ids.iter().zip(states) {
        let state: Option<String> =
            redis::from_redis_value(state.clone()).map_err(|e| e.to_string())?;
        let state = state.ok_or(format!("order {id} has no hash"))?;
        let found = where_is.remove(id.as_str()).unwrap_or_default();
        if found.len() != 1 {
            return Err(format!("order {id} ({state}) is in {found:?}"));
        }
        let want = expected_place[state.as_str()];
        if !found[0].starts_with(want) {
            return Err(format!("order {id} is {state} but sits in {}", found[0]));
        }
    }
    if !where_is.is_empty() {
        return Err(format!("unknown ids in the queue: {where_is:?}"));
    }
    Ok(())
}
