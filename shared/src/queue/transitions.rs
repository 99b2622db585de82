//! The transitions an order goes through: enqueue, claim, heartbeat, progress, complete, fail,
//! release, cancel, retry. Each is one Lua script call.

use std::time::Duration;

use serde::Serialize;

use super::scripts::SCRIPTS;
use super::{Lease, Queue, QueueError, QueueResult, parse_state, status_error};
use crate::order::{OrderId, Priority, TaskType, WorkOrder};
use crate::state::{FailureReason, OrderState};

/// Why an attempt failed, as the worker reports it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: FailureReason,
    /// A human-readable explanation; never contains secrets.
    pub message: String,
    /// True when retrying cannot help (bad repository, constraint violation): skip the retries.
    pub permanent: bool,
    /// Anything the worker learned that a person should see (logs summary, findings).
    pub details: Option<serde_json::Value>,
}

/// Where a failed order went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum FailOutcome {
    /// It will run again at this time (ms since the epoch).
    RetryAt(i64),
    /// Every attempt is used; it is in the dead set.
    Dead,
    /// A permanent failure; it is finished.
    Failed,
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancelOutcome {
    /// The state the order was in; `running` means its worker learns at its next heartbeat.
    pub previous: OrderState,
}

/// An order a worker still runs but no longer owns, learnt from its heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostLease {
    pub id: OrderId,
    /// Its state now (e.g. `cancelled`, or `queued` after the reaper took it back), or `missing`.
    pub state: String,
}

impl Queue {
    /// Puts a validated order in its ready list, or in the delayed set when `run_at_ms` is in
    /// the future. An id that already exists is refused and nothing changes.
    pub async fn enqueue(
        &self,
        order: &WorkOrder,
        run_at_ms: Option<i64>,
    ) -> QueueResult<OrderState> {
        let spec = serde_json::to_string(order).map_err(|e| QueueError::Corrupt {
            key: order.id.to_string(),
            detail: format!("order does not serialise: {e}"),
        })?;
        let keys = [
            self.keys.order(&order.id),
            self.keys.ready(order.task_type, order.priority),
            self.keys.delayed(),
            self.keys.events(),
            self.keys.stats(),
        ];
        let args = [
            order.id.to_string(),
            spec,
            order.task_type.to_string(),
            order.priority.to_string(),
            order.max_attempts.to_string(),
            run_at_ms.unwrap_or(0).to_string(),
        ];
        let reply: Vec<String> = self.run(&SCRIPTS.enqueue, &keys, &args).await?;
        match reply.first().map(String::as_str) {
            Some("ok") => parse_state(reply.get(1).map_or("", String::as_str), &keys[0]),
            _ => Err(status_error(&order.id, &reply, "enqueue")),
        }
    }

    /// Takes up to `max` queued orders of `types` for `worker`: every `high` order of those types
    /// before any `default` one, oldest first within a list. Each comes with a fresh lease.
    pub async fn claim(
        &self,
        worker: &str,
        types: &[TaskType],
        max: usize,
        lease: Duration,
    ) -> QueueResult<Vec<Lease>> {
        if max == 0 || types.is_empty() {
            return Ok(Vec::new());
        }
        let mut keys = vec![
            self.keys.leases(),
            self.keys.worker_orders(worker),
            self.keys.token_seq(),
            self.keys.events(),
            self.keys.stats(),
            self.keys.histograms(),
        ];
        for priority in Priority::ALL {
            for task_type in types {
                keys.push(self.keys.ready(*task_type, *priority));
            }
        }
        let args = [
            worker.to_string(),
            lease.as_millis().to_string(),
            max.to_string(),
        ];
        let flat: Vec<String> = self.run(&SCRIPTS.claim, &keys, &args).await?;
        flat.chunks(5)
            .map(|c| {
                let corrupt = |detail: String| QueueError::Corrupt {
                    key: self.keys.order(&OrderId::from_stored(&c[0])),
                    detail,
                };
                let [_, token, attempt, spec, deadline] = c else {
                    return Err(corrupt(format!("claim returned {c:?}")));
                };
                let order: WorkOrder = serde_json::from_str(spec)
                    .map_err(|e| corrupt(format!("order spec is not valid JSON: {e}")))?;
                Ok(Lease {
                    order,
                    worker: worker.to_string(),
                    token: token.clone(),
                    attempt: attempt.parse().map_err(|_| corrupt(attempt.clone()))?,
                    deadline_ms: deadline.parse().map_err(|_| corrupt(deadline.clone()))?,
                })
            })
            .collect()
    }

    /// One round trip that keeps a worker alive: refreshes its registry entry (`fields`), extends
    /// the leases it still holds, and names the orders it must stop because it lost them.
    pub async fn heartbeat(
        &self,
        worker: &str,
        fields: &[(String, String)],
        held: &[(OrderId, String)],
        lease: Duration,
        registry_ttl: Duration,
    ) -> QueueResult<Vec<LostLease>> {
        let keys = [
            self.keys.leases(),
            self.keys.workers(),
            self.keys.worker(worker),
            self.keys.worker_orders(worker),
            self.keys.workers_expiry(),
        ];
        let mut args = vec![
            worker.to_string(),
            lease.as_millis().to_string(),
            registry_ttl.as_millis().to_string(),
            fields.len().to_string(),
        ];
        for (name, value) in fields {
            args.push(name.clone());
            args.push(value.clone());
        }
        for (id, token) in held {
            args.push(id.to_string());
            args.push(token.clone());
        }
        let flat: Vec<String> = self.run(&SCRIPTS.heartbeat, &keys, &args).await?;
        Ok(flat
            .chunks(2)
            .filter_map(|c| match c {
                [id, state] => Some(LostLease {
                    id: OrderId::from_stored(id),
                    state: state.clone(),
                }),
                _ => None,
            })
            .collect())
    }

    /// Records how far the agent is. Refused (fenced) when the lease is gone.
    pub async fn progress(&self, lease: &Lease, percent: u8, message: &str) -> QueueResult<()> {
        let id = &lease.order.id;
        let keys = [self.keys.order(id), self.keys.events()];
        let args = [
            id.to_string(),
            lease.token.clone(),
            percent.min(100).to_string(),
            message.to_string(),
        ];
        let reply: Vec<String> = self.run(&SCRIPTS.progress, &keys, &args).await?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(()),
            _ => Err(status_error(id, &reply, "report progress on")),
        }
    }

    /// The lease holder finished: the order succeeds, or waits for approval when
    /// `needs_approval`. A worker that lost its lease is refused and nothing changes.
    pub async fn complete(
        &self,
        lease: &Lease,
        result: &serde_json::Value,
        needs_approval: bool,
    ) -> QueueResult<OrderState> {
        self.complete_with(lease, result, needs_approval, &[]).await
    }

    /// [`Queue::complete`], also recording `fields` on the order (e.g. the definition and its
    /// trust settings, which approval needs).
    pub async fn complete_with(
        &self,
        lease: &Lease,
        result: &serde_json::Value,
        needs_approval: bool,
        fields: &[(String, String)],
    ) -> QueueResult<OrderState> {
        let id = &lease.order.id;
        let target = if needs_approval {
            OrderState::AwaitingApproval
        } else {
            OrderState::Succeeded
        };
        let keys = [
            self.keys.order(id),
            self.keys.leases(),
            self.keys.worker_orders(&lease.worker),
            self.keys.finished(),
            self.keys.approvals(),
            self.keys.events(),
            self.keys.stats(),
            self.keys.histograms(),
        ];
        let mut args = vec![
            id.to_string(),
            lease.token.clone(),
            result.to_string(),
            target.to_string(),
            self.settings.retention.as_millis().to_string(),
        ];
        for (name, value) in fields {
            args.push(name.clone());
            args.push(value.clone());
        }
        let reply: Vec<String> = self.run(&SCRIPTS.complete, &keys, &args).await?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(target),
            _ => Err(status_error(id, &reply, "complete")),
        }
    }

    /// The lease holder failed: retry later while attempts remain, else dead; permanent
    /// failures finish at once. Refused (fenced) when the lease is gone.
    pub async fn fail(&self, lease: &Lease, failure: &Failure) -> QueueResult<FailOutcome> {
        let id = &lease.order.id;
        let delay = self.settings.backoff.delay(lease.attempt);
        let keys = [
            self.keys.order(id),
            self.keys.leases(),
            self.keys.delayed(),
            self.keys.dead(),
            self.keys.finished(),
            self.keys.events(),
            self.keys.stats(),
            self.keys.histograms(),
        ];
        let args = [
            id.to_string(),
            lease.token.clone(),
            failure.reason.to_string(),
            failure.message.clone(),
            delay.as_millis().to_string(),
            if failure.permanent { "1" } else { "0" }.to_string(),
            self.settings.retention.as_millis().to_string(),
            self.settings.dead_max.to_string(),
            self.settings.dead_retention.as_millis().to_string(),
            failure
                .details
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ];
        let reply: Vec<String> = self.run(&SCRIPTS.fail, &keys, &args).await?;
        match (
            reply.first().map(String::as_str),
            reply.get(1).map(String::as_str),
        ) {
            (Some("ok"), Some("delayed")) => Ok(FailOutcome::RetryAt(
                reply.get(2).and_then(|s| s.parse().ok()).unwrap_or(0),
            )),
            (Some("ok"), Some("dead")) => Ok(FailOutcome::Dead),
            (Some("ok"), Some("failed")) => Ok(FailOutcome::Failed),
            _ => Err(status_error(id, &reply, "fail")),
        }
    }

    /// Hands a leased order back to the front of its queue without charging the attempt.
    pub async fn release(&self, lease: &Lease, why: &str) -> QueueResult<()> {
        let id = &lease.order.id;
        let keys = [self.keys.order(id), self.keys.leases(), self.keys.events()];
        let args = [id.to_string(), lease.token.clone(), why.to_string()];
        let reply: Vec<String> = self.run(&SCRIPTS.release, &keys, &args).await?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(()),
            _ => Err(status_error(id, &reply, "release")),
        }
    }

    /// Cancels an order that has not finished. A running order's lease is revoked at once; its
    /// worker learns at its next heartbeat and stops the agent.
    pub async fn cancel(&self, id: &OrderId, by: &str) -> QueueResult<CancelOutcome> {
        let keys = [
            self.keys.order(id),
            self.keys.leases(),
            self.keys.delayed(),
            self.keys.finished(),
            self.keys.approvals(),
            self.keys.events(),
            self.keys.stats(),
        ];
        let args = [
            id.to_string(),
            by.to_string(),
            self.settings.retention.as_millis().to_string(),
        ];
        let reply: Vec<String> = self.run(&SCRIPTS.cancel, &keys, &args).await?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(CancelOutcome {
                previous: parse_state(reply.get(1).map_or("", String::as_str), &keys[0])?,
            }),
            _ => Err(status_error(id, &reply, "cancel")),
        }
    }

    /// Sends a dead or failed order round again with a fresh set of attempts.
    pub async fn retry(&self, id: &OrderId, by: &str) -> QueueResult<OrderState> {
        let keys = [
            self.keys.order(id),
            self.keys.dead(),
            self.keys.finished(),
            self.keys.events(),
            self.keys.stats(),
        ];
        let args = [id.to_string(), by.to_string()];
        let reply: Vec<String> = self.run(&SCRIPTS.retry, &keys, &args).await?;
        match reply.first().map(String::as_str) {
            Some("ok") => parse_state(reply.get(1).map_or("", String::as_str), &keys[0]),
            _ => Err(status_error(id, &reply, "retry")),
        }
    }
}
