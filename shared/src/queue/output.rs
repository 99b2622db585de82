//! The per-order log of agent output (`fleet:{F}:order:<id>:log`), capped.

use super::{Queue, QueueResult};
use crate::order::OrderId;

impl Queue {
    /// Appends lines to an order's log and keeps only the last `cap`. One round trip.
    /// Not fenced: a late line from a stale attempt is harmless, and logging must never block
    /// an agent.
    pub async fn append_log(&self, id: &OrderId, lines: &[String], cap: usize) -> QueueResult<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let key = self.keys.order_log(id);
        let mut pipe = redis::pipe();
        pipe.rpush(&key, lines)
            .ignore()
            .ltrim(&key, -(cap.max(1) as isize), -1)
            .ignore();
        self.query::<()>(&pipe).await
    }
}
