//! Errors at the edge: bad input names the field and the value that was wrong.

use std::fmt;

/// Input that cannot become a valid value. Displayed as `field: "value" message`, which is the
/// one line a CLI prints and the `error` an API returns beside `field`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// Dotted path of the offending field, e.g. `priority` or `runtime.resources.memory`.
    pub field: String,
    /// The value as given, shortened to keep one-line messages readable.
    pub value: String,
    /// What is wrong with it, ideally with what to use instead.
    pub message: String,
}

const MAX_SHOWN_VALUE: usize = 80;

impl ValidationError {
    pub fn new(
        field: impl Into<String>,
        value: impl AsRef<str>,
        message: impl Into<String>,
    ) -> Self {
        let value = value.as_ref();
        let shown = if value.chars().count() > MAX_SHOWN_VALUE {
            let cut: String = value.chars().take(MAX_SHOWN_VALUE).collect();
            format!("{cut}…")
        } else {
            value.to_string()
        };
        ValidationError {
            field: field.into(),
            value: shown,
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?} {}", self.field, self.value, self.message)
    }
}
