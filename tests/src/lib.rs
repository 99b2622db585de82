//! Harness for fleet's integration tests: real processes, each test isolated.
//!
//! - [`RedisServer`]: a private redis-server on a free port per test.
//! - [`TestFleet`]: that server plus a queue with an injected clock.
#![allow(clippy::unwrap_used)]

pub mod browser;
pub mod controller;
pub mod git_fixtures;
pub mod images;
pub mod redis_server;
pub mod worker;

use fleet_shared::queue::QueueSettings;
use fleet_shared::{
    Clock, Keys, NewOrder, OrderId, Priority, Queue, RedisHandle, TaskType, WorkOrder,
};

pub use redis_server::{RedisServer, free_port};

/// The instant manual clocks start at (2026-01-01T00:00:00Z), far from 0 so that "0 = use
/// Redis TIME" can never be hit by accident.
pub const T0: i64 = 1_767_225_600_000;

/// A private Redis and a queue on it whose clock the test moves.
pub struct TestFleet {
    pub redis: RedisServer,
    pub queue: Queue,
    pub clock: Clock,
}

impl TestFleet {
    pub fn new() -> Self {
        Self::with_settings(QueueSettings::default())
    }

    pub fn with_settings(settings: QueueSettings) -> Self {
        let redis = RedisServer::start();
        let clock = Clock::manual(T0);
        let queue = queue_on(&redis.url(), "test")
            .with_clock(clock.clone())
            .with_settings(settings);
        TestFleet {
            redis,
            queue,
            clock,
        }
    }

    /// Enqueues a valid order of `task_type` and `priority` and returns it.
    pub async fn enqueue(&self, task_type: TaskType, priority: Priority) -> WorkOrder {
        let order = order(task_type, priority);
        self.queue.enqueue(&order, None).await.unwrap();
        order
    }
}

impl Default for TestFleet {
    fn default() -> Self {
        Self::new()
    }
}

/// A queue for fleet `name` on the Redis at `url`.
pub fn queue_on(url: &str, name: &str) -> Queue {
    let fleet = fleet_shared::FleetName::parse(name).unwrap();
    Queue::new(RedisHandle::open(url).unwrap(), Keys::new(&fleet))
}

/// A valid order (3 attempts) of the given type and priority.
pub fn order(task_type: TaskType, priority: Priority) -> WorkOrder {
    NewOrder {
        task_type: task_type.to_string(),
        priority: Some(priority.to_string()),
        repo: "https://git.example.com/team/app.git".into(),
        branch: Some("main".into()),
        prompt: "do the thing".into(),
        max_attempts: Some(3),
        ..NewOrder::default()
    }
    .validate(OrderId::generate(), T0)
    .unwrap()
}

/// Path of one of the workspace's binaries (`fleet-controller`, `fleet-worker`), built next to
/// this test binary by `cargo build --workspace --bins` (scripts/test.sh does it first).
pub fn bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/it-<hash> → target/<profile>/<name>
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is not built; run ./scripts/test.sh, or `cargo build --workspace --bins` before `cargo test`",
        path.display()
    );
    path
}
