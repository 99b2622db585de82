//! Reading the queue: one order, its history, depths, listings. Plain reads, no scripts.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{Queue, QueueError, QueueResult, parse_state};
use crate::order::{OrderId, Priority, TaskType, WorkOrder};
use crate::state::OrderState;

/// An order with everything Redis knows about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRecord {
    #[serde(flatten)]
    pub order: WorkOrder,
    pub state: OrderState,
    /// Attempts started so far (1 while the first run is going).
    pub attempt: u32,
    pub worker: Option<String>,
    pub updated_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    /// When a delayed order becomes ready again.
    pub run_at_ms: Option<i64>,
    pub lease_deadline_ms: Option<i64>,
    /// The typed failure reason of the last failure, e.g. `agent_exit(1)`.
    pub reason: Option<String>,
    pub error: Option<String>,
    pub result: Option<serde_json::Value>,
    pub progress: Option<u8>,
    pub progress_message: Option<String>,
}

/// One line of an order's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: i64,
    pub state: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// How many orders sit in each place.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueDepths {
    /// task type → priority → queued orders.
    pub ready: BTreeMap<String, BTreeMap<String, u64>>,
    pub running: u64,
    pub delayed: u64,
    pub dead: u64,
    pub awaiting_approval: u64,
    pub finished: u64,
}

impl QueueDepths {
    pub fn total_ready(&self) -> u64 {
        self.ready.values().flat_map(|p| p.values()).sum()
    }
}

/// Which orders to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateList {
    Queued,
    Running,
    Delayed,
    Dead,
    AwaitingApproval,
    /// Succeeded, failed and cancelled, newest first.
    Finished,
}

impl Queue {
    /// Everything about one order, or `None` when it does not exist (or expired).
    pub async fn order(&self, id: &OrderId) -> QueueResult<Option<OrderRecord>> {
        let key = self.keys.order(id);
        let mut pipe = redis::pipe();
        pipe.hgetall(&key);
        let (fields,): (HashMap<String, String>,) = self.query(&pipe).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        record_from_hash(&key, fields).map(Some)
    }

    /// Several orders in one round trip; missing ones are skipped.
    pub async fn orders(&self, ids: &[OrderId]) -> QueueResult<Vec<OrderRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hgetall(self.keys.order(id));
        }
        let hashes: Vec<HashMap<String, String>> = self.query(&pipe).await?;
        ids.iter()
            .zip(hashes)
            .filter(|(_, h)| !h.is_empty())
            .map(|(id, h)| record_from_hash(&self.keys.order(id), h))
            .collect()
    }

    /// The order's transitions, newest first.
    pub async fn history(&self, id: &OrderId, limit: usize) -> QueueResult<Vec<HistoryEntry>> {
        let key = self.keys.history(id);
        let mut pipe = redis::pipe();
        pipe.lrange(&key, 0, limit.max(1) as isize - 1);
        let (lines,): (Vec<String>,) = self.query(&pipe).await?;
        lines
            .iter()
            .map(|line| {
                serde_json::from_str(line).map_err(|e| QueueError::Corrupt {
                    key: key.clone(),
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    /// Raw fields of an order's hash (`None` where absent), for the few callers that need
    /// bookkeeping fields the record does not carry.
    pub async fn order_fields(
        &self,
        id: &OrderId,
        names: &[&str],
    ) -> QueueResult<Vec<Option<String>>> {
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET").arg(self.keys.order(id)).arg(names);
        let (values,): (Vec<Option<String>>,) = self.query(&pipe).await?;
        Ok(values)
    }

    /// The last `tail` lines of the agent output captured for the order, oldest first.
    pub async fn order_log(&self, id: &OrderId, tail: usize) -> QueueResult<Vec<String>> {
        let mut pipe = redis::pipe();
        pipe.lrange(self.keys.order_log(id), -(tail.max(1) as isize), -1);
        let (lines,): (Vec<String>,) = self.query(&pipe).await?;
        Ok(lines)
    }

    /// Depth of every ready list and size of every other place, in one round trip.
    pub async fn depths(&self) -> QueueResult<QueueDepths> {
        let mut pipe = redis::pipe();
        for task_type in TaskType::ALL {
            for priority in Priority::ALL {
                pipe.llen(self.keys.ready(*task_type, *priority));
            }
        }
        pipe.zcard(self.keys.leases())
            .zcard(self.keys.delayed())
            .zcard(self.keys.dead())
            .zcard(self.keys.approvals())
            .zcard(self.keys.finished());
        let counts: Vec<u64> = self.query(&pipe).await?;
        let mut depths = QueueDepths::default();
        let mut it = counts.into_iter();
        for task_type in TaskType::ALL {
            let row = depths.ready.entry(task_type.to_string()).or_default();
            for priority in Priority::ALL {
                row.insert(priority.to_string(), it.next().unwrap_or(0));
            }
        }
        depths.running = it.next().unwrap_or(0);
        depths.delayed = it.next().unwrap_or(0);
        depths.dead = it.next().unwrap_or(0);
        depths.awaiting_approval = it.next().unwrap_or(0);
        depths.finished = it.next().unwrap_or(0);
        Ok(depths)
    }

    /// Up to `limit` order ids in one place. Queued orders come in claim order; dead and
    /// finished ones newest first.
    pub async fn list(&self, which: StateList, limit: usize) -> QueueResult<Vec<OrderId>> {
        let limit = limit.max(1);
        let stop = limit as isize - 1;
        let mut pipe = redis::pipe();
        match which {
            StateList::Queued => {
                for priority in Priority::ALL {
                    for task_type in TaskType::ALL {
                        // Claims RPOP, so the next order to run is the last element.
                        pipe.lrange(
                            self.keys.ready(*task_type, *priority),
                            -(limit as isize),
                            -1,
                        );
                    }
                }
            }
            StateList::Running => {
                pipe.zrange(self.keys.leases(), 0, stop);
            }
            StateList::Delayed => {
                pipe.zrange(self.keys.delayed(), 0, stop);
            }
            StateList::Dead => {
                pipe.zrevrange(self.keys.dead(), 0, stop);
            }
            StateList::AwaitingApproval => {
                pipe.zrange(self.keys.approvals(), 0, stop);
            }
            StateList::Finished => {
                pipe.zrevrange(self.keys.finished(), 0, stop);
            }
        }
        let lists: Vec<Vec<String>> = self.query(&pipe).await?;
        let ids = lists
            .into_iter()
            .flat_map(|mut list| {
                if which == StateList::Queued {
                    list.reverse();
                }
                list
            })
            .take(limit)
            .map(|id| OrderId::from_stored(&id))
            .collect();
        Ok(ids)
    }

    /// The fleet's counters (enqueued, claimed, succeeded, retried, dead, ...).
    pub async fn stats(&self) -> QueueResult<BTreeMap<String, u64>> {
        let mut pipe = redis::pipe();
        pipe.hgetall(self.keys.stats());
        let (stats,): (BTreeMap<String, u64>,) = self.query(&pipe).await?;
        Ok(stats)
    }

    /// The histogram buckets the scripts fill (`<metric>:<le>` → count, plus sum and count).
    pub async fn histograms(&self) -> QueueResult<BTreeMap<String, u64>> {
        let mut pipe = redis::pipe();
        pipe.hgetall(self.keys.histograms());
        let (h,): (BTreeMap<String, u64>,) = self.query(&pipe).await?;
        Ok(h)
    }

    /// Every place that holds `id` right now. Exactly one for a healthy order; the invariant
    /// tests and `fleet-controller status` use it.
    pub async fn places_of(&self, id: &OrderId) -> QueueResult<Vec<String>> {
        let mut pipe = redis::pipe();
        let mut names = Vec::new();
        for task_type in TaskType::ALL {
            for priority in Priority::ALL {
                let key = self.keys.ready(*task_type, *priority);
                pipe.cmd("LPOS").arg(&key).arg(id.as_str());
                names.push(format!("ready:{task_type}:{priority}"));
            }
        }
        for (key, name) in [
            (self.keys.leases(), "leases"),
            (self.keys.delayed(), "delayed"),
            (self.keys.dead(), "dead"),
            (self.keys.approvals(), "approvals"),
            (self.keys.finished(), "finished"),
        ] {
            pipe.zscore(key, id.as_str());
            names.push(name.to_string());
        }
        let found: Vec<Option<f64>> = self.query(&pipe).await?;
        Ok(names
            .into_iter()
            .zip(found)
            .filter(|(_, hit)| hit.is_some())
            .map(|(name, _)| name)
            .collect())
    }
}

fn record_from_hash(key: &str, mut h: HashMap<String, String>) -> QueueResult<OrderRecord> {
    let corrupt = |detail: String| QueueError::Corrupt {
        key: key.to_string(),
        detail,
    };
    let spec = h
        .remove("spec")
        .ok_or_else(|| corrupt("no spec field".into()))?;
    let order: WorkOrder =
        serde_json::from_str(&spec).map_err(|e| corrupt(format!("spec: {e}")))?;
    let state = parse_state(h.get("state").map_or("", String::as_str), key)?;
    let int = |h: &HashMap<String, String>, name: &str| h.get(name).and_then(|v| v.parse().ok());
    Ok(OrderRecord {
        state,
        attempt: int(&h, "attempt").unwrap_or(0) as u32,
        worker: h.get("worker").cloned(),
        updated_at_ms: int(&h, "updated_at").unwrap_or(order.created_at_ms),
        started_at_ms: int(&h, "started_at"),
        finished_at_ms: int(&h, "finished_at"),
        run_at_ms: int(&h, "run_at"),
        lease_deadline_ms: int(&h, "lease_deadline"),
        reason: h.get("reason").cloned(),
        error: h.get("error").cloned(),
        result: h.get("result").and_then(|r| serde_json::from_str(r).ok()),
        progress: int(&h, "progress").map(|p| p.clamp(0, 100) as u8),
        progress_message: h.get("progress_message").cloned(),
        order,
    })
}
