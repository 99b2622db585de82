//! The shipped definitions' constraints, evaluated by the worker's witnesses: each worker type
//! refuses the changes it exists to refuse and lets its ordinary work through.

use std::path::Path;
use std::time::Duration;

use fleet_shared::definition::{Definition, Feedback, load_file};
use fleet_worker::change::{ChangeSet, ChangedFile, FileStatus};
use fleet_worker::witness::{Verdict, command_verdict, evaluate, required_commands};

fn shipped(file: &str) -> Definition {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../definitions")
        .join(file);
    load_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn text(path: &str, content: &str) -> ChangedFile {
    ChangedFile {
        path: path.into(),
        old_path: None,
        status: FileStatus::Added,
        size_bytes: content.len() as u64,
        lines_added: content.lines().count() as u64,
        lines_removed: 0,
        binary: false,
        content: Some(content.into()),
    }
}

fn binary(path: &str, size: u64) -> ChangedFile {
    ChangedFile {
        binary: true,
        size_bytes: size,
        content: None,
        ..text(path, "")
    }
}

fn check(definition: &Definition, files: Vec<ChangedFile>) -> Vec<Verdict> {
    evaluate(&definition.constraints, &ChangeSet { files })
}

/// Ids of the constraints that failed.
fn failed(verdicts: &[Verdict]) -> Vec<&str> {
    verdicts
        .iter()
        .filter(|v| !v.passed)
        .map(|v| v.constraint_id.as_str())
        .collect()
}

// Assembled at run time so this file does not itself trip secret scanners.
fn private_key() -> String {
    format!("-----BEGIN {} PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n", "RSA")
}

#[test]
fn the_docs_worker_accepts_documentation_and_refuses_code_and_binaries() {
    let docs = shipped("docs.yaml");
    let ok = check(
        &docs,
        vec![text("docs/guide.md", "# Guide\n"), text("README.md", "x\n")],
    );
    assert!(failed(&ok).is_empty(), "{ok:?}");

    let bad = check(
        &docs,
        vec![
            text("src/main.rs", "fn main() {}\n"),
            binary("docs/diagram.png", 2048),
        ],
    );
    assert_eq!(failed(&bad), ["docs-only", "no-binaries"]);
    assert!(bad.iter().any(|v| !v.passed));
}

#[test]
fn the_review_worker_may_only_write_its_review() {
    let review = shipped("review.yaml");
    assert!(failed(&check(&review, vec![text("REVIEW.md", "LGTM\n")])).is_empty());
    let bad = check(
        &review,
        vec![
            text("REVIEW.md", "LGTM\n"),
            text("src/lib.rs", "// fixed it myself\n"),
        ],
    );
    assert_eq!(failed(&bad), ["review-file-only", "one-file"]);
}

#[test]
fn the_test_worker_may_only_touch_test_code() {
    let test = shipped("test.yaml");
    let ok = check(
        &test,
        vec![
            text("tests/api_test.rs", "#[test] fn t() {}\n"),
            text("pkg/parser_test.go", "package pkg\n"),
            text("web/src/__tests__/app.spec.ts", "it('works')\n"),
        ],
    );
    assert!(failed(&ok).is_empty(), "{ok:?}");
    let bad = check(
        &test,
        vec![text("src/parser.rs", "// changed the code under test\n")],
    );
    assert_eq!(failed(&bad), ["tests-only"]);
}

#[test]
fn the_feature_worker_refuses_keys_and_ci_changes_but_allows_fixtures() {
    let feature = shipped("feature.yaml");
    let bad = check(
        &feature,
        vec![
            text("src/deploy.rs", &private_key()),
            text(".github/workflows/ci.yml", "on: push\n"),
        ],
    );
    assert_eq!(failed(&bad), ["protected-paths", "no-secrets"]);
    let secret = bad
        .iter()
        .find(|v| v.constraint_id == "no-secrets")
        .unwrap();
    assert_eq!(secret.findings[0].path.as_deref(), Some("src/deploy.rs"));
    assert_eq!(secret.findings[0].line, Some(1));
    let json = serde_json::to_string(secret).unwrap();
    assert!(!json.contains("MIIEow"), "{json}");

    let fixture = check(
        &feature,
        vec![text("tests/fixtures/tls/key.pem.txt", &private_key())],
    );
    assert!(failed(&fixture).is_empty(), "{fixture:?}");
}

#[test]
fn a_failed_log_constraint_is_recorded_without_blocking() {
    let bugfix = shipped("bugfix.yaml");
    let verdicts = check(
        &bugfix,
        vec![text("data/table.csv", &"1,2,3\n".repeat(100_000))],
    );
    let large = verdicts
        .iter()
        .find(|v| v.constraint_id == "no-large-files")
        .unwrap();
    assert!(!large.passed);
    assert_eq!(large.feedback, Feedback::Log);
}

#[test]
fn require_command_constraints_are_declared_for_the_worker_to_run() {
    let refactor = shipped("refactor.yaml");
    let checks = required_commands(&refactor.constraints);
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].constraint_id, "no-conflict-markers");
    assert_eq!(checks[0].argv[..2], ["/bin/sh", "-c"]);
    assert_eq!(checks[0].timeout, Duration::from_secs(120));
    // evaluate() leaves it to the worker.
    assert!(
        check(&refactor, vec![])
            .iter()
            .all(|v| v.constraint_id != "no-conflict-markers")
    );
    assert!(command_verdict(&checks[0], Some(0), false, "").passed);
    let failed = command_verdict(&checks[0], Some(1), false, "./src/a.rs\n");
    assert!(!failed.passed);
    assert_eq!(failed.findings[1].message, "last output:\n./src/a.rs");
}
