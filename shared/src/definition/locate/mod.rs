//! Where a field is in the YAML text: the line and column of each key and list item, by path.
//!
//! serde_yaml's `Value` carries no positions, and its errors point at a value rather than at the
//! key people look for, so error positions come from this light scan of the text instead. It
//! understands block mappings and sequences (also a list at the same indent as its key), flow
//! collections (`[a, b]`, `{K: v}`, also across lines), quoted keys, comments, block scalars and
//! multi-line plain scalars — what definitions use. Anything it cannot follow only costs
//! precision: [`Locator::find`] falls back to the nearest ancestor it did see.

mod flow;
mod scan;

use std::collections::HashMap;
use std::fmt;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Formats a path as people write it: `runtime.resources.memory`, `constraints[2].value`.
pub(crate) fn path_string(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A 1-based line and column (in characters) in a definition file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// The positions of every key and list item of one YAML text.
pub(crate) struct Locator {
    spots: HashMap<Vec<Seg>, Position>,
}

impl Locator {
    /// Scans `text` once. Never fails: what it cannot follow is skipped.
    pub fn new(text: &str) -> Locator {
        Locator {
            spots: scan::Scanner::run(text),
        }
    }

    /// The position of `path`, or of its nearest ancestor that was found, or 1:1.
    pub fn find(&self, path: &[Seg]) -> Position {
        (0..=path.len())
            .rev()
            .find_map(|n| self.spots.get(&path[..n]).copied())
            .unwrap_or(Position { line: 1, column: 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, path: &str) -> (usize, usize) {
        let segs: Vec<Seg> = path
            .split('.')
            .filter(|s| !s.is_empty())
            .flat_map(|part| {
                let mut segs = vec![];
                let (key, rest) = part.split_once('[').unwrap_or((part, ""));
                if !key.is_empty() {
                    segs.push(Seg::Key(key.to_string()));
                }
                for idx in rest.split('[').filter(|s| !s.is_empty()) {
                    segs.push(Seg::Index(idx.trim_end_matches(']').parse().unwrap()));
                }
                segs
            })
            .collect();
        let p = Locator::new(text).find(&segs);
        (p.line, p.column)
    }

    const TEXT: &str = r#"# a comment
worker_id: w   # trailing comment
identity:
  name: "x: y"
  system_prompt: |
    line one
    key: not a key
  onboarding_steps: ["a", 'b, c', d]
accepts:
- feature
- bugfix
runtime:
  command:
    - /bin/sh
    - "{order_file}"
  env: {A: "1", "B": x}
  resources:
    memory: 2g
constraints:
  - constraint_id: a
    value:
      - x
      - y
  - constraint_id: b
    value: [p,
            q]
"quoted key": 1
plain: a long
  continued scalar
last: 1
"#;

    #[test]
    fn finds_keys_and_items_in_block_and_flow_style() {
        assert_eq!(at(TEXT, "worker_id"), (2, 1));
        assert_eq!(at(TEXT, "identity.name"), (4, 3));
        assert_eq!(at(TEXT, "identity.onboarding_steps[1]"), (8, 27));
        assert_eq!(at(TEXT, "identity.onboarding_steps[2]"), (8, 35));
        assert_eq!(at(TEXT, "accepts[1]"), (11, 1));
        assert_eq!(at(TEXT, "runtime.command[1]"), (15, 5));
        assert_eq!(at(TEXT, "runtime.env.B"), (16, 17));
        assert_eq!(at(TEXT, "runtime.resources.memory"), (18, 5));
        assert_eq!(at(TEXT, "constraints[0].value[1]"), (23, 7));
        assert_eq!(at(TEXT, "constraints[1].constraint_id"), (24, 5));
        assert_eq!(at(TEXT, "constraints[1].value[1]"), (26, 13));
        assert_eq!(at(TEXT, "quoted key"), (27, 1));
        assert_eq!(at(TEXT, "last"), (30, 1));
    }

    #[test]
    fn block_scalar_lines_are_not_keys_and_missing_paths_fall_back_to_an_ancestor() {
        assert_eq!(at(TEXT, "identity.key"), (3, 1));
        assert_eq!(at(TEXT, "runtime.image"), (12, 1));
        assert_eq!(at(TEXT, "runtime.resources.cpus"), (17, 3));
        assert_eq!(at(TEXT, "nothing.here"), (2, 1));
        assert_eq!(at("", "x"), (1, 1));
    }
}
