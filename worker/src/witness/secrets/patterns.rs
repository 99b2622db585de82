//! What a secret looks like: the built-in token formats, credential assignments, and the
//! heuristics that tell a literal value from a reference or a placeholder.

use std::sync::LazyLock;

use regex::Regex;

const TOKENS: &[(&str, &str)] = &[
    (
        "a private key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----",
    ),
    ("an AWS access key id", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    (
        "a GitHub token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    ),
    ("a Slack token", r"\bxox[baprs]-[A-Za-z0-9-]{10,}"),
    ("a Stripe live key", r"\b[rs]k_live_[A-Za-z0-9]{16,}"),
    ("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
];

/// `NAME = value`, `NAME: value`, `"NAME": "value"`, `NAME := value` where NAME ends in a
/// credential word. Upper case only: lower-case `token = get_token()` is code, not config.
const ASSIGNMENT: &str = r#"\b((?:[A-Z0-9]+_)*(?:TOKEN|SECRET|SECRET_KEY|PASSWORD|PASSWD|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY))\b["']?\s*(?::=|=|:)[ \t]*(.*)"#;

pub(super) struct Builtin {
    pub tokens: Vec<(&'static str, Regex)>,
    pub assignment: Regex,
}

/// Compiled once. `None` only if a built-in pattern did not compile, which the tests rule out;
/// scanning then fails closed rather than panicking in the worker.
pub(super) static BUILTIN: LazyLock<Option<Builtin>> = LazyLock::new(|| {
    let tokens = TOKENS
        .iter()
        .map(|(kind, re)| Regex::new(re).map(|r| (*kind, r)))
        .collect::<Result<_, _>>()
        .ok()?;
    Some(Builtin {
        tokens,
        assignment: Regex::new(ASSIGNMENT).ok()?,
    })
});

const PLACEHOLDER_WORDS: &[&str] = &[
    "changeme",
    "change_me",
    "change-me",
    "placeholder",
    "example",
    "your",
    "xxxx",
    "****",
    "redacted",
    "dummy",
    "fake",
    "sample",
    "todo",
    "replace",
    "...",
];
const NOT_SECRETS: &[&str] = &[
    "true",
    "false",
    "null",
    "none",
    "nil",
    "undefined",
    "required",
    "optional",
];

/// The value an assignment gives, and whether it was quoted; `None` for no value.
pub(super) fn assigned_value(rest: &str) -> Option<(&str, bool)> {
    let rest = rest.trim_start();
    let first = rest.chars().next()?;
    if matches!(first, '"' | '\'' | '`') {
        let inner = &rest[1..];
        let end = inner.find(first).unwrap_or(inner.len());
        return Some((&inner[..end], true));
    }
    let end = rest
        .find(|c: char| c.is_whitespace() || ",;#)".contains(c))
        .unwrap_or(rest.len());
    Some((&rest[..end], false))
}

/// Whether an assigned value looks like a literal credential rather than a reference to one
/// (`${VAR}`, `os.environ[...]`, `settings.TOKEN`), a placeholder or prose. A heuristic: it
/// misses short all-letter passwords to stay quiet on documentation.
pub(super) fn literal_secret(value: &str, quoted: bool) -> bool {
    let lower = value.to_ascii_lowercase();
    let reference = value.starts_with(['$', '%', '<', '{', '[', '(', '@', '&', '*'])
        || ["(", "${", "{{", "getenv", "environ", "process.env"]
            .iter()
            .any(|r| lower.contains(r))
        || (!quoted
            && value.contains('.')
            && value.split('.').all(|part| {
                part.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }));
    let placeholder = PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w))
        || NOT_SECRETS.contains(&lower.as_str())
        || value.chars().all(|c| value.starts_with(c));
    let shaped = if quoted {
        value.chars().count() >= 6
    } else {
        value.chars().count() >= 8 && value.chars().any(|c| c.is_ascii_digit())
    };
    shaped && !reference && !placeholder && !value.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_pattern_compiles() {
        assert!(BUILTIN.is_some());
    }
}
