//! What people do to orders (cancel, retry, approve, reject, answer), shared by the CLI and the
//! API, each recorded in the audit trail under the person's name.

use std::time::Duration;

use fleet_shared::audit::AuditEntry;
use fleet_shared::{OrderId, Queue};

/// Audit retention for actions on orders whose definition is not known (never claimed).
const DEFAULT_AUDIT_RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// Records a person's action on an order. Best effort: the action itself already happened, and
/// a lost audit line is logged rather than turned into a failure of the action.
pub async fn audit(
    queue: &Queue,
    id: &OrderId,
    action: &str,
    actor: &str,
    detail: serde_json::Value,
) {
    let (definition, retention) = match queue
        .order_fields(id, &["definition", "audit_retention_ms"])
        .await
    {
        Ok(fields) => (
            fields[0].clone().unwrap_or_default(),
            fields[1]
                .as_deref()
                .and_then(|ms| ms.parse().ok())
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_AUDIT_RETENTION),
        ),
        Err(_) => (String::new(), DEFAULT_AUDIT_RETENTION),
    };
    let entry = AuditEntry {
        at_ms: 0,
        order: id.to_string(),
        action: action.to_string(),
        actor: actor.to_string(),
        definition,
        attempt: 0,
        detail,
    };
    if let Err(e) = queue.audit(&entry, retention).await {
        tracing::warn!(error = %e, order.id = %id, action, "could not write the audit trail");
    }
}
