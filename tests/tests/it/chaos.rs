//! Chaos: three real worker processes run 200 orders; one is killed with SIGKILL and
//! redis-server (AOF) is killed and restarted mid-run. Every order must end in exactly one
//! terminal state with exactly one pushed branch per success: nothing lost, nothing duplicated.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fleet_controller::maintenance::{Maintenance, MaintenanceConfig};
use fleet_shared::{NewOrder, OrderId, OrderState, Priority};
use fleet_tests::git_fixtures::Upstream;
use fleet_tests::images::{remove_containers_labelled, require_docker};
use fleet_tests::worker::{DefinitionSpec, helper_dir, test_agent_image};
use fleet_tests::{RedisServer, bin, queue_on};
use tokio_util::sync::CancellationToken;

const ORDERS: usize = 200;

fn spawn_worker(redis_url: &str, name: &str, definition: &Path, work_dir: &Path) -> Child {
    Command::new(bin("fleet-worker"))
        .args(["run", "--executor", "docker", "--concurrency", "4"])
        .args([
            "--heartbeat",
            "300ms",
            "--lease",
            "3s",
            "--poll",
            "500ms",
            "--name",
            name,
        ])
        .arg("--definition")
        .arg(definition)
        .arg("--work-dir")
        .arg(work_dir)
        .arg("--agent-helper-dir")
        .arg(helper_dir())
        .env("FLEET_REDIS_URL", redis_url)
        .env("FLEET_NAME", "chaos")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_worker_and_restarting_redis_loses_and_duplicates_nothing() {
    require_docker();
    let mut redis = RedisServer::start_with_aof();
    let queue = queue_on(&redis.url(), "chaos");
    let upstream = Upstream::new("app");
    let defs = tempfile::tempdir().unwrap();
    let def = DefinitionSpec::new(&test_agent_image()).write(defs.path(), "chaos-worker");
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();

    let stop = CancellationToken::new();
    let maintenance = Maintenance::new(
        queue.clone(),
        "chaos-controller",
        MaintenanceConfig {
            interval: Duration::from_millis(200),
            ..MaintenanceConfig::default()
        },
    );
    tokio::spawn(maintenance.run(stop.clone()));

    let mut ids: Vec<OrderId> = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS {
        let order = NewOrder {
            task_type: "test".into(),
            priority: Some(Priority::ALL[i % 3].to_string()),
            repo: upstream.file_url(),
            branch: Some("main".into()),
            prompt: format!("edit out/{i}.txt order {i}"),
            max_attempts: Some(5),
            ..NewOrder::default()
        }
        .validate(OrderId::generate(), fleet_tests::T0)
        .unwrap();
        queue.enqueue(&order, None).await.unwrap();
        ids.push(order.id);
    }
    let names = ["chaos-a", "chaos-b", "chaos-c"];
    let mut workers: Vec<Child> = names
        .iter()
        .zip(&dirs)
        .map(|(n, d)| spawn_worker(&redis.url(), n, &def, d.path()))
        .collect();

    let started = Instant::now();
    let finished = |stats: &BTreeMap<String, u64>| {
        ["succeeded", "dead", "failed"]
            .iter()
            .map(|k| stats.get(*k).copied().unwrap_or(0))
            .sum::<u64>()
    };
    let mut killed_worker = false;
    let mut restarted_redis = false;
    loop {
        let done = queue.stats().await.map(|s| finished(&s)).unwrap_or(0);
        if !killed_worker && done >= 30 {
            workers[0].kill().unwrap(); // SIGKILL, mid-order: it runs 4 at a time
            workers[0].wait().unwrap();
            killed_worker = true;
            eprintln!("chaos: killed {} after {done} orders", names[0]);
        }
        if killed_worker && !restarted_redis && done >= 80 {
            redis.kill(); // SIGKILL the server; AOF brings every acknowledged write back
            tokio::time::sleep(Duration::from_millis(500)).await;
            redis.restart();
            restarted_redis = true;
            eprintln!("chaos: restarted redis-server after {done} orders");
        }
        if done as usize >= ORDERS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "only {done} of {ORDERS} orders finished in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(killed_worker && restarted_redis);

    // Every order: exactly one terminal state, one place, and for successes exactly one branch
    // holding the commit the order recorded.
    let records = queue.orders(&ids).await.unwrap();
    assert_eq!(records.len(), ORDERS, "an order hash went missing");
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen = HashSet::new();
    for r in &records {
        assert!(
            seen.insert(r.order.id.clone()),
            "duplicate order {}",
            r.order.id
        );
        *by_state.entry(r.state.to_string()).or_default() += 1;
        let places = queue.places_of(&r.order.id).await.unwrap();
        assert_eq!(places.len(), 1, "order {} is in {places:?}", r.order.id);
        if r.state == OrderState::Succeeded {
            let branch = r.order.result_branch();
            let tip = upstream
                .tip(&branch)
                .expect("a succeeded order has its branch");
            let commit = r.result.as_ref().unwrap()["commit"]
                .as_str()
                .unwrap()
                .to_string();
            assert_eq!(
                tip.to_string(),
                commit,
                "the branch holds the recorded commit"
            );
        }
    }
    let branches: Vec<String> = upstream
        .repo()
        .branches(Some(git2::BranchType::Local))
        .unwrap()
        .filter_map(|b| b.ok()?.0.name().ok().flatten().map(str::to_string))
        .filter(|n| n.starts_with("fleet/"))
        .collect();
    let succeeded = by_state.get("succeeded").copied().unwrap_or(0);
    let stats = queue.stats().await.unwrap();
    eprintln!(
        "chaos: {ORDERS} orders in {:.1}s: {by_state:?}; branches pushed: {}; requeued after lease loss: {}; claims: {}",
        started.elapsed().as_secs_f64(),
        branches.len(),
        stats.get("requeued").unwrap_or(&0),
        stats.get("claimed").unwrap_or(&0),
    );
    assert_eq!(succeeded, ORDERS, "every order succeeds: {by_state:?}");
    assert_eq!(
        branches.len(),
        ORDERS,
        "exactly one branch per succeeded order"
    );
    let unique: HashSet<_> = branches.iter().collect();
    assert_eq!(unique.len(), branches.len());

    for w in workers.iter_mut().skip(1) {
        let _ = Command::new("kill")
            .args(["-TERM", &w.id().to_string()])
            .status();
        let _ = w.wait();
    }
    stop.cancel();
    for name in names {
        remove_containers_labelled(&format!("io.fleet.worker={name}"));
    }
}
