//! Order operations the CLI and the API share.

use fleet_shared::clock::wall_clock_ms;
use fleet_shared::queue::{OrderRecord, QueueResult, StateList};
use fleet_shared::{NewOrder, OrderId, OrderState, Queue, QueueError, TaskType};

use crate::api::ApiError;

/// Validates and enqueues a new order; returns it as stored.
pub async fn submit(queue: &Queue, new: NewOrder, by: &str) -> Result<OrderRecord, ApiError> {
    let order = new.validate(OrderId::generate(), wall_clock_ms())?;
    queue.enqueue(&order, None).await?;
    tracing::info!(order.id = %order.id, order.type = %order.task_type, by, "order enqueued");
    queue
        .order(&order.id)
        .await?
        .ok_or_else(|| QueueError::NotFound(order.id.clone()).into())
}

/// Which orders to list.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub state: Option<OrderState>,
    pub task_type: Option<TaskType>,
    pub limit: usize,
}

/// Orders matching `listing`, most recently updated first.
pub async fn list(queue: &Queue, listing: &Listing) -> QueueResult<Vec<OrderRecord>> {
    let places: &[StateList] = match listing.state {
        None => &[
            StateList::Running,
            StateList::AwaitingApproval,
            StateList::Queued,
            StateList::Delayed,
            StateList::Dead,
            StateList::Finished,
        ],
        Some(OrderState::Queued) => &[StateList::Queued],
        Some(OrderState::Running | OrderState::AwaitingClarification) => &[StateList::Running],
        Some(OrderState::Delayed) => &[StateList::Delayed],
        Some(OrderState::Dead) => &[StateList::Dead],
        Some(OrderState::AwaitingApproval) => &[StateList::AwaitingApproval],
        Some(OrderState::Succeeded | OrderState::Failed | OrderState::Cancelled) => {
            &[StateList::Finished]
        }
    };
    // Filters apply after reading, so read more than asked when filtering.
    let filtered = listing.task_type.is_some()
        || matches!(
            listing.state,
            Some(
                OrderState::Running
                    | OrderState::AwaitingClarification
                    | OrderState::Succeeded
                    | OrderState::Failed
                    | OrderState::Cancelled
            )
        );
    let fetch = if filtered {
        listing.limit * 5
    } else {
        listing.limit
    };
    let mut ids: Vec<OrderId> = Vec::new();
    for place in places {
        ids.extend(queue.list(*place, fetch).await?);
    }
    let mut records: Vec<OrderRecord> = queue
        .orders(&ids)
        .await?
        .into_iter()
        .filter(|r| listing.state.is_none_or(|s| r.state == s))
        .filter(|r| listing.task_type.is_none_or(|t| r.order.task_type == t))
        .collect();
    records.sort_by_key(|r| std::cmp::Reverse(r.updated_at_ms));
    records.truncate(listing.limit);
    Ok(records)
}
