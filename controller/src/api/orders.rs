//! /api/v1/orders: submit, read, list, cancel and retry orders.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use fleet_shared::queue::{HistoryEntry, OrderRecord};
use fleet_shared::{NewOrder, OrderId, OrderState, TaskType};
use serde::{Deserialize, Serialize};

use super::json::ValidJson;
use super::{ApiError, ApiResult, AppState};
use crate::orders::{self, Listing};
use crate::people;
use serde_json::json;

/// An order with its history, as `GET /api/v1/orders/{id}` returns it.
#[derive(Serialize)]
pub struct OrderDetail {
    #[serde(flatten)]
    pub record: OrderRecord,
    /// Transitions, newest first.
    pub history: Vec<HistoryEntry>,
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    ValidJson(new): ValidJson<NewOrder>,
) -> ApiResult<impl IntoResponse> {
    let actor = state.writer(&headers)?;
    let record = orders::submit(&state.queue, new, &actor.0).await?;
    let location = format!("/api/v1/orders/{}", record.order.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(record),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderDetail>> {
    let id = parse_id(&id)?;
    let record = state
        .queue
        .order(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("order {id} does not exist")))?;
    let history = state.queue.history(&id, 100).await?;
    Ok(Json(OrderDetail { record, history }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Number of last lines (default 200, at most 5000).
    tail: Option<usize>,
}

pub async fn log(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = q.map_err(query_error)?;
    let id = parse_id(&id)?;
    if state.queue.order(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("order {id} does not exist")));
    }
    let lines = state
        .queue
        .order_log(&id, q.tail.unwrap_or(200).min(5000))
        .await?;
    Ok(Json(serde_json::json!({ "id": id, "lines": lines })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    #[serde(rename = "type")]
    task_type: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = q.map_err(query_error)?;
    let listing = Listing {
        state: q
            .state
            .as_deref()
            .map(|s| s.parse::<OrderState>().map_err(|e| e.for_field("state")))
            .transpose()?,
        task_type: q
            .task_type
            .as_deref()
            .map(|t| t.parse::<TaskType>().map_err(|e| e.for_field("type")))
            .transpose()?,
        limit: match q.limit {
            Some(0) | Some(501..) => {
                return Err(ApiError::bad_field(
                    "limit",
                    format!("limit: {} must be between 1 and 500", q.limit.unwrap_or(0)),
                ));
            }
            Some(n) => n,
            None => 50,
        },
    };
    let records = orders::list(&state.queue, &listing).await?;
    Ok(Json(serde_json::json!({ "orders": records })))
}

pub async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let actor = state.writer(&headers)?;
    let id = parse_id(&id)?;
    let outcome = people::cancel(&state.queue, &id, &actor.0).await?;
    Ok(Json(serde_json::json!({
        "id": id,
        "previous_state": outcome.previous,
        "state": OrderState::Cancelled,
    })))
}

pub async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let actor = state.writer(&headers)?;
    let id = parse_id(&id)?;
    let previous = people::retry(&state.queue, &id, &actor.0).await?;
    Ok(Json(serde_json::json!({
        "id": id,
        "previous_state": previous,
        "state": OrderState::Queued,
    })))
}

fn parse_id(raw: &str) -> ApiResult<OrderId> {
    raw.parse::<OrderId>()
        .map_err(|_| ApiError::not_found(format!("order {raw} does not exist (not an order id)")))
}

/// Query-string errors as JSON, naming the parameter when serde says which.
fn query_error(rejection: QueryRejection) -> ApiError {
    let text = rejection.body_text();
    let field = text
        .split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| "query".to_string());
    ApiError::bad_field(field, text)
}

pub async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let actor = state.writer(&headers)?;
    let id = parse_id(&id)?;
    let approval = people::approve(&state.queue, &id, &actor.0).await?;
    Ok(Json(json!({
        "id": id,
        "state": OrderState::Succeeded,
        "approved_by": actor.0,
        "trust_level": approval.trust_level,
        "trust_escalated": approval.escalated,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    pub reason: String,
}

pub async fn reject(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<RejectBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let actor = state.writer(&headers)?;
    let id = parse_id(&id)?;
    let reverted = people::reject(&state.queue, &id, &actor.0, &body.reason).await?;
    Ok(Json(json!({
        "id": id,
        "state": OrderState::Failed,
        "rejected_by": actor.0,
        "trust_reverted": reverted,
    })))
}

pub async fn audit(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = parse_id(&id)?;
    let trail = state.queue.audit_trail(&id).await?;
    if trail.is_empty() && state.queue.order(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("order {id} does not exist")));
    }
    Ok(Json(json!({ "id": id, "audit": trail })))
}
