//! A JSON body extractor whose errors name the field at fault.
//!
//! axum's own `Json` rejects with plain text; people calling the API need to know *which* field
//! was wrong, so bodies are decoded with serde_path_to_error and every failure becomes a 400
//! `{"error", "field"}` (413 when the body is over the limit).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The largest request body accepted: a prompt is capped at 256 KiB, so this leaves room for
/// JSON escaping and the other fields.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON request body of type `T`.
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::bad_field(
                "Content-Type",
                "the body must be JSON (send Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    error: format!("the body is over the {} KiB limit", MAX_BODY_BYTES / 1024),
                    field: Some("body".into()),
                }
            } else {
                ApiError::bad_field("body", format!("could not read the body: {e}"))
            }
        })?;
        decode(&bytes).map(ValidJson)
    }
}

/// Decodes `bytes` as `T`, naming the field path of the first error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_field("body", format!("malformed JSON: {message}"));
        }
        // Name the unknown or missing field itself, whether or not the path already ends
        // with it.
        let field = match unknown_field_name(&message) {
            Some(name) if path == "." => name.to_string(),
            Some(name) if path == name || path.ends_with(&format!(".{name}")) => path,
            Some(name) => format!("{path}.{name}"),
            None if path == "." || path == "?" => "body".to_string(),
            None => path,
        };
        ApiError::bad_field(field.clone(), format!("{field}: {message}"))
    })
}

/// The field serde names in "unknown field `x`" and "missing field `x`" messages.
fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_shared::NewOrder;

    #[test]
    fn an_unknown_field_is_named() {
        let err = decode::<NewOrder>(br#"{"type":"docs","repo":"/r","prompt":"p","colour":1}"#)
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("colour"));
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_wrong_type_names_its_path() {
        let err =
            decode::<NewOrder>(br#"{"type":"docs","repo":"/r","prompt":"p","max_attempts":"x"}"#)
                .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("max_attempts"));
    }

    #[test]
    fn malformed_json_says_so() {
        let err = decode::<NewOrder>(b"{not json").unwrap_err();
        assert!(err.error.starts_with("malformed JSON"), "{}", err.error);
        assert_eq!(err.field.as_deref(), Some("body"));
    }
}
