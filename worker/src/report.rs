//! Where a running order's progress and output go: Redis for a queue worker, stderr for
//! `fleet-worker once`.

use std::sync::Arc;

use std::time::Duration;

use fleet_shared::audit::AuditEntry;
use fleet_shared::queue::Lease;
use fleet_shared::{Queue, QueueError};
use tokio::sync::mpsc;

use crate::executor::{OutputLine, Stream};

/// The reporting side of one order's run.
#[derive(Clone)]
pub enum Reporter {
    /// A worker run from the queue: progress is fenced by the lease.
    Queue {
        queue: Queue,
        lease: Arc<Lease>,
        log_cap: usize,
        audit: AuditSettings,
    },
    /// `fleet-worker once`: no Redis; progress and output go to stderr.
    Standalone,
}

/// Where a worker's audit entries go and for how long they are kept.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub definition: String,
    pub retention: Duration,
    /// Also audit the agent's own progress and log events, not only the worker's actions.
    pub log_all_actions: bool,
}

impl Reporter {
    /// Records one action in the audit trail. `agent_event` entries (the agent's own progress and
    /// logs) are kept only when the definition asks to log all actions.
    pub async fn audit(&self, action: &str, detail: serde_json::Value) {
        let Reporter::Queue {
            queue,
            lease,
            audit,
            ..
        } = self
        else {
            if action != "agent_event" {
                eprintln!("audit {action} {detail}");
            }
            return;
        };
        if action == "agent_event" && !audit.log_all_actions {
            return;
        }
        let entry = AuditEntry {
            at_ms: 0,
            order: lease.order.id.to_string(),
            action: action.to_string(),
            actor: lease.worker.clone(),
            definition: audit.definition.clone(),
            attempt: lease.attempt,
            detail,
        };
        if let Err(e) = queue.audit(&entry, audit.retention).await {
            tracing::warn!(error = %e, action, "could not write the audit trail");
        }
    }

    /// Records progress. Losing the lease is not an error here: the run is stopped by the
    /// heartbeat, which learns it too.
    pub async fn progress(&self, percent: u8, message: &str) {
        match self {
            Reporter::Queue { queue, lease, .. } => {
                match queue.progress(lease, percent, message).await {
                    Ok(()) | Err(QueueError::Fenced { .. }) => {}
                    Err(e) => tracing::warn!(error = %e, "could not record progress"),
                }
            }
            Reporter::Standalone => eprintln!("progress {percent}% {message}"),
        }
    }

    /// Appends lines to the order's log.
    pub async fn log(&self, lines: &[String]) {
        match self {
            Reporter::Queue {
                queue,
                lease,
                log_cap,
                ..
            } => {
                if let Err(e) = queue.append_log(&lease.order.id, lines, *log_cap).await {
                    tracing::warn!(error = %e, "could not append to the order log");
                }
            }
            Reporter::Standalone => {
                for line in lines {
                    eprintln!("{line}");
                }
            }
        }
    }
}

/// Drains an executor's output into the order log in batches, so a chatty agent costs one
/// Redis round trip per batch rather than per line. Returns the last lines seen (for error
/// messages) once the executor closes the channel.
pub async fn forward_output(
    mut lines: mpsc::Receiver<OutputLine>,
    reporter: Reporter,
    phase: String,
) -> Vec<String> {
    const BATCH: usize = 200;
    const TAIL: usize = 20;
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let next = tokio::time::timeout(std::time::Duration::from_millis(250), lines.recv()).await;
        let closed = matches!(next, Ok(None));
        let idle = next.is_err();
        if let Ok(Some(line)) = next {
            let text = match line.stream {
                Stream::Stdout => format!("[{phase}] {}", line.line),
                Stream::Stderr => format!("[{phase}:err] {}", line.line),
            };
            if tail.len() == TAIL {
                tail.pop_front();
            }
            tail.push_back(line.line);
            batch.push(text);
        }
        if !batch.is_empty() && (batch.len() >= BATCH || closed || idle) {
            reporter.log(&batch).await;
            batch.clear();
        }
        if closed {
            return tail.into_iter().collect();
        }
    }
}
