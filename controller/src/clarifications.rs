//! Answering questions, shared by the CLI and the API.

use fleet_shared::Queue;
use fleet_shared::clarification::AnswerAction;

/// The longest answer accepted.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Records a person's answer. An empty answer is refused: an agent would read it as an answer
/// and invent the rest (decline instead).
pub async fn answer(
    queue: &Queue,
    question: &str,
    action: AnswerAction,
    text: &str,
    by: &str,
) -> Result<(), crate::api::ApiError> {
    if action == AnswerAction::Answered && text.trim().is_empty() {
        return Err(crate::api::ApiError::bad_field(
            "text",
            "text: \"\" is empty; give an answer, or decline the question",
        ));
    }
    if text.len() > MAX_ANSWER_BYTES {
        return Err(crate::api::ApiError::bad_field(
            "text",
            format!("text: {} bytes is over the 64 KiB limit", text.len()),
        ));
    }
    queue
        .answer_question(question, action, text, by)
        .await
        .map_err(crate::api::ApiError::from)?;
    tracing::info!(question, by, action = action.as_str(), "question answered");
    Ok(())
}
