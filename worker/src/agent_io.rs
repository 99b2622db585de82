//! The agent protocol, worker side: read the JSON lines the agent appends to
//! /fleet/events.jsonl, relay progress and logs, and answer questions through /fleet/answers/.
//!
//! A file, not stdout markers: anything the agent echoes (a file it reads, a tool's output)
//! lands on stdout, so markers there could be forged. Only the agent writes this file.
//! See docs/agent-protocol.md for the contract.

use std::path::PathBuf;
use std::time::Duration;

use fleet_shared::clarification::{Answer, AnswerAction};
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use crate::clarify::Clarifier;
use crate::report::Reporter;

/// One line of /fleet/events.jsonl.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentEvent {
    Progress {
        percent: f64,
        #[serde(default)]
        message: String,
    },
    Log {
        message: String,
    },
    Question {
        #[serde(default)]
        id: Option<String>,
        text: String,
        #[serde(default)]
        choices: Vec<String>,
    },
    Result {
        summary: String,
    },
}

/// What the agent told us by the time it exited.
#[derive(Debug, Default, Clone)]
pub struct AgentReport {
    /// From its last `result` event.
    pub summary: Option<String>,
    /// Questions asked and how each was answered.
    pub questions: Vec<(String, Answer)>,
    /// Set when a question went unanswered and the definition says to fail.
    pub unanswered: Option<String>,
}

/// Longest accepted event line; longer lines are reported and skipped.
const MAX_LINE: usize = 64 * 1024;
const POLL: Duration = Duration::from_millis(200);

/// Follows the events file until `done` fires (the agent exited), then reads what is left.
/// Fires `fail_now` when a question timed out and the definition says to fail, so the agent
/// is stopped rather than left waiting.
pub async fn follow(
    path: PathBuf,
    answers_dir: PathBuf,
    reporter: Reporter,
    clarifier: Clarifier,
    done: CancellationToken,
    fail_now: CancellationToken,
) -> AgentReport {
    let mut report = AgentReport::default();
    let mut offset = 0u64;
    let mut pending = String::new();
    let mut line_no = 0u64;
    let mut asked = 0u32;
    loop {
        let finished = done.is_cancelled();
        let chunk = read_from(&path, &mut offset).await;
        pending.push_str(&chunk);
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            line_no += 1;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if line.len() > MAX_LINE {
                reporter
                    .log(&[format!(
                        "[fleet] events.jsonl line {line_no} is over 64 KiB; ignored"
                    )])
                    .await;
                continue;
            }
            match serde_json::from_str::<AgentEvent>(line) {
                Ok(AgentEvent::Progress { percent, message }) => {
                    reporter
                        .progress(percent.clamp(0.0, 100.0) as u8, &message)
                        .await;
                    let detail = serde_json::json!({"progress": percent, "message": message});
                    reporter.audit("agent_event", detail).await;
                }
                Ok(AgentEvent::Log { message }) => {
                    reporter.log(&[format!("[agent] {message}")]).await;
                    let detail = serde_json::json!({"log": message});
                    reporter.audit("agent_event", detail).await;
                }
                Ok(AgentEvent::Result { summary }) => report.summary = Some(summary),
                Ok(AgentEvent::Question { id, text, choices }) => {
                    asked += 1;
                    let agent_id = id.unwrap_or_else(|| format!("q{asked}"));
                    reporter
                        .audit(
                            "question",
                            serde_json::json!({"id": agent_id, "text": text, "choices": choices}),
                        )
                        .await;
                    let answer = clarifier.ask(&agent_id, &text, &choices, &done).await;
                    match answer {
                        Ok(answer) => {
                            reporter
                                .audit(
                                    "answer",
                                    serde_json::json!({"id": agent_id, "answer": answer}),
                                )
                                .await;
                            write_answer(&answers_dir, &agent_id, &answer).await;
                            if answer.action == AnswerAction::TimedOut {
                                report.unanswered = Some(text.clone());
                                report.questions.push((agent_id, answer));
                                fail_now.cancel();
                                return report;
                            }
                            report.questions.push((agent_id, answer));
                        }
                        Err(e) => {
                            reporter
                                .log(&[format!(
                                    "[fleet] question {agent_id:?} could not be asked: {e}"
                                )])
                                .await;
                        }
                    }
                }
                Err(e) => {
                    reporter
                        .log(&[format!("[fleet] events.jsonl line {line_no} ignored: {e}")])
                        .await;
                }
            }
        }
        if finished {
            return report;
        }
        tokio::select! {
            _ = done.cancelled() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Reads what was appended since `offset`. A missing or unreadable file reads as nothing.
async fn read_from(path: &PathBuf, offset: &mut u64) -> String {
    let Ok(mut file) = tokio::fs::File::open(path).await else {
        return String::new();
    };
    use tokio::io::AsyncSeekExt;
    if file.seek(std::io::SeekFrom::Start(*offset)).await.is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    // Bound one read so an agent that floods the file cannot exhaust the worker's memory.
    let mut limited = file.take(4 * 1024 * 1024);
    if limited.read_to_end(&mut buf).await.is_err() {
        return String::new();
    }
    *offset += buf.len() as u64;
    String::from_utf8_lossy(&buf).into_owned()
}

/// Writes /fleet/answers/<id>.json atomically (write then rename), so the agent never reads a
/// half-written answer.
async fn write_answer(dir: &std::path::Path, agent_id: &str, answer: &Answer) {
    let json = match serde_json::to_vec_pretty(answer) {
        Ok(json) => json,
        Err(e) => {
            tracing::error!(error = %e, "could not encode an answer");
            return;
        }
    };
    let tmp = dir.join(format!(".{agent_id}.json.tmp"));
    let path = dir.join(format!("{agent_id}.json"));
    if let Err(e) = tokio::fs::write(&tmp, json).await {
        tracing::error!(error = %e, "could not write an answer file");
        return;
    }
    if let Err(e) = tokio::fs::rename(&tmp, &path).await {
        tracing::error!(error = %e, "could not publish an answer file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_from_plain_json_lines() {
        let e: AgentEvent =
            serde_json::from_str(r#"{"type":"progress","percent":40,"message":"tests"}"#).unwrap();
        assert_eq!(
            e,
            AgentEvent::Progress {
                percent: 40.0,
                message: "tests".into()
            }
        );
        let q: AgentEvent = serde_json::from_str(
            r#"{"type":"question","id":"db","text":"sqlx or diesel?","choices":["sqlx","diesel"]}"#,
        )
        .unwrap();
        assert!(matches!(q, AgentEvent::Question { .. }));
        assert!(
            serde_json::from_str::<AgentEvent>(r#"{"type":"shell","cmd":"rm -rf /"}"#).is_err()
        );
    }
}
