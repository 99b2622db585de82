//! What people do to orders — cancel, retry, approve, reject, answer a question — in one place
//! for the CLI and the API: the checks, the transition, and the audit entry under the person's
//! name. Errors are [`ApiError`]s (status, message, field); the CLI turns them into exit codes.

use std::time::Duration;

use fleet_shared::approval::Approval;
use fleet_shared::audit::AuditEntry;
use fleet_shared::clarification::AnswerAction;
use fleet_shared::queue::CancelOutcome;
use fleet_shared::{OrderId, OrderState, Queue};
use serde_json::json;

use crate::api::ApiError;

/// Audit retention for actions on orders whose definition is not known (never claimed).
const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// The longest answer accepted.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub async fn cancel(queue: &Queue, id: &OrderId, actor: &str) -> Result<CancelOutcome, ApiError> {
    let outcome = queue.cancel(id, actor).await?;
    audit(
        queue,
        id,
        "cancel",
        actor,
        json!({"previous": outcome.previous}),
    )
    .await;
    Ok(outcome)
}

/// Returns the state the order was in (dead or failed).
pub async fn retry(queue: &Queue, id: &OrderId, actor: &str) -> Result<OrderState, ApiError> {
    let previous = queue.retry(id, actor).await?;
    audit(queue, id, "retry", actor, json!({"previous": previous})).await;
    Ok(previous)
}

/// Approves; an approval that completes the definition's streak escalates its trust, and
/// that is audited too.
pub async fn approve(queue: &Queue, id: &OrderId, actor: &str) -> Result<Approval, ApiError> {
    let approval = queue.approve(id, actor).await?;
    audit(
        queue,
        id,
        "approve",
        actor,
        json!({"trust_level": approval.trust_level}),
    )
    .await;
    if approval.escalated {
        let detail = json!({"to": approval.trust_level, "after_approval_by": actor});
        audit(queue, id, "trust_escalated", actor, detail).await;
    }
    Ok(approval)
}

/// Returns whether the definition's trust escalation was reverted. A reason is required: the
/// agent's next attempt, and the people reading the trail, need to know what was wrong.
pub async fn reject(
    queue: &Queue,
    id: &OrderId,
    actor: &str,
    reason: &str,
) -> Result<bool, ApiError> {
    if reason.trim().is_empty() {
        return Err(ApiError::bad_field(
            "reason",
            "reason: \"\" is empty; say why the change is rejected",
        ));
    }
    let reverted = queue.reject(id, actor, reason).await?;
    audit(
        queue,
        id,
        "reject",
        actor,
        json!({"reason": reason, "trust_reverted": reverted}),
    )
    .await;
    if reverted {
        audit(
            queue,
            id,
            "trust_reverted",
            actor,
            json!({"why": "rejected"}),
        )
        .await;
    }
    Ok(reverted)
}

/// Records a person's answer to a question. An empty answer is refused: an agent would read it
/// as an answer and invent the rest (decline instead).
pub async fn answer(
    queue: &Queue,
    question: &str,
    action: AnswerAction,
    text: &str,
    actor: &str,
) -> Result<(), ApiError> {
    if action == AnswerAction::Answered && text.trim().is_empty() {
        return Err(ApiError::bad_field(
            "text",
            "text: \"\" is empty; give an answer, or decline the question",
        ));
    }
    if text.len() > MAX_ANSWER_BYTES {
        return Err(ApiError::bad_field(
            "text",
            format!("text: {} bytes is over the 64 KiB limit", text.len()),
        ));
    }
    queue
        .answer_question(question, action, text, actor)
        .await
        .map_err(ApiError::from)?;
    tracing::info!(
        question,
        by = actor,
        action = action.as_str(),
        "question answered"
    );
    // Question ids are `<order>.<attempt>.<agent id>`.
    if let Some(order) = question.split('.').next().and_then(|o| o.parse().ok()) {
        let detail = json!({"question": question, "action": action.as_str(), "text": text});
        audit(queue, &order, "answer", actor, detail).await;
    }
    Ok(())
}

/// Records a person's action on an order. Best effort: the action itself already happened, and
/// a lost audit line is logged rather than turned into a failure of the action.
async fn audit(queue: &Queue, id: &OrderId, action: &str, actor: &str, detail: serde_json::Value) {
    let fields = queue
        .order_fields(id, &["definition", "audit_retention_ms"])
        .await
        .unwrap_or_default();
    let field = |i: usize| fields.get(i).cloned().flatten();
    let entry = AuditEntry {
        at_ms: 0,
        order: id.to_string(),
        action: action.to_string(),
        actor: actor.to_string(),
        definition: field(0).unwrap_or_default(),
        attempt: 0,
        detail,
    };
    let retention = field(1)
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_AUDIT_RETENTION);
    if let Err(e) = queue.audit(&entry, retention).await {
        tracing::warn!(error = %e, order.id = %id, action, "could not write the audit trail");
    }
}
