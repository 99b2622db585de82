//! Housekeeping transitions run by controllers and by workers starting up: reaping expired
//! leases, promoting delayed orders, giving up a crashed run's leases, waiting for work, locks.

use std::time::Duration;

use super::scripts::SCRIPTS;
use super::{Queue, QueueResult};
use crate::connection::MAX_BLOCK;
use crate::order::{OrderId, TaskType};

/// An order the reaper took back from a worker whose lease expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaped {
    pub id: OrderId,
    /// `queued` (it will run again) or `dead` (no attempt left).
    pub state: String,
    /// The worker that held the lease.
    pub worker: String,
}

impl Queue {
    /// Takes back up to `limit` orders whose lease deadline has passed.
    pub async fn reap_expired(&self, limit: usize) -> QueueResult<Vec<Reaped>> {
        let keys = [
            self.keys.leases(),
            self.keys.dead(),
            self.keys.events(),
            self.keys.stats(),
        ];
        let args = [
            limit.to_string(),
            self.settings.dead_max.to_string(),
            self.settings.dead_retention.as_millis().to_string(),
        ];
        let flat: Vec<String> = self.run(&SCRIPTS.reap, &keys, &args).await?;
        Ok(flat
            .chunks(3)
            .filter_map(|c| match c {
                [id, state, worker] => Some(Reaped {
                    id: OrderId::from_stored(id),
                    state: state.clone(),
                    worker: worker.clone(),
                }),
                _ => None,
            })
            .collect())
    }

    /// Moves up to `limit` delayed orders whose time has come to their ready lists.
    pub async fn promote_delayed(&self, limit: usize) -> QueueResult<Vec<OrderId>> {
        let keys = [self.keys.delayed(), self.keys.events()];
        let ids: Vec<String> = self
            .run(&SCRIPTS.promote, &keys, &[limit.to_string()])
            .await?;
        Ok(ids.iter().map(|id| OrderId::from_stored(id)).collect())
    }

    /// Gives up every lease still recorded for `worker` (a crashed earlier run under the same
    /// name), so the reaper requeues those orders now. Returns how many there were.
    pub async fn abandon_leases(&self, worker: &str, note: &str) -> QueueResult<u64> {
        let keys = [self.keys.leases(), self.keys.worker_orders(worker)];
        self.run(
            &SCRIPTS.abandon,
            &keys,
            &[worker.to_string(), note.to_string()],
        )
        .await
    }

    /// Waits until an order of one of `types` may be ready, or `timeout` passes (at most
    /// [`MAX_BLOCK`] per call). Returns whether a wake-up arrived. Spurious wake-ups are fine:
    /// the caller simply tries to claim.
    pub async fn wait_for_work(&self, types: &[TaskType], timeout: Duration) -> QueueResult<bool> {
        if types.is_empty() {
            tokio::time::sleep(timeout).await;
            return Ok(false);
        }
        let mut conn = self.redis.blocking_conn().await?;
        let mut cmd = redis::cmd("BLPOP");
        for task_type in types {
            cmd.arg(self.keys.marker(*task_type));
        }
        cmd.arg(timeout.min(MAX_BLOCK).as_secs_f64());
        let popped: Option<(String, String)> = cmd.query_async(&mut *conn).await?;
        Ok(popped.is_some())
    }

    /// Takes or keeps the lock `name` for `owner` for `ttl`. True while `owner` holds it.
    pub async fn hold_lock(&self, name: &str, owner: &str, ttl: Duration) -> QueueResult<bool> {
        let held: i64 = self
            .run(
                &SCRIPTS.lock,
                &[self.keys.lock(name)],
                &[owner.to_string(), ttl.as_millis().to_string()],
            )
            .await?;
        Ok(held == 1)
    }

    /// Removes a worker from the registry (a clean shutdown).
    pub async fn deregister(&self, worker: &str) -> QueueResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .zrem(self.keys.workers(), worker)
            .ignore()
            .zrem(self.keys.workers_expiry(), worker)
            .ignore()
            .del(self.keys.worker(worker))
            .ignore();
        self.query::<()>(&pipe).await
    }
}
