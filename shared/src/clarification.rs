//! Clarification questions: an agent asks, a person answers through the controller, the
//! asking worker gets the answer. Each step is one Lua script (ask, answer, resume).
//!
//! A question belongs to one attempt of one order and is answerable only while that attempt
//! holds its lease: when the lease is lost (worker died, order cancelled) the question turns
//! `stale`, and the next attempt asks again.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::connection::MAX_BLOCK;
use crate::error::ValidationError;
use crate::order::OrderId;
use crate::queue::scripts::SCRIPTS;
use crate::queue::{Lease, Queue, QueueError, QueueResult};

/// How long a closed question (and an undelivered answer) stays readable.
pub const QUESTION_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// What became of a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerAction {
    /// A person answered.
    Answered,
    /// A person declined to answer.
    Declined,
    /// Nobody answered in time; the order fails with `clarification_timeout`.
    TimedOut,
    /// Nobody answered in time; the definition's default answer was given instead.
    Default,
}

impl AnswerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerAction::Answered => "answered",
            AnswerAction::Declined => "declined",
            AnswerAction::TimedOut => "timed_out",
            AnswerAction::Default => "default",
        }
    }
}

/// The answer as the agent reads it from /fleet/answers/<question id>.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub action: AnswerAction,
    pub text: String,
    pub answered_by: String,
    /// ms since the epoch.
    pub at: i64,
}

/// A question as people see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub order: String,
    pub worker: String,
    #[serde(rename = "type")]
    pub task_type: String,
    pub attempt: u32,
    pub text: String,
    pub choices: Vec<String>,
    /// pending, answered, declined, timed_out, default, stale.
    pub state: String,
    pub asked_at_ms: i64,
    pub deadline_ms: i64,
    pub answer: Option<String>,
    pub answered_by: Option<String>,
}

/// The global id of a question: `<order id>.<attempt>.<agent's id>`, so every attempt asks
/// afresh and ids never collide across orders.
pub fn question_id(
    order: &OrderId,
    attempt: u32,
    agent_id: &str,
) -> Result<String, ValidationError> {
    let ok = !agent_id.is_empty()
        && agent_id.len() <= 64
        && agent_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(ValidationError::new(
            "question.id",
            agent_id,
            "is not a question id (1-64 characters of A-Z a-z 0-9 - _)",
        ));
    }
    Ok(format!("{order}.{attempt}.{agent_id}"))
}

fn reply_error(what: &str, reply: &[String], order: &OrderId) -> QueueError {
    let field = |i: usize| reply.get(i).cloned().unwrap_or_default();
    match reply.first().map(String::as_str) {
        Some("missing") => QueueError::NotFound(order.clone()),
        Some("fenced") => QueueError::Fenced {
            id: order.clone(),
            state: field(1),
            holder: field(2),
        },
        _ => QueueError::Corrupt {
            key: what.to_string(),
            detail: format!("unexpected reply {reply:?}"),
        },
    }
}

/// Why an answer was refused.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("question {0} does not exist")]
    NotFound(String),
    #[error("question {id} is already {state}")]
    Closed { id: String, state: String },
    #[error(
        "question {0} is stale: the order's attempt that asked it lost its lease; the next attempt will ask again"
    )]
    Stale(String),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl Queue {
    /// Records a question from the lease holder's agent and sets the order to
    /// awaiting_clarification. Asking the same id again is refused as `Conflict`.
    pub async fn ask(
        &self,
        lease: &Lease,
        qid: &str,
        text: &str,
        choices: &[String],
        wait: Duration,
    ) -> QueueResult<()> {
        let id = &lease.order.id;
        let deadline = self.now_ms().await? + wait.as_millis() as i64;
        let keys = [
            self.keys().order(id),
            self.keys().question(qid),
            self.keys().questions_pending(),
            self.keys().events(),
        ];
        let choices = if choices.is_empty() {
            String::new()
        } else {
            serde_json::to_string(choices).unwrap_or_default()
        };
        let args = [
            id.to_string(),
            lease.token.clone(),
            qid.to_string(),
            text.to_string(),
            choices,
            deadline.to_string(),
            QUESTION_RETENTION.as_millis().to_string(),
        ];
        let reply: Vec<String> = self.run(&SCRIPTS.ask, &keys, &args).await?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(()),
            Some("exists") | Some("conflict") => Err(QueueError::Conflict {
                id: id.clone(),
                state: reply.get(1).cloned().unwrap_or_default(),
                action: "ask a question on",
            }),
            _ => Err(reply_error(qid, &reply, id)),
        }
    }

    /// A person's answer (or refusal). Sending the identical answer twice succeeds once and is
    /// a no-op the second time.
    pub async fn answer_question(
        &self,
        qid: &str,
        action: AnswerAction,
        text: &str,
        by: &str,
    ) -> Result<(), AnswerError> {
        let keys = [
            self.keys().question(qid),
            self.keys().questions_pending(),
            self.keys().answer(qid),
            self.keys().events(),
        ];
        let args = [
            qid.to_string(),
            action.as_str().to_string(),
            text.to_string(),
            by.to_string(),
        ];
        let reply: Vec<String> = self.run(&SCRIPTS.answer, &keys, &args).await?;
        match reply.first().map(String::as_str) {
            Some("ok") | Some("duplicate") => Ok(()),
            Some("missing") => Err(AnswerError::NotFound(qid.to_string())),
            Some("stale") => Err(AnswerError::Stale(qid.to_string())),
            Some("conflict") => Err(AnswerError::Closed {
                id: qid.to_string(),
                state: reply.get(1).cloned().unwrap_or_default(),
            }),
            _ => Err(AnswerError::Queue(QueueError::Corrupt {
                key: qid.to_string(),
                detail: format!("unexpected reply {reply:?}"),
            })),
        }
    }

    /// Waits up to `wait` (at most [`MAX_BLOCK`]) for the answer to `qid` to arrive. The list
    /// is only the wake-up: the answer itself is read from the question hash by
    /// [`Queue::resume_after_question`], so consuming the wake-up loses nothing.
    pub async fn wait_for_answer(&self, qid: &str, wait: Duration) -> QueueResult<bool> {
        let mut conn = self.redis().blocking_conn().await?;
        let popped: Option<(String, String)> = redis::cmd("BLPOP")
            .arg(self.keys().answer(qid))
            .arg(wait.min(MAX_BLOCK).as_secs_f64())
            .query_async(&mut *conn)
            .await?;
        Ok(popped.is_some())
    }

    /// Closes the question (answered, timed out or defaulted) and sets the order running again.
    /// Returns the answer the agent gets. A person's answer that arrived in the meantime wins
    /// over a timeout.
    pub async fn resume_after_question(
        &self,
        lease: &Lease,
        qid: &str,
        outcome: AnswerAction,
        default_text: &str,
    ) -> QueueResult<Answer> {
        let id = &lease.order.id;
        let keys = [
            self.keys().order(id),
            self.keys().question(qid),
            self.keys().questions_pending(),
            self.keys().events(),
        ];
        let args = [
            id.to_string(),
            lease.token.clone(),
            qid.to_string(),
            outcome.as_str().to_string(),
            default_text.to_string(),
        ];
        let reply: Vec<String> = self.run(&SCRIPTS.resume, &keys, &args).await?;
        match reply.as_slice() {
            [ok, action, text, by, at] if ok == "ok" => Ok(Answer {
                action: match action.as_str() {
                    "answered" => AnswerAction::Answered,
                    "declined" => AnswerAction::Declined,
                    "default" => AnswerAction::Default,
                    _ => AnswerAction::TimedOut,
                },
                text: text.clone(),
                answered_by: by.clone(),
                at: at.parse().unwrap_or(0),
            }),
            _ => Err(reply_error(qid, &reply, id)),
        }
    }

    /// One question, or `None`.
    pub async fn question(&self, qid: &str) -> QueueResult<Option<Question>> {
        Ok(self.questions(&[qid.to_string()]).await?.pop())
    }

    /// Pending questions, oldest first.
    pub async fn pending_questions(&self, limit: usize) -> QueueResult<Vec<Question>> {
        let mut pipe = redis::pipe();
        pipe.zrange(
            self.keys().questions_pending(),
            0,
            limit.max(1) as isize - 1,
        );
        let (ids,): (Vec<String>,) = self.query(&pipe).await?;
        self.questions(&ids).await
    }

    async fn questions(&self, ids: &[String]) -> QueueResult<Vec<Question>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hgetall(self.keys().question(id));
        }
        let hashes: Vec<std::collections::HashMap<String, String>> = self.query(&pipe).await?;
        Ok(hashes
            .into_iter()
            .filter(|h| !h.is_empty())
            .map(|h| {
                let get = |k: &str| h.get(k).cloned().unwrap_or_default();
                let num = |k: &str| h.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
                Question {
                    id: get("id"),
                    order: get("order"),
                    worker: get("worker"),
                    task_type: get("type"),
                    attempt: num("attempt") as u32,
                    text: get("text"),
                    choices: serde_json::from_str(&get("choices")).unwrap_or_default(),
                    state: get("state"),
                    asked_at_ms: num("asked_at"),
                    deadline_ms: num("deadline"),
                    answer: h.get("answer").cloned(),
                    answered_by: h.get("answered_by").cloned(),
                }
            })
            .collect())
    }
}
