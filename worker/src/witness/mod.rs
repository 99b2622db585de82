//! Witnesses: the checks a definition's constraints name, run over the would-be commit.
//!
//! Every witness except `require_command` is a pure function of the [`ChangeSet`] and its rule:
//! [`evaluate`] runs them all and returns one [`Verdict`] per constraint. `require_command` needs
//! the sandbox, so the worker runs it itself: [`required_commands`] says what to run and
//! [`command_verdict`] turns the outcome into a verdict.
//!
//! Verdicts go into the order's result and the audit stream as JSON. They never carry a secret:
//! `no_secrets` reports the file, line and kind of secret, and command output is redacted.

mod command;
mod counts;
mod paths;
mod secrets;

use fleet_shared::definition::{Constraint, Feedback, WitnessKind, WitnessRule};
use serde::{Deserialize, Serialize};

use crate::change::ChangeSet;

pub use command::{CommandCheck, command_verdict, required_commands};
pub use secrets::redact;

/// At most this many findings are kept per verdict; a last one says how many were left out.
pub const MAX_FINDINGS: usize = 50;

/// One reason a constraint does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The repository-relative path concerned, when it is about one file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// 1-based line in that file, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub message: String,
}

impl Finding {
    fn about(path: &str, message: impl Into<String>) -> Self {
        Finding {
            path: Some(path.to_string()),
            line: None,
            message: message.into(),
        }
    }

    fn general(message: impl Into<String>) -> Self {
        Finding {
            path: None,
            line: None,
            message: message.into(),
        }
    }
}

/// Whether one constraint holds for one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub constraint_id: String,
    pub witness: WitnessKind,
    pub passed: bool,
    /// Empty when `passed`.
    pub findings: Vec<Finding>,
    pub feedback: Feedback,
}

impl Verdict {
    fn new(constraint: &Constraint, mut findings: Vec<Finding>) -> Self {
        if findings.len() > MAX_FINDINGS {
            let left_out = findings.len() - (MAX_FINDINGS - 1);
            findings.truncate(MAX_FINDINGS - 1);
            findings.push(Finding::general(format!("... and {left_out} more")));
        }
        Verdict {
            constraint_id: constraint.id.to_string(),
            witness: constraint.rule.kind(),
            passed: findings.is_empty(),
            findings,
            feedback: constraint.feedback,
        }
    }
}

/// Checks `change` against every constraint except `require_command` ones, in definition order.
pub fn evaluate(constraints: &[Constraint], change: &ChangeSet) -> Vec<Verdict> {
    constraints
        .iter()
        .filter_map(|c| {
            let findings = match &c.rule {
                WitnessRule::MaxFileSize(limit) => counts::max_file_size(*limit, change),
                WitnessRule::MaxChangedFiles(limit) => counts::max_changed_files(*limit, change),
                WitnessRule::MaxChangedLines(limit) => counts::max_changed_lines(*limit, change),
                WitnessRule::NoBinaryFiles(on) => counts::no_binary_files(*on, change),
                WitnessRule::ForbiddenPaths(globs) => paths::forbidden(globs, change),
                WitnessRule::AllowedPaths(globs) => paths::allowed(globs, change),
                WitnessRule::NoSecrets(scan) => secrets::no_secrets(scan, change),
                WitnessRule::RequireCommand(_) => return None,
            };
            Some(Verdict::new(c, findings))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod test_support {
    use fleet_shared::definition::{Constraint, parse_str};

    use crate::change::{ChangeSet, ChangedFile, FileStatus};

    /// The constraints of a minimal definition with `constraints_yaml` as its constraint list.
    pub fn constraints(constraints_yaml: &str) -> Vec<Constraint> {
        let text = format!(
            "worker_id: test-worker
identity: {{name: t, system_prompt: t}}
accepts: [feature]
runtime:
  image: fleet-agent:latest
  command: [agent]
  resources: {{memory: 1g, cpus: 1, pids: 64, timeout: 10m, disk: 1g}}
trust_level: supervised
audit: {{log_all_actions: true, retention_days: 7}}
constraints:
{constraints_yaml}"
        );
        parse_str(&text, "test.yaml".as_ref())
            .unwrap_or_else(|e| panic!("{e}"))
            .constraints
    }

    pub fn file(path: &str, status: FileStatus, content: &str) -> ChangedFile {
        ChangedFile {
            path: path.into(),
            old_path: None,
            status,
            size_bytes: content.len() as u64,
            lines_added: content.lines().count() as u64,
            lines_removed: 0,
            binary: false,
            content: (status != FileStatus::Deleted).then(|| content.to_string()),
        }
    }

    pub fn change(files: Vec<ChangedFile>) -> ChangeSet {
        ChangeSet { files }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::change::FileStatus;

    #[test]
    fn verdicts_follow_constraint_order_and_skip_commands() {
        let constraints = constraints(
            "  - {constraint_id: files, witness: max_changed_files, value: 1}
  - {constraint_id: tests, witness: require_command, value: [make, test]}
  - {constraint_id: lines, witness: max_changed_lines, value: 100, feedback: log}",
        );
        let change = change(vec![
            file("a.rs", FileStatus::Added, "x\n"),
            file("b.rs", FileStatus::Added, "y\n"),
        ]);
        let verdicts = evaluate(&constraints, &change);
        let ids: Vec<&str> = verdicts.iter().map(|v| v.constraint_id.as_str()).collect();
        assert_eq!(ids, ["files", "lines"]);
        assert!(!verdicts[0].passed);
        assert!(verdicts[1].passed);
    }

    #[test]
    fn verdicts_serialise_for_the_result_and_audit_stream() {
        let constraints =
            constraints("  - {constraint_id: no-bin, witness: no_binary_files, value: true}");
        let mut bin = file("logo.png", FileStatus::Added, "");
        bin.binary = true;
        let verdict = &evaluate(&constraints, &change(vec![bin]))[0];
        assert_eq!(
            serde_json::to_value(verdict).unwrap(),
            serde_json::json!({
                "constraint_id": "no-bin",
                "witness": "no_binary_files",
                "passed": false,
                "findings": [{"path": "logo.png", "message": "is a binary file"}],
                "feedback": "alert",
            })
        );
        let back: Verdict = serde_json::from_value(serde_json::to_value(verdict).unwrap()).unwrap();
        assert_eq!(&back, verdict);
    }

    #[test]
    fn findings_are_capped() {
        let constraints =
            constraints("  - {constraint_id: no-bin, witness: no_binary_files, value: true}");
        let files = (0..80)
            .map(|i| {
                let mut f = file(&format!("{i}.bin"), FileStatus::Added, "");
                f.binary = true;
                f
            })
            .collect();
        let verdict = &evaluate(&constraints, &change(files))[0];
        assert_eq!(verdict.findings.len(), MAX_FINDINGS);
        assert_eq!(verdict.findings.last().unwrap().message, "... and 31 more");
    }
}
