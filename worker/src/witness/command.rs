//! `require_command`: a command the worker runs in the sandbox after the agent (tests, a linter).
//! This module only says what to run and judges the outcome; running it is the worker's.

use std::time::Duration;

use fleet_shared::definition::{Constraint, Feedback, WitnessKind, WitnessRule};
use serde::Serialize;

use super::{Finding, MAX_FINDINGS, Verdict, redact};

/// Lines of output kept in a failed command's finding.
const TAIL_LINES: usize = 20;
/// Bytes of output kept in a failed command's finding.
const TAIL_BYTES: usize = 4096;

/// One `require_command` constraint, ready to run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandCheck {
    pub constraint_id: String,
    /// Exec'd directly in /workspace, never through a shell unless the argv itself says so.
    pub argv: Vec<String>,
    pub timeout: Duration,
    pub feedback: Feedback,
}

/// The `require_command` constraints of a definition, in order.
pub fn required_commands(constraints: &[Constraint]) -> Vec<CommandCheck> {
    constraints
        .iter()
        .filter_map(|c| match &c.rule {
            WitnessRule::RequireCommand(spec) => Some(CommandCheck {
                constraint_id: c.id.to_string(),
                argv: spec.argv.clone(),
                timeout: spec.timeout.duration(),
                feedback: c.feedback,
            }),
            _ => None,
        })
        .collect()
}

/// The verdict for a command that ran: it holds when it exited 0 in time. `exit_code` is
/// `None` when the sandbox was killed; `output_tail` is the end of its combined output, kept
/// (redacted, shortened) in the finding.
pub fn command_verdict(
    check: &CommandCheck,
    exit_code: Option<i64>,
    timed_out: bool,
    output_tail: &str,
) -> Verdict {
    let failure = if timed_out {
        Some(format!(
            "{} timed out after {}s",
            check.argv.join(" "),
            check.timeout.as_secs()
        ))
    } else {
        match exit_code {
            Some(0) => None,
            Some(code) => Some(format!(
                "{} exited with status {code}",
                check.argv.join(" ")
            )),
            None => Some(format!(
                "{} was killed before it exited",
                check.argv.join(" ")
            )),
        }
    };
    let mut findings = Vec::new();
    if let Some(message) = failure {
        findings.push(Finding::general(message));
        let tail = tail(&redact(output_tail));
        if !tail.is_empty() {
            findings.push(Finding::general(format!("last output:\n{tail}")));
        }
    }
    debug_assert!(findings.len() <= MAX_FINDINGS);
    Verdict {
        constraint_id: check.constraint_id.clone(),
        witness: WitnessKind::RequireCommand,
        passed: findings.is_empty(),
        findings,
        feedback: check.feedback,
    }
}

/// The last [`TAIL_LINES`] lines, at most [`TAIL_BYTES`] bytes, cut on a character boundary.
fn tail(output: &str) -> String {
    let lines: Vec<&str> = output.trim_end().lines().collect();
    let mut kept = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    if kept.len() > TAIL_BYTES {
        let mut start = kept.len() - TAIL_BYTES;
        while !kept.is_char_boundary(start) {
            start += 1;
        }
        kept = format!("…{}", &kept[start..]);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::super::test_support::constraints;
    use super::*;

    fn check() -> CommandCheck {
        let c = constraints(
            "  - {constraint_id: tests, witness: require_command, value: {command: [make, test], timeout: 5m}, feedback: log}
  - {constraint_id: lines, witness: max_changed_lines, value: 9}
  - {constraint_id: lint, witness: require_command, value: [cargo, clippy]}",
        );
        let checks = required_commands(&c);
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[1].argv, ["cargo", "clippy"]);
        assert_eq!(checks[1].timeout, Duration::from_secs(600));
        assert_eq!(checks[1].feedback, Feedback::Alert);
        checks[0].clone()
    }

    #[test]
    fn required_commands_carry_argv_timeout_and_feedback() {
        let c = check();
        assert_eq!(c.constraint_id, "tests");
        assert_eq!(c.argv, ["make", "test"]);
        assert_eq!(c.timeout, Duration::from_secs(300));
        assert_eq!(c.feedback, Feedback::Log);
    }

    #[test]
    fn a_command_that_exits_zero_passes() {
        let v = command_verdict(&check(), Some(0), false, "all good\n");
        assert!(v.passed && v.findings.is_empty());
        assert_eq!(v.witness, WitnessKind::RequireCommand);
    }

    #[test]
    fn failures_timeouts_and_kills_fail_with_the_redacted_output_tail() {
        let output: String = (1..=30).map(|i| format!("line {i}\n")).collect::<String>()
            + "DB_PASSWORD=s3cr3t-Value-42\n";
        let v = command_verdict(&check(), Some(2), false, &output);
        assert!(!v.passed);
        assert_eq!(v.findings[0].message, "make test exited with status 2");
        let tail = &v.findings[1].message;
        assert!(tail.starts_with("last output:\nline 12\n"), "{tail}");
        assert!(tail.ends_with("DB_PASSWORD=[REDACTED]"), "{tail}");

        let v = command_verdict(&check(), None, true, "");
        assert_eq!(v.findings.len(), 1);
        assert_eq!(v.findings[0].message, "make test timed out after 300s");
        let v = command_verdict(&check(), None, false, "");
        assert_eq!(
            v.findings[0].message,
            "make test was killed before it exited"
        );
    }

    #[test]
    fn the_tail_is_bounded_in_bytes() {
        let long = "é".repeat(10_000);
        let t = tail(&long);
        assert!(t.len() <= TAIL_BYTES + '…'.len_utf8());
        assert!(t.starts_with('…'));
    }
}
