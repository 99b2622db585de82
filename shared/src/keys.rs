//! The Redis key schema: every key fleet uses is built here and nowhere else.
//!
//! All keys of one fleet start with `fleet:{NAME}:`. The braces are a Redis Cluster hash tag: every
//! key of a fleet lands in one slot, so each multi-key Lua script is legal on a cluster. The table in
//! docs/redis-keys.md describes each key; keep the two in step.

use std::fmt;

use crate::error::ValidationError;
use crate::order::{OrderId, Priority, TaskType};

/// The name of one fleet: several fleets can share a Redis without seeing each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FleetName(String);

impl FleetName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if ok {
            Ok(FleetName(raw.to_string()))
        } else {
            Err(ValidationError::new(
                "fleet",
                raw,
                "is not a fleet name (1-64 characters of A-Z a-z 0-9 . _ -)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for FleetName {
    fn default() -> Self {
        FleetName("default".into())
    }
}

impl fmt::Display for FleetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One accessor per key. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(fleet: &FleetName) -> Self {
        Keys {
            prefix: format!("fleet:{{{}}}:", fleet.as_str()),
        }
    }

    /// `fleet:{NAME}:` — scripts that find an order id inside Redis (claim, reaper) build that
    /// order's keys from this prefix; they stay in the fleet's slot because of the hash tag.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// LIST of queued order ids of one type and priority: LPUSH on enqueue, RPOP on claim (FIFO).
    pub fn ready(&self, task_type: TaskType, priority: Priority) -> String {
        self.key(&format!("ready:{task_type}:{priority}"))
    }

    /// HASH of one order: its JSON spec plus its mutable state (see docs/redis-keys.md).
    pub fn order(&self, id: &OrderId) -> String {
        self.key(&format!("order:{id}"))
    }

    /// LIST of one order's transitions, newest first, capped; expires with the order.
    pub fn history(&self, id: &OrderId) -> String {
        self.key(&format!("order:{id}:history"))
    }

    /// LIST of one order's captured agent output lines, capped; expires with the order.
    pub fn order_log(&self, id: &OrderId) -> String {
        self.key(&format!("order:{id}:log"))
    }

    /// ZSET order id → lease deadline (ms). Holds exactly the running orders.
    pub fn leases(&self) -> String {
        self.key("leases")
    }

    /// ZSET order id → time it becomes ready (ms): retry backoff and scheduled orders.
    pub fn delayed(&self) -> String {
        self.key("delayed")
    }

    /// ZSET order id → time it died (ms): orders that used every attempt. Capped.
    pub fn dead(&self) -> String {
        self.key("dead")
    }

    /// ZSET order id → time it finished (ms): succeeded, failed and cancelled orders, pruned by
    /// the retention so it never outlives the order hashes it points to.
    pub fn finished(&self) -> String {
        self.key("finished")
    }

    /// ZSET order id → time its branch was pushed (ms): orders waiting for a person's approval.
    pub fn approvals(&self) -> String {
        self.key("approvals")
    }

    /// LIST of wake-up tokens for idle workers that accept `task_type`; they BLPOP on it.
    pub fn marker(&self, task_type: TaskType) -> String {
        self.key(&format!("marker:{task_type}"))
    }

    /// STREAM of every transition and progress report, capped by MAXLEN ~.
    pub fn events(&self) -> String {
        self.key("events")
    }

    /// LIST of recent alerts (JSON, newest first, capped): constraint violations, monitored
    /// orders, lost workers — what the dashboard's alerts panel shows.
    pub fn alerts(&self) -> String {
        self.key("alerts")
    }

    /// HASH of counters: enqueued, claimed, succeeded, failed, dead, retried, cancelled, requeued.
    pub fn stats(&self) -> String {
        self.key("stats")
    }

    /// HASH of histogram buckets (`<metric>:<le>` → count, `<metric>:sum`, `<metric>:count`),
    /// filled by the scripts so every worker's observations add up in one place.
    pub fn histograms(&self) -> String {
        self.key("histograms")
    }

    /// STRING counter that hands out fencing tokens (INCR).
    pub fn token_seq(&self) -> String {
        self.key("seq:token")
    }

    /// ZSET worker id → last heartbeat (ms).
    pub fn workers(&self) -> String {
        self.key("workers")
    }

    /// ZSET worker id → when it counts as lost (last heartbeat + 3 of its intervals), so the
    /// controller reads only the workers that are due instead of scanning all of them.
    pub fn workers_expiry(&self) -> String {
        self.key("workers:expiry")
    }

    /// HASH describing one worker (capabilities, status, usage); expires when it stops beating.
    pub fn worker(&self, worker: &str) -> String {
        self.key(&format!("worker:{worker}"))
    }

    /// SET of the order ids one worker holds leases on.
    pub fn worker_orders(&self, worker: &str) -> String {
        self.key(&format!("worker:{worker}:orders"))
    }

    /// STRING lock (SET NX PX) held by the one controller that runs a maintenance loop.
    pub fn lock(&self, name: &str) -> String {
        self.key(&format!("lock:{name}"))
    }

    /// HASH of one clarification question.
    pub fn question(&self, question_id: &str) -> String {
        self.key(&format!("question:{question_id}"))
    }

    /// ZSET question id → asked-at (ms) of the questions that wait for an answer.
    pub fn questions_pending(&self) -> String {
        self.key("questions:pending")
    }

    /// LIST the asking worker BLPOPs for the answer to one question.
    pub fn answer(&self, question_id: &str) -> String {
        self.key(&format!("answer:{question_id}"))
    }

    /// STREAM of one worker definition's audited actions, trimmed by MINID to its retention.
    pub fn audit_stream(&self, definition: &str) -> String {
        self.key(&format!("audit:{definition}"))
    }

    /// LIST of one order's audit entries (JSON, oldest first); expires with the retention.
    pub fn order_audit(&self, id: &OrderId) -> String {
        self.key(&format!("order:{id}:audit"))
    }

    /// HASH of trust records per definition (approved-in-a-row counts, escalations).
    pub fn trust(&self, definition: &str) -> String {
        self.key(&format!("trust:{definition}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_shares_the_fleet_hash_tag() {
        let keys = Keys::new(&FleetName::parse("prod").unwrap());
        let id: OrderId = "0193a4b2-0000-7000-8000-000000000001".parse().unwrap();
        for key in [
            keys.ready(TaskType::Docs, Priority::High),
            keys.order(&id),
            keys.leases(),
            keys.marker(TaskType::Bugfix),
            keys.worker_orders("w-1"),
        ] {
            assert!(key.starts_with("fleet:{prod}:"), "{key}");
        }
        assert_eq!(
            keys.ready(TaskType::Docs, Priority::High),
            "fleet:{prod}:ready:docs:high"
        );
    }

    #[test]
    fn fleet_names_cannot_break_the_hash_tag() {
        assert!(FleetName::parse("a}b").is_err());
        assert!(FleetName::parse("").is_err());
        assert!(FleetName::parse("team-a_1").is_ok());
    }
}
