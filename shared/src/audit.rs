//! The audit trail: every action on an order (claim, clone, sandbox start and exit, questions
//! and answers, witness verdicts, commit, push, approval) as one entry each.
//!
//! Entries go to two places in one round trip:
//! - `fleet:{F}:audit:<definition>` — a STREAM per worker definition, trimmed by `MINID` to that
//!   definition's `audit.retention_days` (so each definition keeps its own retention);
//! - `fleet:{F}:order:<id>:audit` — the order's own trail (LIST), which `fleet-controller audit
//!   ORDER_ID` prints; it expires after the same retention.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::order::OrderId;
use crate::queue::{Queue, QueueResult};

/// One audited action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub order: String,
    /// `claim`, `clone`, `sandbox_start`, `sandbox_exit`, `question`, `answer`, `witness`,
    /// `commit`, `push`, `complete`, `fail`, `approve`, `reject`, `cancel`, ...
    pub action: String,
    /// Who acted: a worker id, or a person (`cli:alice`, a JWT subject).
    pub actor: String,
    #[serde(default)]
    pub definition: String,
    #[serde(default)]
    pub attempt: u32,
    /// What happened, as structured data (exit code, sha, verdict, answer...).
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl Queue {
    /// Appends `entry` to the definition's audit stream and the order's trail.
    pub async fn audit(&self, entry: &AuditEntry, retention: Duration) -> QueueResult<()> {
        let now = self.clock().stamp_ms();
        let mut entry = entry.clone();
        entry.at_ms = now;
        let json = serde_json::to_string(&entry).unwrap_or_default();
        let min_id = (now - retention.as_millis() as i64).max(0);
        let definition = if entry.definition.is_empty() {
            "unknown"
        } else {
            entry.definition.as_str()
        };
        let stream = self.keys().audit_stream(definition);
        let order_key = self.keys().order_audit(&OrderId::from_stored(&entry.order));
        let mut pipe = redis::pipe();
        let mut xadd = redis::cmd("XADD");
        xadd.arg(&stream)
            .arg("MINID")
            .arg("~")
            .arg(min_id)
            .arg("*")
            .arg("order")
            .arg(&entry.order)
            .arg("action")
            .arg(&entry.action)
            .arg("actor")
            .arg(&entry.actor)
            .arg("entry")
            .arg(&json);
        pipe.add_command(xadd)
            .ignore()
            .rpush(&order_key, &json)
            .ignore()
            .ltrim(&order_key, -10_000, -1)
            .ignore()
            .pexpire(&order_key, retention.as_millis() as i64)
            .ignore();
        self.query::<()>(&pipe).await
    }

    /// An order's audit trail, oldest first.
    pub async fn audit_trail(&self, id: &OrderId) -> QueueResult<Vec<AuditEntry>> {
        let mut pipe = redis::pipe();
        pipe.lrange(self.keys().order_audit(id), 0, -1);
        let (lines,): (Vec<String>,) = self.query(&pipe).await?;
        Ok(lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}
