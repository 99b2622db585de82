//! Asking a person: record the agent's question in Redis, keep the lease alive (the heartbeat
//! extends leases of orders awaiting clarification), wait for the answer until the timeout, then
//! hand the agent an answer — a person's, or on timeout the definition's default recorded as a
//! default (never as if a person had said it), or a failure.

use std::sync::Arc;
use std::time::Duration;

use fleet_shared::Queue;
use fleet_shared::clarification::{Answer, AnswerAction, question_id};
use fleet_shared::clock::wall_clock_ms;
use fleet_shared::definition::OnTimeout;
use fleet_shared::queue::Lease;
use tokio_util::sync::CancellationToken;

/// How long one blocking wait for an answer lasts before the deadline is checked again.
const WAIT_SLICE: Duration = Duration::from_millis(500);

/// Answers one order's questions.
#[derive(Clone)]
pub enum Clarifier {
    /// Through Redis and a person at the controller.
    Queue {
        queue: Queue,
        lease: Arc<Lease>,
        timeout: Duration,
        on_timeout: OnTimeout,
    },
    /// `fleet-worker once`: nobody to ask, so the timeout rule applies at once.
    Standalone { on_timeout: OnTimeout },
}

impl Clarifier {
    /// Asks and waits. `agent_done` stops the wait when the agent exits meanwhile.
    pub async fn ask(
        &self,
        agent_id: &str,
        text: &str,
        choices: &[String],
        agent_done: &CancellationToken,
    ) -> Result<Answer, String> {
        match self {
            Clarifier::Standalone { on_timeout } => Ok(unanswered(on_timeout, wall_clock_ms())),
            Clarifier::Queue {
                queue,
                lease,
                timeout,
                on_timeout,
            } => {
                let qid = question_id(&lease.order.id, lease.attempt, agent_id)
                    .map_err(|e| e.to_string())?;
                queue
                    .ask(lease, &qid, text, choices, *timeout)
                    .await
                    .map_err(|e| e.to_string())?;
                tracing::info!(order.id = %lease.order.id, question = %qid, "agent asked a question; waiting for a person");
                let deadline =
                    queue.now_ms().await.map_err(|e| e.to_string())? + timeout.as_millis() as i64;
                let mut answered = false;
                while !agent_done.is_cancelled() {
                    match queue.wait_for_answer(&qid, WAIT_SLICE).await {
                        Ok(true) => {
                            answered = true;
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "waiting for an answer failed; retrying");
                            tokio::time::sleep(WAIT_SLICE).await;
                        }
                    }
                    // The deadline is on the queue's clock (Redis's, or a test's).
                    if queue.now_ms().await.is_ok_and(|now| now >= deadline) {
                        break;
                    }
                }
                let (outcome, default_text) = match (answered, on_timeout) {
                    (true, _) => (AnswerAction::Answered, ""),
                    (false, OnTimeout::Answer(text)) => (AnswerAction::Default, text.as_str()),
                    (false, OnTimeout::Fail) => (AnswerAction::TimedOut, ""),
                };
                queue
                    .resume_after_question(lease, &qid, outcome, default_text)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

fn unanswered(on_timeout: &OnTimeout, at: i64) -> Answer {
    match on_timeout {
        OnTimeout::Answer(text) => Answer {
            action: AnswerAction::Default,
            text: text.clone(),
            answered_by: "fleet (default answer)".into(),
            at,
        },
        OnTimeout::Fail => Answer {
            action: AnswerAction::TimedOut,
            text: String::new(),
            answered_by: "fleet (nobody to ask)".into(),
            at,
        },
    }
}
