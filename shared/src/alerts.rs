//! Alerts: things a person should look at (a constraint violation, a monitored worker's result).
//! Each goes to the events stream (for `watch` and live pages) and to a short capped list that
//! the dashboard's alerts panel reads.

use serde::{Deserialize, Serialize};

use crate::order::OrderId;
use crate::queue::{Queue, QueueResult};

/// How many alerts the list keeps.
pub const ALERTS_MAX: isize = 200;

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `constraint_violation`, `monitored`, ...
    pub kind: String,
    pub order: Option<String>,
    pub worker: Option<String>,
    pub message: String,
    pub at_ms: i64,
}

impl Queue {
    /// Raises an alert (events stream + alerts list), in one round trip.
    pub async fn raise_alert(
        &self,
        kind: &str,
        order: Option<&OrderId>,
        worker: Option<&str>,
        message: &str,
    ) -> QueueResult<()> {
        let alert = Alert {
            kind: kind.to_string(),
            order: order.map(|o| o.to_string()),
            worker: worker.map(str::to_string),
            message: message.to_string(),
            at_ms: self.clock().stamp_ms(),
        };
        let json = serde_json::to_string(&alert).unwrap_or_default();
        let mut pipe = redis::pipe();
        pipe.lpush(self.keys().alerts(), &json)
            .ignore()
            .ltrim(self.keys().alerts(), 0, ALERTS_MAX - 1)
            .ignore();
        let mut fields = vec![("kind", kind), ("message", message)];
        let order_id = order.map(|o| o.to_string());
        if let Some(order) = &order_id {
            fields.push(("order", order));
        }
        if let Some(worker) = worker {
            fields.push(("worker", worker));
        }
        pipe.add_command(self.event_command("alert", &fields))
            .ignore();
        self.query::<()>(&pipe).await
    }

    /// The newest alerts first.
    pub async fn alerts(&self, limit: usize) -> QueueResult<Vec<Alert>> {
        let mut pipe = redis::pipe();
        pipe.lrange(self.keys().alerts(), 0, limit.max(1) as isize - 1);
        let (lines,): (Vec<String>,) = self.query(&pipe).await?;
        Ok(lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }
}
