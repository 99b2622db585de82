//! /api/v1/clarifications: the questions agents asked, and people's answers.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use fleet_shared::clarification::{AnswerAction, AnswerError};
use serde::Deserialize;
use serde_json::json;

use super::json::ValidJson;
use super::{ApiError, ApiResult, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only `pending` is listed (answered questions live on their order's history).
    state: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(state): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(q) = q.map_err(|e| ApiError::bad_field("query", e.body_text()))?;
    if let Some(s) = q.state.as_deref()
        && s != "pending"
    {
        return Err(ApiError::bad_field(
            "state",
            format!("state: {s:?} is not listable (use pending)"),
        ));
    }
    let now = state.queue.now_ms().await?;
    let questions = state
        .queue
        .pending_questions(q.limit.unwrap_or(100).clamp(1, 500))
        .await?;
    let rows: Vec<_> = questions
        .into_iter()
        .map(|question| {
            let age = now - question.asked_at_ms;
            let mut v = serde_json::to_value(&question).unwrap_or_default();
            v["age_ms"] = json!(age.max(0));
            v
        })
        .collect();
    Ok(Json(json!({ "clarifications": rows })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    pub text: String,
    /// `answered` (default) or `declined`.
    #[serde(default)]
    pub action: Option<String>,
}

pub async fn answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<AnswerBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let actor = state.writer(&headers)?;
    let action = parse_action(body.action.as_deref())?;
    crate::people::answer(&state.queue, &id, action, &body.text, &actor.0).await?;
    Ok(Json(
        json!({ "id": id, "state": action.as_str(), "answered_by": actor.0 }),
    ))
}

fn parse_action(raw: Option<&str>) -> ApiResult<AnswerAction> {
    match raw {
        None | Some("answered") => Ok(AnswerAction::Answered),
        Some("declined") => Ok(AnswerAction::Declined),
        Some(other) => Err(ApiError::bad_field(
            "action",
            format!("action: {other:?} is not an answer action (use answered or declined)"),
        )),
    }
}

impl From<AnswerError> for ApiError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::NotFound(_) => ApiError::not_found(e.to_string()),
            AnswerError::Closed { .. } | AnswerError::Stale(_) => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            AnswerError::Queue(q) => q.into(),
        }
    }
}
