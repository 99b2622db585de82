//! Recording how an order ended, in Redis, robustly: a result must survive a Redis blip, and a
//! result from a worker that lost its lease is refused (fenced) and dropped.

use std::future::Future;
use std::time::Duration;

use fleet_shared::definition::{Definition, Feedback, TrustLevel};
use fleet_shared::queue::{FailOutcome, Lease, QueueResult};
use fleet_shared::{FailureReason, Queue, QueueError};

use crate::pipeline::Outcome;
use crate::report::Reporter;

/// Writes the outcome to the queue (complete or fail), raising the alerts the definition asks
/// for. Transient Redis failures are retried for up to one lease length.
pub async fn record(
    queue: &Queue,
    lease: &Lease,
    outcome: Outcome,
    definition: &Definition,
    reporter: &Reporter,
) {
    let id = &lease.order.id;
    let worker_id = definition.worker_id.to_string();
    match outcome {
        Outcome::Succeeded { result, .. } => {
            // The level the definition has earned (escalation) decides, not only its file.
            let trust = match queue
                .effective_trust(&worker_id, definition.trust_level)
                .await
            {
                Ok(level) => level,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the trust level; using the definition's");
                    definition.trust_level
                }
            };
            let needs_approval = trust == TrustLevel::Supervised && !result["branch"].is_null();
            let fields = trust_fields(definition);
            let done = retrying(lease, || {
                queue.complete_with(lease, &result, needs_approval, &fields)
            })
            .await;
            match done {
                Ok(state) => {
                    tracing::info!(%state, branch = %result["branch"], "order completed");
                    reporter
                        .audit(
                            "complete",
                            serde_json::json!({"state": state, "trust_level": trust,
                                "branch": result["branch"], "commit": result["commit"]}),
                        )
                        .await;
                    if trust == TrustLevel::Monitored {
                        let message = format!(
                            "monitored worker {} pushed {}",
                            lease.worker,
                            result["branch"].as_str().unwrap_or("no branch")
                        );
                        alert(queue, lease, "monitored", &message).await;
                    }
                }
                Err(e) => report_lost(e),
            }
        }
        Outcome::Failed(failure) => {
            if failure.reason == FailureReason::ConstraintViolation {
                announce_violations(queue, lease, &failure.details).await;
                // "N approvals in a row with no violation": a violation restarts the streak and
                // takes back any trust earned so far.
                match queue.reset_trust(&worker_id, "constraint violation").await {
                    Ok(true) => {
                        tracing::warn!(definition = %worker_id, "trust escalation reverted after a constraint violation");
                        reporter
                            .audit(
                                "trust_reverted",
                                serde_json::json!({"why": "constraint violation", "to": definition.trust_level}),
                            )
                            .await;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "could not reset the trust streak"),
                }
            }
            reporter
                .audit(
                    "fail",
                    serde_json::json!({"reason": failure.reason.to_string(), "error": failure.message,
                        "permanent": failure.permanent}),
                )
                .await;
            match retrying(lease, || queue.fail(lease, &failure)).await {
                Ok(FailOutcome::RetryAt(at)) => {
                    tracing::warn!(reason = %failure.reason, retry_at = at, error = %failure.message, "order failed; it will be retried")
                }
                Ok(FailOutcome::Dead) => {
                    tracing::error!(reason = %failure.reason, error = %failure.message, "order failed on its last attempt: dead")
                }
                Ok(FailOutcome::Failed) => {
                    tracing::error!(reason = %failure.reason, error = %failure.message, "order failed permanently")
                }
                Err(e) => report_lost(e),
            }
        }
        Outcome::Abandoned(why) => {
            tracing::warn!(order.id = %id, reason = %why, "run stopped; nothing recorded");
        }
    }
}

/// What approval needs to know about the definition, recorded on the order at completion.
fn trust_fields(definition: &Definition) -> Vec<(String, String)> {
    let mut fields = vec![
        ("definition".to_string(), definition.worker_id.to_string()),
        ("trust_base".to_string(), definition.trust_level.to_string()),
        (
            "audit_retention_ms".to_string(),
            (u64::from(definition.audit.retention_days) * 86_400_000).to_string(),
        ),
    ];
    if let Some(escalation) = &definition.escalation {
        fields.push((
            "escalate_after".to_string(),
            escalation.after_approved.to_string(),
        ));
        fields.push(("escalate_to".to_string(), escalation.to.to_string()));
    }
    fields
}

/// Hands an order back to its queue without charging the attempt (drain).
pub async fn hand_back(queue: &Queue, lease: &Lease) {
    match retrying(lease, || {
        queue.release(lease, "handed back: worker shutting down")
    })
    .await
    {
        Ok(()) => tracing::info!("order handed back to the queue"),
        Err(e) => report_lost(e),
    }
}

/// Each failed verdict goes where its constraint's feedback says: `alert` to the alerts panel
/// and the events stream, `log` to the order's log.
async fn announce_violations(queue: &Queue, lease: &Lease, details: &Option<serde_json::Value>) {
    let Some(verdicts) = details
        .as_ref()
        .and_then(|d| d.get("verdicts"))
        .and_then(|v| v.as_array())
    else {
        return;
    };
    for v in verdicts.iter().filter(|v| v["passed"] == false) {
        let findings: Vec<String> = v["findings"]
            .as_array()
            .map(|f| {
                f.iter()
                    .map(|x| x["message"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        let message = format!(
            "constraint {} ({}) failed: {}",
            v["constraint_id"].as_str().unwrap_or("?"),
            v["witness"].as_str().unwrap_or("?"),
            findings.join("; ")
        );
        let feedback: Option<Feedback> = serde_json::from_value(v["feedback"].clone()).ok();
        if feedback == Some(Feedback::Log) {
            let _ = queue
                .append_log(&lease.order.id, &[format!("[fleet] {message}")], 10_000)
                .await;
        } else {
            alert(queue, lease, "constraint_violation", &message).await;
        }
    }
}

async fn alert(queue: &Queue, lease: &Lease, kind: &str, message: &str) {
    if let Err(e) = queue
        .raise_alert(kind, Some(&lease.order.id), Some(&lease.worker), message)
        .await
    {
        tracing::warn!(error = %e, "could not raise an alert");
    }
}

fn report_lost(e: QueueError) {
    match e {
        QueueError::Fenced { state, holder, .. } => tracing::warn!(%state, %holder,
            "result discarded: this worker lost the order's lease (it was cancelled or reclaimed)"),
        other => {
            tracing::error!(error = %other, "could not record the order's outcome; the reaper will requeue it when its lease expires")
        }
    }
}

/// Retries `op` on transient errors with backoff, for up to one lease length: past that the
/// lease is gone anyway and the reaper owns the order.
async fn retrying<T, F, Fut>(lease: &Lease, mut op: F) -> QueueResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = QueueResult<T>>,
{
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut wait = Duration::from_millis(100);
    loop {
        match op().await {
            Err(e) if e.is_transient() && tokio::time::Instant::now() < give_up => {
                tracing::warn!(order.id = %lease.order.id, error = %e, retry_in = ?wait, "Redis unavailable; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}
