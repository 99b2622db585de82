//! Placeholders: `{order_id}`-style holes in a definition's command, environment and commit
//! message, filled per order by plain string substitution — never by a shell.
//!
//! `{prompt}` is special: the prompt is untrusted data, so it may only be a whole argv element of
//! a command that is exec'd directly. It is refused in a shell `-c` command, in environment
//! values and in commit messages (the checks live in `validate`; this module only knows where a
//! placeholder appears).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use crate::order::{WorkOrder, string_enum};

/// The repository checkout inside the sandbox.
pub const WORKSPACE_DIR: &str = "/workspace";
/// The order as JSON ([`WorkOrder`]), mounted read-only.
pub const ORDER_FILE: &str = "/fleet/order.json";
/// The prompt alone, as UTF-8 text.
pub const PROMPT_FILE: &str = "/fleet/prompt.txt";
/// The definition's `identity.system_prompt`.
pub const SYSTEM_PROMPT_FILE: &str = "/fleet/system_prompt.txt";
/// Where the agent appends its JSON-lines events (questions, progress).
pub const EVENTS_FILE: &str = "/fleet/events.jsonl";

string_enum!(
    /// A name that may appear in braces in a template.
    Placeholder, "placeholder", {
        OrderId => "order_id",
        TaskType => "task_type",
        Priority => "priority",
        Repo => "repo",
        Branch => "branch",
        /// 1 for the first run of an order, 2 for its first retry...
        Attempt => "attempt",
        Workspace => "workspace",
        OrderFile => "order_file",
        PromptFile => "prompt_file",
        SystemPromptFile => "system_prompt_file",
        EventsFile => "events_file",
        /// The prompt itself; only as a whole argv element of a directly exec'd command.
        Prompt => "prompt",
    }
);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Hole(Placeholder),
}

/// A string with placeholders, parsed once so rendering cannot fail. `{{` and `}}` stand for
/// literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses `source`; the error names the unknown placeholder or the stray brace.
    pub fn parse(source: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        while let Some(i) = rest.find(['{', '}']) {
            text.push_str(&rest[..i]);
            let tail = &rest[i..];
            if tail.starts_with("{{") || tail.starts_with("}}") {
                text.push_str(&tail[..1]);
                rest = &tail[2..];
                continue;
            }
            if tail.starts_with('}') {
                return Err("has a stray } (write }} for a literal brace)".into());
            }
            let Some(end) = tail.find('}') else {
                return Err("has an unclosed { (write {{ for a literal brace)".into());
            };
            let name = &tail[1..end];
            let hole = name.parse::<Placeholder>().map_err(|_| {
                let known: Vec<String> = Placeholder::ALL.iter().map(|p| format!("{{{p}}}")).collect();
                format!(
                    "uses unknown placeholder {{{name}}} (known: {}; write {{{{ for a literal brace)",
                    known.join(" ")
                )
            })?;
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Hole(hole));
            rest = &tail[end + 1..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    /// The template as written in the definition.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `p` appears anywhere in the template.
    pub fn uses(&self, p: Placeholder) -> bool {
        self.parts.contains(&Part::Hole(p))
    }

    /// Whether the template is exactly `{p}` and nothing else.
    pub fn is_only(&self, p: Placeholder) -> bool {
        self.parts == [Part::Hole(p)]
    }

    /// Fills every placeholder. Pure substitution: the result is data, never re-parsed.
    pub fn render(&self, vars: &PlaceholderValues) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Hole(p) => out.push_str(&vars.get(*p)),
            }
        }
        out
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Numbers and booleans are accepted as text so `DEBUG: 1` works in `env`.
        let value = super::values::scalar(d, "a string")?;
        let source = match value {
            super::values::Scalar::Str(s) => s,
            other => other.to_string(),
        };
        Template::parse(&source).map_err(|m| de::Error::custom(format!("{source:?} {m}")))
    }
}

/// The values placeholders take for one attempt of one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceholderValues {
    order_id: String,
    task_type: String,
    priority: String,
    repo: String,
    branch: String,
    attempt: u32,
    prompt: String,
}

impl PlaceholderValues {
    /// The values for `attempt` (1-based) of `order`, the prompt included.
    pub fn for_order(order: &WorkOrder, attempt: u32) -> Self {
        PlaceholderValues {
            order_id: order.id.to_string(),
            task_type: order.task_type.to_string(),
            priority: order.priority.to_string(),
            repo: order.repo.to_string(),
            branch: order.branch.to_string(),
            attempt,
            prompt: order.prompt.clone(),
        }
    }

    /// The value of one placeholder.
    pub fn get(&self, p: Placeholder) -> Cow<'_, str> {
        match p {
            Placeholder::OrderId => Cow::Borrowed(&self.order_id),
            Placeholder::TaskType => Cow::Borrowed(&self.task_type),
            Placeholder::Priority => Cow::Borrowed(&self.priority),
            Placeholder::Repo => Cow::Borrowed(&self.repo),
            Placeholder::Branch => Cow::Borrowed(&self.branch),
            Placeholder::Attempt => Cow::Owned(self.attempt.to_string()),
            Placeholder::Workspace => Cow::Borrowed(WORKSPACE_DIR),
            Placeholder::OrderFile => Cow::Borrowed(ORDER_FILE),
            Placeholder::PromptFile => Cow::Borrowed(PROMPT_FILE),
            Placeholder::SystemPromptFile => Cow::Borrowed(SYSTEM_PROMPT_FILE),
            Placeholder::EventsFile => Cow::Borrowed(EVENTS_FILE),
            Placeholder::Prompt => Cow::Borrowed(&self.prompt),
        }
    }
}

const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ash", "ksh", "mksh"];

/// Whether `argv` runs a shell on a `-c` script (`sh -c`, `bash -lc`, `busybox sh -c`,
/// `env FOO=1 sh -c`). Such a script is re-parsed by the shell, so data must never be part of
/// any of its arguments.
pub fn is_shell_c(argv: &[&str]) -> bool {
    let basename = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    let mut rest = argv;
    // Look through launchers that exec the real program: `env [-opts] [VAR=x]...` and `busybox`.
    loop {
        match rest.first().map(|s| basename(s)) {
            Some(b) if b == "env" => {
                rest = &rest[1..];
                while rest
                    .first()
                    .is_some_and(|a| a.starts_with('-') || a.contains('='))
                {
                    rest = &rest[1..];
                }
            }
            Some(b) if b == "busybox" => rest = &rest[1..],
            _ => break,
        }
    }
    let Some((program, args)) = rest.split_first() else {
        return false;
    };
    if !SHELLS.contains(&basename(program).as_str()) {
        return false;
    }
    // `-c` may be bundled with other single-letter options: `-ec`, `-lc`, `-xc`.
    args.iter()
        .take_while(|a| a.starts_with('-') && **a != "--")
        .any(|a| !a.starts_with("--") && a[1..].contains('c'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{NewOrder, OrderId};

    fn vars() -> PlaceholderValues {
        let order = NewOrder {
            task_type: "docs".into(),
            repo: "/srv/git/app.git".into(),
            prompt: "Fix it; rm -rf / `x` $(y)".into(),
            ..NewOrder::default()
        }
        .validate(OrderId::generate(), 0)
        .unwrap();
        PlaceholderValues::for_order(&order, 2)
    }

    #[test]
    fn templates_substitute_placeholders_and_unescape_braces() {
        let t = Template::parse("{task_type} #{attempt} {{literal}} in {workspace}").unwrap();
        assert_eq!(t.render(&vars()), "docs #2 {literal} in /workspace");
        assert!(t.uses(Placeholder::Attempt));
        assert!(!t.uses(Placeholder::Prompt));
    }

    #[test]
    fn the_prompt_is_substituted_verbatim_as_data() {
        let t = Template::parse("{prompt}").unwrap();
        assert!(t.is_only(Placeholder::Prompt));
        assert_eq!(t.render(&vars()), "Fix it; rm -rf / `x` $(y)");
        assert!(
            !Template::parse("x{prompt}")
                .unwrap()
                .is_only(Placeholder::Prompt)
        );
    }

    #[test]
    fn unknown_placeholders_and_stray_braces_are_refused() {
        assert!(
            Template::parse("a {foo} b")
                .unwrap_err()
                .starts_with("uses unknown placeholder {foo} (known: {order_id} ")
        );
        assert!(Template::parse("a { b").unwrap_err().contains("unclosed {"));
        assert!(Template::parse("a } b").unwrap_err().contains("stray }"));
        assert!(Template::parse("{}").is_err());
    }

    #[test]
    fn shell_c_invocations_are_recognised_through_launchers() {
        for argv in [
            &["/bin/sh", "-c", "x"][..],
            &["bash", "-lc", "x"],
            &["busybox", "sh", "-c", "x"],
            &["/usr/bin/env", "-i", "A=1", "zsh", "-e", "-c", "x"],
        ] {
            assert!(is_shell_c(argv), "{argv:?}");
        }
        for argv in [
            &["/bin/sh", "/opt/fleet/agents/docs.sh"][..],
            &["bash", "--", "-c"],
            &["claude", "-c"],
            &[],
        ] {
            assert!(!is_shell_c(argv), "{argv:?}");
        }
    }
}
