//! The reliable, prioritised order queue: one Rust method per Lua transition script.
//!
//! Every order is always in exactly one place — a ready list, the leases, the delayed set, the dead
//! set, the approvals set or the finished set — because each move between places is one script
//! that runs atomically inside Redis. A worker proves it still owns an order with the fencing token
//! it got at claim time; a worker whose lease expired and was reclaimed is refused.

mod backoff;
mod inspect;
mod maintenance;
mod output;
pub(crate) mod scripts;
mod transitions;

use std::time::Duration;

use redis::FromRedisValue;
use serde::{Deserialize, Serialize};

pub use backoff::Backoff;
pub use inspect::{HistoryEntry, OrderRecord, QueueDepths, StateList};
pub use maintenance::Reaped;
pub use scripts::HISTOGRAMS;
pub use transitions::{CancelOutcome, FailOutcome, Failure, LostLease};

use crate::clock::Clock;
use crate::connection::{ConnectionError, RedisHandle};
use crate::keys::Keys;
use crate::order::{OrderId, WorkOrder};
use crate::state::OrderState;

/// Tunables of the queue, with the defaults people get.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Approximate number of entries the events stream keeps.
    pub events_maxlen: u64,
    /// How long succeeded, failed and cancelled orders stay readable.
    pub retention: Duration,
    /// How long dead orders stay in the dead set.
    pub dead_retention: Duration,
    /// The most orders the dead set keeps; the oldest are deleted past it.
    pub dead_max: u64,
    /// Wait before retrying a failed attempt.
    pub backoff: Backoff,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            events_maxlen: 10_000,
            retention: Duration::from_secs(7 * 24 * 3600),
            dead_retention: Duration::from_secs(30 * 24 * 3600),
            dead_max: 10_000,
            backoff: Backoff::default(),
        }
    }
}

/// What can go wrong with a queue operation. [`QueueError::is_transient`] tells whether waiting
/// and trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("Redis is unreachable or failed: {0}")]
    Connection(#[from] ConnectionError),
    #[error("order {0} does not exist (it may have expired after its retention)")]
    NotFound(OrderId),
    #[error("order {id} already exists (state {state})")]
    AlreadyExists { id: OrderId, state: String },
    #[error("order {id} is {state}; cannot {action} it")]
    Conflict {
        id: OrderId,
        state: String,
        action: &'static str,
    },
    /// The caller's lease is gone: the order was cancelled, reclaimed or finished meanwhile.
    #[error(
        "lease on order {id} is no longer held by this worker (the order is {state}, last held by {holder})"
    )]
    Fenced {
        id: OrderId,
        state: String,
        holder: String,
    },
    #[error("unexpected data in Redis at {key}: {detail}")]
    Corrupt { key: String, detail: String },
}

impl QueueError {
    pub fn is_transient(&self) -> bool {
        matches!(self, QueueError::Connection(_))
    }
}

impl From<redis::RedisError> for QueueError {
    fn from(e: redis::RedisError) -> Self {
        QueueError::Connection(ConnectionError::Redis(e))
    }
}

pub type QueueResult<T> = Result<T, QueueError>;

/// A worker's hold on one order, proven by its fencing token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub order: WorkOrder,
    pub worker: String,
    pub token: String,
    /// 1 for the first run.
    pub attempt: u32,
    /// When the lease runs out unless a heartbeat extends it (ms since the epoch, Redis clock).
    pub deadline_ms: i64,
}

/// The queue of one fleet.
#[derive(Clone)]
pub struct Queue {
    redis: RedisHandle,
    keys: Keys,
    clock: Clock,
    settings: QueueSettings,
}

impl Queue {
    pub fn new(redis: RedisHandle, keys: Keys) -> Self {
        Queue {
            redis,
            keys,
            clock: Clock::Redis,
            settings: QueueSettings::default(),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_settings(mut self, settings: QueueSettings) -> Self {
        self.settings = settings;
        self
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn redis(&self) -> &RedisHandle {
        &self.redis
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    /// Runs one script with the common leading arguments (now, events maxlen, prefix).
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: &[String],
        args: &[String],
    ) -> QueueResult<T> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        invocation
            .arg(self.clock.script_arg())
            .arg(self.settings.events_maxlen)
            .arg(self.keys.prefix());
        for arg in args {
            invocation.arg(arg);
        }
        let mut conn = self.redis.conn().await?;
        match invocation.invoke_async(&mut conn).await {
            Ok(value) => Ok(value),
            Err(e) => {
                self.redis.reset_if_broken(&e);
                Err(e.into())
            }
        }
    }

    /// Plain commands (reads, pipelines) on the shared connection.
    pub(crate) async fn query<T: FromRedisValue>(&self, pipe: &redis::Pipeline) -> QueueResult<T> {
        let mut conn = self.redis.conn().await?;
        match pipe.query_async(&mut conn).await {
            Ok(value) => Ok(value),
            Err(e) => {
                self.redis.reset_if_broken(&e);
                Err(e.into())
            }
        }
    }
}

/// Maps the status replies every script shares onto errors.
fn status_error(id: &OrderId, reply: &[String], action: &'static str) -> QueueError {
    let field = |i: usize| reply.get(i).cloned().unwrap_or_default();
    match reply.first().map(String::as_str) {
        Some("missing") => QueueError::NotFound(id.clone()),
        Some("fenced") => QueueError::Fenced {
            id: id.clone(),
            state: field(1),
            holder: field(2),
        },
        Some("exists") => QueueError::AlreadyExists {
            id: id.clone(),
            state: field(1),
        },
        Some("conflict") => QueueError::Conflict {
            id: id.clone(),
            state: field(1),
            action,
        },
        _ => QueueError::Corrupt {
            key: id.to_string(),
            detail: format!("unexpected script reply {reply:?}"),
        },
    }
}

fn parse_state(raw: &str, key: &str) -> QueueResult<OrderState> {
    raw.parse()
        .map_err(|e: crate::state::ParseEnumError| QueueError::Corrupt {
            key: key.to_string(),
            detail: e.to_string(),
        })
}
