//! Approval of supervised work, and the trust a definition earns by it.
//!
//! A supervised worker pushes its branch and the order waits in `awaiting_approval` until a
//! person approves (→ succeeded) or rejects (→ failed, reason `rejected`). A definition with an
//! `escalation` rule is promoted (e.g. supervised → monitored) after N approvals in a row with
//! no violation; a rejection or a constraint violation reverts it. The effective level lives in
//! `fleet:{F}:trust:<definition>` so every worker of that definition sees it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::definition::TrustLevel;
use crate::order::OrderId;
use crate::queue::scripts::SCRIPTS;
use crate::queue::{Queue, QueueError, QueueResult};

/// A definition's earned trust.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrustRecord {
    pub definition: String,
    /// Set while the definition runs above its configured level.
    pub escalated_to: Option<String>,
    pub approved_in_a_row: u64,
    pub escalated_at_ms: Option<i64>,
}

/// What an approval did to the definition's trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    /// The definition's level after the approval (its configured one unless escalated).
    pub trust_level: Option<String>,
    /// True when this approval completed the streak and raised the level.
    pub escalated: bool,
}

fn conflict(id: &OrderId, reply: &[String], action: &'static str) -> QueueError {
    match reply.first().map(String::as_str) {
        Some("missing") => QueueError::NotFound(id.clone()),
        Some("conflict") => QueueError::Conflict {
            id: id.clone(),
            state: reply.get(1).cloned().unwrap_or_default(),
            action,
        },
        _ => QueueError::Corrupt {
            key: id.to_string(),
            detail: format!("unexpected reply {reply:?}"),
        },
    }
}

impl Queue {
    /// Approves an order awaiting approval. Returns what it did to the definition's trust.
    pub async fn approve(&self, id: &OrderId, by: &str) -> QueueResult<Approval> {
        let keys = [
            self.keys().order(id),
            self.keys().approvals(),
            self.keys().finished(),
            self.keys().events(),
            self.keys().stats(),
        ];
        let args = [
            id.to_string(),
            by.to_string(),
            self.settings().retention.as_millis().to_string(),
        ];
        let reply: Vec<String> = self.run(&SCRIPTS.approve, &keys, &args).await?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(Approval {
                trust_level: reply.get(1).filter(|l| !l.is_empty()).cloned(),
                escalated: reply.get(2).is_some_and(|e| e == "escalated"),
            }),
            _ => Err(conflict(id, &reply, "approve")),
        }
    }

    /// Rejects an order awaiting approval. Returns whether an escalation was reverted.
    pub async fn reject(&self, id: &OrderId, by: &str, why: &str) -> QueueResult<bool> {
        let keys = [
            self.keys().order(id),
            self.keys().approvals(),
            self.keys().finished(),
            self.keys().events(),
            self.keys().stats(),
        ];
        let args = [
            id.to_string(),
            by.to_string(),
            why.to_string(),
            self.settings().retention.as_millis().to_string(),
        ];
        let reply: Vec<String> = self.run(&SCRIPTS.reject, &keys, &args).await?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(reply.get(1).is_some_and(|r| r == "reverted")),
            _ => Err(conflict(id, &reply, "reject")),
        }
    }

    /// The trust level a definition runs at now: its escalated level, or `configured`.
    pub async fn effective_trust(
        &self,
        definition: &str,
        configured: TrustLevel,
    ) -> QueueResult<TrustLevel> {
        let record = self.trust(definition).await?;
        Ok(record
            .escalated_to
            .and_then(|l| l.parse().ok())
            .unwrap_or(configured))
    }

    /// A definition's trust record.
    pub async fn trust(&self, definition: &str) -> QueueResult<TrustRecord> {
        let mut pipe = redis::pipe();
        pipe.hgetall(self.keys().trust(definition));
        let (h,): (HashMap<String, String>,) = self.query(&pipe).await?;
        Ok(TrustRecord {
            definition: definition.to_string(),
            escalated_to: h.get("level").cloned(),
            approved_in_a_row: h
                .get("approved_in_a_row")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            escalated_at_ms: h.get("escalated_at").and_then(|v| v.parse().ok()),
        })
    }

    /// Restarts a definition's approval streak and reverts any escalation (after a constraint
    /// violation, or by hand). Returns whether an escalation was reverted.
    pub async fn reset_trust(&self, definition: &str, why: &str) -> QueueResult<bool> {
        let key = self.keys().trust(definition);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hexists(&key, "level")
            .hset(&key, "approved_in_a_row", 0)
            .ignore()
            .hdel(&key, &["level", "escalated_at", "escalated_from"])
            .ignore();
        let (had_level,): (bool,) = self.query(&pipe).await?;
        if had_level {
            let mut pipe = redis::pipe();
            let event = self.event_command(
                "trust_reverted",
                &[("definition", definition), ("why", why)],
            );
            pipe.add_command(event).ignore();
            self.query::<()>(&pipe).await?;
        }
        Ok(had_level)
    }
}
