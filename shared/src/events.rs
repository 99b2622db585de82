//! Reading the events stream (`fleet:{F}:events`): the live tail behind `watch`, the dashboard's
//! server-sent events and the order pages.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use serde::{Deserialize, Serialize};

use crate::connection::MAX_BLOCK;
use crate::queue::{Queue, QueueResult};

/// One entry of the events stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The stream entry id (`<ms>-<seq>`): pass it back to read what came after.
    pub id: String,
    /// What happened: `enqueued`, `claimed`, `progress`, `succeeded`, `lease_expired`, ...
    pub event: String,
    pub order: Option<String>,
    pub at_ms: i64,
    /// Every other field (state, worker, attempt, reason, message...).
    pub fields: BTreeMap<String, String>,
}

impl Event {
    fn from_entry(entry: StreamId) -> Self {
        let mut fields: BTreeMap<String, String> = entry
            .map
            .into_iter()
            .filter_map(|(k, v)| redis::from_redis_value::<String>(v).ok().map(|v| (k, v)))
            .collect();
        let event = fields.remove("event").unwrap_or_default();
        let order = fields.remove("order");
        let at_ms = fields
            .remove("at")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                entry
                    .id
                    .split('-')
                    .next()
                    .and_then(|ms| ms.parse().ok())
                    .unwrap_or(0)
            });
        Event {
            id: entry.id,
            event,
            order,
            at_ms,
            fields,
        }
    }
}

impl Queue {
    /// An XADD of an event that is not an order transition (alerts, trust changes), capped like
    /// the scripts' own entries; add it to a pipeline.
    pub(crate) fn event_command(&self, kind: &str, fields: &[(&str, &str)]) -> redis::Cmd {
        let mut xadd = redis::cmd("XADD");
        xadd.arg(self.keys().events())
            .arg("MAXLEN")
            .arg("~")
            .arg(self.settings().events_maxlen)
            .arg("*")
            .arg("event")
            .arg(kind)
            .arg("at")
            .arg(self.clock().stamp_ms());
        for (name, value) in fields {
            xadd.arg(*name).arg(*value);
        }
        xadd
    }

    /// The newest `count` events, newest first.
    pub async fn recent_events(&self, count: usize) -> QueueResult<Vec<Event>> {
        let mut pipe = redis::pipe();
        pipe.xrevrange_count(self.keys().events(), "+", "-", count);
        let (reply,): (StreamRangeReply,) = self.query(&pipe).await?;
        Ok(reply.ids.into_iter().map(Event::from_entry).collect())
    }

    /// Events after stream id `after` (`$` = only new ones), waiting up to `block` for the first
    /// to arrive. Uses a connection of its own, since it blocks.
    pub async fn read_events(
        &self,
        after: &str,
        block: Duration,
        count: usize,
    ) -> QueueResult<Vec<Event>> {
        let mut conn = self.redis().blocking_conn().await?;
        let options = StreamReadOptions::default()
            .count(count)
            .block(block.min(MAX_BLOCK).as_millis() as usize);
        let reply: Option<StreamReadReply> = redis::AsyncCommands::xread_options(
            &mut *conn,
            &[self.keys().events()],
            &[after],
            &options,
        )
        .await?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .map(Event::from_entry)
            .collect())
    }

    /// The id of the newest event, to start a live tail from (`0-0` when the stream is empty).
    pub async fn last_event_id(&self) -> QueueResult<String> {
        Ok(self
            .recent_events(1)
            .await?
            .first()
            .map(|e| e.id.clone())
            .unwrap_or_else(|| "0-0".to_string()))
    }
}
