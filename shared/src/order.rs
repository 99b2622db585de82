//! Work orders: what the controller enqueues and a worker runs.
//!
//! [`NewOrder`] is what people send (CLI flags, the HTTP body); [`NewOrder::validate`] is the only
//! way to get a [`WorkOrder`], so everything past the edge holds an order that is known to be good
//! ("parse, don't validate").

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Version of the [`WorkOrder`] JSON layout stored in Redis; bump it when a field changes meaning.
pub const ORDER_SCHEMA_VERSION: u32 = 1;
/// The largest prompt accepted, in bytes (256 KiB). Larger prompts belong in the repository.
pub const MAX_PROMPT_BYTES: usize = 256 * 1024;
/// The most attempts an order may ask for.
pub const MAX_ATTEMPTS_LIMIT: u32 = 100;
/// Default attempts: the first run plus two retries.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Default time an agent may run before it is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The longest timeout an order may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
const MAX_LABELS: usize = 32;
const MAX_LABEL_LEN: usize = 64;
const MAX_URL_LEN: usize = 2048;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name stored in Redis and accepted on input.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::state::ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::state::ParseEnumError {
                        what: $what,
                        value: s.to_string(),
                        expected: &[$($text),+],
                    }),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// The kind of work an order asks for; a worker definition lists the kinds it accepts.
    TaskType, "task type", {
        Feature => "feature",
        Bugfix => "bugfix",
        Test => "test",
        Docs => "docs",
        Refactor => "refactor",
        Review => "review",
    }
);

string_enum!(
    /// Claim order: every `high` order of a worker's types goes before any `default` one.
    Priority, "priority", {
        High => "high",
        Default => "default",
        Low => "low",
    }
);

/// A unique, time-sortable order id (UUIDv7, so ids sort by creation time in listings and keys).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(String);

impl OrderId {
    /// A fresh id, unique across processes and sortable by creation time.
    pub fn generate() -> Self {
        OrderId(uuid::Uuid::now_v7().to_string())
    }

    /// An id read back from Redis, where only validated ids are ever written.
    pub fn from_stored(raw: &str) -> Self {
        OrderId(raw.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for OrderId {
    type Err = ValidationError;
    /// Accepts any UUID spelling and normalises it to the lowercase hyphenated form used in keys.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s.trim())
            .map(|u| OrderId(u.to_string()))
            .map_err(|_| ValidationError::new("id", s, "is not an order id (a UUID)"))
    }
}

/// An order as people submit it. Every field is raw; [`NewOrder::validate`] checks them all.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    #[serde(rename = "type")]
    pub task_type: String,
    #[serde(default)]
    pub priority: Option<String>,
    pub repo: String,
    #[serde(default)]
    pub branch: Option<String>,
    pub prompt: String,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Seconds the agent may run.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Seconds a clarification question may wait for a person; overrides the definition's.
    #[serde(default)]
    pub clarification_timeout_secs: Option<u64>,
}

/// A validated order. Immutable once enqueued: its mutable state lives beside it in Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkOrder {
    pub schema_version: u32,
    pub id: OrderId,
    #[serde(rename = "type")]
    pub task_type: TaskType,
    pub priority: Priority,
    pub repo: RepoUrl,
    pub branch: BranchName,
    pub prompt: String,
    #[serde(default)]
    pub labels: Vec<String>,
    pub max_attempts: u32,
    pub timeout_secs: u64,
    /// Overrides the definition's clarification timeout when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clarification_timeout_secs: Option<u64>,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

impl WorkOrder {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }

    /// The branch a successful run pushes: `fleet/<type>/<order-id>`.
    pub fn result_branch(&self) -> String {
        format!("fleet/{}/{}", self.task_type, self.id)
    }
}

impl NewOrder {
    /// Checks every field and builds the order. The first bad field wins; its error names the
    /// field and the value so the caller can fix it without reading code.
    pub fn validate(self, id: OrderId, created_at_ms: i64) -> Result<WorkOrder, ValidationError> {
        let task_type = self
            .task_type
            .parse::<TaskType>()
            .map_err(|e| e.for_field("type"))?;
        let priority = match self.priority.as_deref() {
            None | Some("") => Priority::Default,
            Some(p) => p.parse::<Priority>().map_err(|e| e.for_field("priority"))?,
        };
        let repo = RepoUrl::parse(&self.repo)?;
        let branch = match self.branch.as_deref() {
            None | Some("") => BranchName::parse("main")?,
            Some(b) => BranchName::parse(b)?,
        };
        validate_prompt(&self.prompt)?;
        let labels = validate_labels(self.labels)?;
        let max_attempts = self.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if max_attempts == 0 || max_attempts > MAX_ATTEMPTS_LIMIT {
            return Err(ValidationError::new(
                "max_attempts",
                max_attempts.to_string(),
                format!("must be between 1 and {MAX_ATTEMPTS_LIMIT}"),
            ));
        }
        let timeout_secs = self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT.as_secs());
        if timeout_secs == 0 || timeout_secs > MAX_TIMEOUT.as_secs() {
            return Err(ValidationError::new(
                "timeout_secs",
                timeout_secs.to_string(),
                format!("must be between 1 and {} seconds", MAX_TIMEOUT.as_secs()),
            ));
        }
        if let Some(secs) = self.clarification_timeout_secs
            && !(10..=7 * 24 * 3600).contains(&secs)
        {
            return Err(ValidationError::new(
                "clarification_timeout_secs",
                secs.to_string(),
                "must be between 10 seconds and 7 days",
            ));
        }
        Ok(WorkOrder {
            schema_version: ORDER_SCHEMA_VERSION,
            id,
            task_type,
            priority,
            repo,
            branch,
            prompt: self.prompt,
            labels,
            max_attempts,
            timeout_secs,
            clarification_timeout_secs: self.clarification_timeout_secs,
            created_at_ms,
        })
    }
}

fn validate_prompt(prompt: &str) -> Result<(), ValidationError> {
    if prompt.trim().is_empty() {
        return Err(ValidationError::new("prompt", prompt, "is empty"));
    }
    if prompt.len() > MAX_PROMPT_BYTES {
        return Err(ValidationError::new(
            "prompt",
            format!("{} bytes", prompt.len()),
            format!(
                "is over the {} KiB limit (put long context in the repository)",
                MAX_PROMPT_BYTES / 1024
            ),
        ));
    }
    if prompt.contains('\0') {
        return Err(ValidationError::new(
            "prompt",
            prompt,
            "contains a NUL byte",
        ));
    }
    Ok(())
}

fn validate_labels(labels: Vec<String>) -> Result<Vec<String>, ValidationError> {
    if labels.len() > MAX_LABELS {
        return Err(ValidationError::new(
            "labels",
            format!("{} labels", labels.len()),
            format!("has more than {MAX_LABELS} labels"),
        ));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:/=-".contains(c));
        if !ok {
            return Err(ValidationError::new(
                "labels",
                label,
                format!("is not a label (1-{MAX_LABEL_LEN} characters of A-Z a-z 0-9 . _ : / = -)"),
            ));
        }
    }
    Ok(labels)
}

/// A repository location a worker can clone: `https://`, `http://`, `ssh://`, `git://`,
/// `file://`, scp-style `user@host:path`, or an absolute local path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoUrl(String);

impl RepoUrl {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let bad = |why: &str| ValidationError::new("repo", raw, why);
        if raw.is_empty() {
            return Err(bad("is empty"));
        }
        if raw.len() > MAX_URL_LEN {
            return Err(bad("is too long"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace or control characters"));
        }
        if raw.starts_with('-') {
            return Err(bad("starts with '-'"));
        }
        if let Some((scheme, rest)) = raw.split_once("://") {
            if !["https", "http", "ssh", "git", "file"].contains(&scheme) {
                return Err(bad(
                    "has an unsupported scheme (use https://, http://, ssh://, git://, file:// or a path)",
                ));
            }
            if scheme == "file" {
                if !rest.starts_with('/') {
                    return Err(bad("is a file:// URL without an absolute path"));
                }
                return Ok(RepoUrl(raw.to_string()));
            }
            let authority = rest.split('/').next().unwrap_or("");
            let host = authority.rsplit('@').next().unwrap_or("");
            if host.is_empty() || host.starts_with(':') {
                return Err(bad("has no host"));
            }
            if let Some(userinfo) = authority.rsplit_once('@').map(|(u, _)| u)
                && userinfo.contains(':')
            {
                return Err(bad(
                    "carries a password in the URL (give credentials to the worker through FLEET_GIT_TOKEN or a credentials file)",
                ));
            }
            if rest.len() <= authority.len() + 1 {
                return Err(bad("has no repository path"));
            }
            return Ok(RepoUrl(raw.to_string()));
        }
        if raw.starts_with('/') {
            return Ok(RepoUrl(raw.to_string()));
        }
        // scp-like syntax: [user@]host:path
        if let Some((host, path)) = raw.split_once(':') {
            let host = host.rsplit('@').next().unwrap_or("");
            if !host.is_empty() && !path.is_empty() && !host.contains('/') {
                return Ok(RepoUrl(raw.to_string()));
            }
        }
        Err(bad(
            "is not a repository URL (use https://, ssh://, git://, file://, user@host:path or an absolute path)",
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for repositories on this machine, which libgit2 cannot clone shallowly.
    pub fn is_local(&self) -> bool {
        self.0.starts_with('/') || self.0.starts_with("file://")
    }
}

impl TryFrom<String> for RepoUrl {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        RepoUrl::parse(&value)
    }
}

impl From<RepoUrl> for String {
    fn from(value: RepoUrl) -> Self {
        value.0
    }
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A branch name that `git check-ref-format --branch` would accept.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BranchName(String);

impl BranchName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let bad = |why: &str| ValidationError::new("branch", raw, why);
        if raw.is_empty() {
            return Err(bad("is empty"));
        }
        if raw.len() > 255 {
            return Err(bad("is longer than 255 bytes"));
        }
        if raw.starts_with('-') || raw.starts_with('/') || raw.ends_with('/') {
            return Err(bad("starts with '-' or '/' or ends with '/'"));
        }
        if raw.ends_with('.') || raw.ends_with(".lock") {
            return Err(bad("ends with '.' or '.lock'"));
        }
        if raw == "@" || raw.contains("..") || raw.contains("//") || raw.contains("@{") {
            return Err(bad("contains '..', '//' or '@{'"));
        }
        if raw
            .chars()
            .any(|c| c.is_control() || c == ' ' || "~^:?*[\\".contains(c))
        {
            return Err(bad(
                "contains a character git forbids in branch names (space ~ ^ : ? * [ \\)",
            ));
        }
        if raw.split('/').any(|part| part.starts_with('.')) {
            return Err(bad("has a path component starting with '.'"));
        }
        Ok(BranchName(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BranchName {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        BranchName::parse(&value)
    }
}

impl From<BranchName> for String {
    fn from(value: BranchName) -> Self {
        value.0
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NewOrder {
        NewOrder {
            task_type: "feature".into(),
            priority: Some("high".into()),
            repo: "https://git.example.com/team/app.git".into(),
            branch: Some("main".into()),
            prompt: "Add a --verbose flag".into(),
            labels: vec!["team:core".into()],
            max_attempts: Some(2),
            timeout_secs: Some(600),
            clarification_timeout_secs: None,
        }
    }

    fn field_of(order: NewOrder) -> String {
        order
            .validate(OrderId::generate(), 0)
            .expect_err("must be rejected")
            .field
            .to_string()
    }

    #[test]
    fn a_good_order_validates_and_round_trips_through_json() {
        let order = sample().validate(OrderId::generate(), 42).unwrap();
        assert_eq!(order.task_type, TaskType::Feature);
        assert_eq!(order.priority, Priority::High);
        let json = serde_json::to_string(&order).unwrap();
        let back: WorkOrder = serde_json::from_str(&json).unwrap();
        assert_eq!(back, order);
        assert!(json.contains("\"schema_version\":1"));
    }

    #[test]
    fn enums_round_trip_through_display_and_from_str() {
        for t in TaskType::ALL {
            assert_eq!(t.to_string().parse::<TaskType>().unwrap(), *t);
        }
        for p in Priority::ALL {
            assert_eq!(p.to_string().parse::<Priority>().unwrap(), *p);
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        type Mutation = Box<dyn Fn(&mut NewOrder)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("type", Box::new(|o| o.task_type = "chore".into())),
            ("priority", Box::new(|o| o.priority = Some("urgent".into()))),
            ("prompt", Box::new(|o| o.prompt = "   ".into())),
            (
                "prompt",
                Box::new(|o| o.prompt = "x".repeat(MAX_PROMPT_BYTES + 1)),
            ),
            ("repo", Box::new(|o| o.repo = "not a url".into())),
            ("repo", Box::new(|o| o.repo = "ftp://host/x".into())),
            (
                "repo",
                Box::new(|o| o.repo = "https://u:secret@host/x.git".into()),
            ),
            ("branch", Box::new(|o| o.branch = Some("a..b".into()))),
            ("branch", Box::new(|o| o.branch = Some("has space".into()))),
            ("max_attempts", Box::new(|o| o.max_attempts = Some(0))),
            ("timeout_secs", Box::new(|o| o.timeout_secs = Some(0))),
            ("labels", Box::new(|o| o.labels = vec!["bad label".into()])),
        ];
        for (field, mutate) in cases {
            let mut order = sample();
            mutate(&mut order);
            assert_eq!(field_of(order), field);
        }
    }

    #[test]
    fn error_messages_name_field_and_value() {
        let mut order = sample();
        order.priority = Some("urgent".into());
        let err = order.validate(OrderId::generate(), 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "priority: \"urgent\" is not a priority (use high, default or low)"
        );
    }

    #[test]
    fn repository_forms_that_workers_can_clone_are_accepted() {
        for ok in [
            "https://github.com/a/b.git",
            "ssh://git@host:22/a/b.git",
            "git://127.0.0.1:9418/repo.git",
            "file:///srv/git/repo.git",
            "/srv/git/repo.git",
            "git@github.com:a/b.git",
            "https://token@host/a.git",
        ] {
            RepoUrl::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert!(RepoUrl::parse("file:///x").unwrap().is_local());
        assert!(!RepoUrl::parse("git://h/x").unwrap().is_local());
    }

    #[test]
    fn order_ids_are_normalised_uuids() {
        let id = OrderId::generate();
        assert_eq!(id.as_str().parse::<OrderId>().unwrap(), id);
        assert_eq!(
            "not-an-id".parse::<OrderId>().unwrap_err().field,
            "id".to_string()
        );
    }
}
