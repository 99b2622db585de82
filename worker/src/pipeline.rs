//! One order from start to end, independent of where it came from (the queue or `once`):
//! workspace → agent → witnesses → commit → push. It reports through a [`Reporter`] and
//! returns an [`Outcome`]; recording that outcome in Redis is the caller's job.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use fleet_shared::definition::{Definition, PlaceholderValues, TrustLevel};
use fleet_shared::queue::Failure;
use fleet_shared::{FailureReason, WorkOrder};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::agent_io::{self, AgentReport};
use crate::clarify::Clarifier;
use crate::executor::{ExecError, Executor, RunOutcome, RunSpec};
use crate::git::{self, Author, CommitOutcome, GitError, GitSettings};
use crate::order_dir::OrderDirs;
use crate::report::{Reporter, forward_output};
use crate::spec::PhaseContext;
use crate::witness::{self, Verdict};

/// How an order's run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Done; `result` goes on the order. `needs_approval` for supervised definitions.
    Succeeded {
        result: Value,
        needs_approval: bool,
    },
    Failed(Failure),
    /// Stopped from outside (lease lost, cancelled, worker forced down): nothing to report.
    Abandoned(String),
}

/// Everything one run needs.
pub struct Job {
    pub worker: String,
    pub definition: Arc<Definition>,
    pub executor: Arc<Executor>,
    pub git: Arc<GitSettings>,
    pub orders_dir: PathBuf,
    pub helper_dir: Option<PathBuf>,
    pub order: WorkOrder,
    pub attempt: u32,
    pub reporter: Reporter,
    pub clarifier: Clarifier,
    /// Fires when the run must stop at once (lease lost, cancel, forced shutdown).
    pub stop: CancellationToken,
}

fn failure(reason: FailureReason, message: impl Into<String>, permanent: bool) -> Outcome {
    Outcome::Failed(Failure {
        reason,
        message: message.into(),
        permanent,
        details: None,
    })
}

impl Job {
    /// Runs the order and always removes its directories afterwards.
    pub async fn run(self) -> Outcome {
        let dirs = match OrderDirs::create(&self.orders_dir, &self.order) {
            Ok(d) => d,
            Err(e) => {
                return failure(
                    FailureReason::Infrastructure,
                    format!("cannot create the order's directories: {e}"),
                    false,
                );
            }
        };
        let outcome = self.run_in(&dirs).await;
        dirs.discard();
        outcome
    }

    async fn run_in(&self, dirs: &OrderDirs) -> Outcome {
        let started = Instant::now();
        if let Err(e) = dirs.write_inputs(&self.order, self.attempt, &self.definition) {
            return failure(
                FailureReason::Infrastructure,
                format!("cannot write the order's files: {e}"),
                false,
            );
        }
        self.reporter.progress(0, "cloning the repository").await;
        let workspace = match self.prepare_workspace(dirs).await {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                self.reporter
                    .audit("clone", json!({"ok": false, "error": e.to_string()}))
                    .await;
                return failure(FailureReason::CloneFailed, e.to_string(), !e.is_transient());
            }
            Err(outcome) => return outcome,
        };
        self.reporter
            .audit(
                "clone",
                json!({"ok": true, "base_commit": workspace.base_commit, "shallow": workspace.shallow,
                    "mirror_reused": workspace.stats.mirror_reused,
                    "fetch_ms": workspace.stats.fetch_time.as_millis() as u64,
                    "clone_ms": workspace.stats.clone_time.as_millis() as u64}),
            )
            .await;
        tracing::info!(order.id = %self.order.id, shallow = workspace.shallow,
            mirror_reused = workspace.stats.mirror_reused,
            fetch_ms = workspace.stats.fetch_time.as_millis() as u64, "workspace ready");

        let phases = PhaseContext {
            worker: &self.worker,
            definition: &self.definition,
            order: &self.order,
            attempt: self.attempt,
            dirs,
            helper_dir: self.helper_dir.as_ref(),
        };
        let (agent, report) = match self.run_agent(&phases, dirs).await {
            Ok(pair) => pair,
            Err(outcome) => return outcome,
        };
        if let Some(question) = &report.unanswered {
            return failure(
                FailureReason::ClarificationTimeout,
                format!("nobody answered the agent's question in time: {question:?}"),
                true,
            );
        }
        if let Some(stopped) = self.stopped_outcome(&agent) {
            return stopped;
        }

        // Witnesses judge exactly what would be committed: the change is staged once here.
        if let Err(e) = crate::order_dir::reclaim_ownership(&dirs.workspace) {
            return failure(
                FailureReason::Infrastructure,
                format!("cannot take the workspace back from the sandbox user: {e}"),
                false,
            );
        }
        let ws = workspace.clone();
        let change = match blocking(move || git::change_set(&ws)).await {
            Ok(Ok(change)) => change,
            Ok(Err(e)) => return failure(FailureReason::Infrastructure, e.to_string(), false),
            Err(outcome) => return outcome,
        };
        let mut verdicts = witness::evaluate(&self.definition.constraints, &change);
        for check in witness::required_commands(&self.definition.constraints) {
            self.reporter
                .progress(90, &format!("checking {}", check.constraint_id))
                .await;
            let spec = phases.witness(&check);
            match self.run_phase(&spec).await {
                Ok((outcome, tail)) => {
                    if outcome.cancelled {
                        return Outcome::Abandoned("stopped while checking constraints".into());
                    }
                    verdicts.push(witness::command_verdict(
                        &check,
                        outcome.exit_code,
                        outcome.timed_out,
                        &tail.join("\n"),
                    ));
                }
                Err(e) => return exec_failure(e),
            }
        }
        for verdict in &verdicts {
            self.reporter
                .audit("witness", serde_json::to_value(verdict).unwrap_or_default())
                .await;
        }
        let violations: Vec<&Verdict> = verdicts.iter().filter(|v| !v.passed).collect();
        if !violations.is_empty() {
            let ids: Vec<&str> = violations
                .iter()
                .map(|v| v.constraint_id.as_str())
                .collect();
            return Outcome::Failed(Failure {
                reason: FailureReason::ConstraintViolation,
                message: format!(
                    "the change breaks constraint(s) {}; nothing was pushed",
                    ids.join(", ")
                ),
                permanent: true,
                details: Some(json!({ "verdicts": verdicts, "changed_files": change.files.len() })),
            });
        }

        let mut result = json!({
            "summary": report.summary,
            "base_commit": workspace.base_commit,
            "changed_files": change.files.len(),
            "lines_added": change.files.iter().map(|f| f.lines_added).sum::<u64>(),
            "lines_removed": change.files.iter().map(|f| f.lines_removed).sum::<u64>(),
            "verdicts": verdicts,
            "questions": report.questions.iter().map(|(id, a)| json!({"id": id, "answer": a})).collect::<Vec<_>>(),
            "exit_code": agent.exit_code,
            "agent_seconds": agent.duration.as_secs_f64(),
            "peak_memory_bytes": agent.peak_memory_bytes,
            "cpu_seconds": agent.cpu_time.map(|d| d.as_secs_f64()),
            "executor": self.executor.kind(),
            "isolated": agent.isolated,
            "trust_level": self.definition.trust_level,
        });
        if change.is_empty() {
            result["branch"] = Value::Null;
            result["note"] = json!("the agent changed nothing; no branch was pushed");
        } else {
            if self.stop.is_cancelled() {
                return Outcome::Abandoned("stopped before pushing".into());
            }
            self.reporter.progress(95, "committing and pushing").await;
            if let Err(e) = crate::order_dir::reclaim_ownership(&dirs.workspace) {
                return failure(
                    FailureReason::Infrastructure,
                    format!("cannot take the workspace back from the sandbox user: {e}"),
                    false,
                );
            }
            match self.commit_and_push(&workspace).await {
                Ok(Ok(Some((sha, branch)))) => {
                    self.reporter.audit("commit", json!({"sha": sha})).await;
                    self.reporter
                        .audit(
                            "push",
                            json!({"branch": branch, "sha": sha, "repo": self.order.repo}),
                        )
                        .await;
                    result["commit"] = json!(sha);
                    result["branch"] = json!(branch);
                }
                Ok(Ok(None)) => {
                    result["branch"] = Value::Null;
                    result["note"] = json!("nothing to commit after staging");
                }
                Ok(Err(e)) => {
                    return failure(FailureReason::PushFailed, e.to_string(), !e.is_transient());
                }
                Err(outcome) => return outcome,
            }
        }
        result["duration_seconds"] = json!(started.elapsed().as_secs_f64());
        self.reporter.progress(100, "done").await;
        Outcome::Succeeded {
            result,
            needs_approval: self.definition.trust_level == TrustLevel::Supervised,
        }
    }

    async fn prepare_workspace(
        &self,
        dirs: &OrderDirs,
    ) -> Result<Result<git::Workspace, GitError>, Outcome> {
        let settings = self.git.clone();
        let repo = self.order.repo.clone();
        let branch = self.order.branch.clone();
        let dest = dirs.workspace.clone();
        blocking(move || git::prepare_workspace(&settings, &repo, &branch, &dest)).await
    }

    /// Runs the agent while following its events file; returns how it ended and what it said.
    async fn run_agent(
        &self,
        phases: &PhaseContext<'_>,
        dirs: &OrderDirs,
    ) -> Result<(RunOutcome, AgentReport), Outcome> {
        self.reporter.progress(5, "agent running").await;
        let agent_done = CancellationToken::new();
        // A question that must fail the order stops the agent at once.
        let fail_now = self.stop.child_token();
        let follower = tokio::spawn(agent_io::follow(
            dirs.events_file(),
            dirs.answers_dir(),
            self.reporter.clone(),
            self.clarifier.clone(),
            agent_done.clone(),
            fail_now.clone(),
        ));
        let spec = phases.agent();
        let result = self.run_phase_with(&spec, fail_now).await;
        agent_done.cancel();
        let report = follower.await.unwrap_or_default();
        match result {
            Ok((outcome, _tail)) => Ok((outcome, report)),
            Err(e) => Err(exec_failure(e)),
        }
    }

    async fn run_phase(&self, spec: &RunSpec) -> Result<(RunOutcome, Vec<String>), ExecError> {
        self.run_phase_with(spec, self.stop.child_token()).await
    }

    async fn run_phase_with(
        &self,
        spec: &RunSpec,
        cancel: CancellationToken,
    ) -> Result<(RunOutcome, Vec<String>), ExecError> {
        let (tx, rx) = mpsc::channel(1024);
        let forward = tokio::spawn(forward_output(
            rx,
            self.reporter.clone(),
            spec.phase.clone(),
        ));
        self.reporter
            .audit(
                "sandbox_start",
                json!({"phase": spec.phase, "executor": self.executor.kind(), "image": spec.image,
                    "argv": spec.argv, "network": spec.network, "user": spec.user}),
            )
            .await;
        let outcome = self.executor.run(spec, tx, cancel).await;
        let tail = forward.await.unwrap_or_default();
        let detail = match &outcome {
            Ok(o) => {
                json!({"phase": spec.phase, "exit_code": o.exit_code, "timed_out": o.timed_out,
                "cancelled": o.cancelled, "seconds": o.duration.as_secs_f64(),
                "peak_memory_bytes": o.peak_memory_bytes, "isolated": o.isolated})
            }
            Err(e) => json!({"phase": spec.phase, "error": e.to_string()}),
        };
        self.reporter.audit("sandbox_exit", detail).await;
        outcome.map(|o| (o, tail))
    }

    /// Maps an agent that did not exit 0 on its own to the outcome to report.
    fn stopped_outcome(&self, agent: &RunOutcome) -> Option<Outcome> {
        if agent.cancelled {
            return Some(Outcome::Abandoned(
                "stopped: the lease was lost or the order cancelled".into(),
            ));
        }
        if agent.timed_out {
            return Some(failure(
                FailureReason::Timeout,
                format!(
                    "the agent ran longer than its {}s timeout and was killed",
                    agent.duration.as_secs()
                ),
                false,
            ));
        }
        match agent.exit_code {
            Some(0) => None,
            Some(code) => Some(failure(
                FailureReason::AgentExit(code),
                format!("the agent exited with status {code}"),
                false,
            )),
            None => Some(failure(
                FailureReason::Infrastructure,
                "the agent's sandbox ended without an exit status",
                false,
            )),
        }
    }

    async fn commit_and_push(
        &self,
        workspace: &git::Workspace,
    ) -> Result<Result<Option<(String, String)>, GitError>, Outcome> {
        let vars = PlaceholderValues::for_order(&self.order, self.attempt);
        let message = self.definition.render_commit_message(&vars);
        let author = Author {
            name: self.definition.git.author_name.clone(),
            email: self.definition.git.author_email.clone(),
        };
        let branch = self.order.result_branch();
        let settings = self.git.clone();
        let ws = workspace.clone();
        blocking(move || match git::commit(&ws, &author, &message)? {
            CommitOutcome::NothingToCommit => Ok(None),
            CommitOutcome::Committed(sha) => {
                git::push_branch(&settings, &ws, &branch)?;
                Ok(Some((sha, branch)))
            }
        })
        .await
    }
}

/// Runs blocking git work off the async threads; a panicked task becomes an infrastructure
/// failure instead of taking the worker down.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Outcome> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        failure(
            FailureReason::Infrastructure,
            format!("a git task failed: {e}"),
            false,
        )
    })
}

fn exec_failure(e: ExecError) -> Outcome {
    let permanent = matches!(e, ExecError::ImageMissing(_) | ExecError::InvalidSpec(_));
    failure(FailureReason::Infrastructure, e.to_string(), permanent)
}
