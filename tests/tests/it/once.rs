//! `fleet-worker once` (one order, no Redis) and how workers refuse bad definitions.

use std::path::Path;
use std::process::{Command, Output};

use fleet_tests::git_fixtures::Upstream;
use fleet_tests::images::require_docker;
use fleet_tests::worker::{DefinitionSpec, helper_dir, repo_root, test_agent_image};
use fleet_tests::{bin, free_port};
use serde_json::{Value, json};

fn once(order: &Value, definition: &Path, work: &Path) -> Output {
    let file = work.join("order.json");
    std::fs::write(&file, order.to_string()).unwrap();
    Command::new(bin("fleet-worker"))
        .args(["once", "--executor", "docker"])
        .arg("--order")
        .arg(&file)
        .arg("--definition")
        .arg(definition)
        .arg("--work-dir")
        .arg(work)
        .arg("--agent-helper-dir")
        .arg(helper_dir())
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[test]
fn once_runs_an_order_without_redis_and_exits_by_outcome() {
    require_docker();
    let upstream = Upstream::new("app");
    let work = tempfile::tempdir().unwrap();
    let defs = tempfile::tempdir().unwrap();
    let def = DefinitionSpec::new(&test_agent_image()).write(defs.path(), "once-worker");
    let order = |prompt: &str, timeout: u64| json!({"type": "docs", "repo": upstream.file_url(), "prompt": prompt, "timeout_secs": timeout});

    let ok = once(
        &order("edit NOTES.md written by once", 60),
        &def,
        work.path(),
    );
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let result: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(result["state"], "succeeded");
    let branch = result["result"]["branch"].as_str().unwrap();
    assert_eq!(
        upstream.file(branch, "NOTES.md").unwrap(),
        b"written by once\n"
    );

    let failed = once(&order("fail 3", 60), &def, work.path());
    assert_eq!(failed.status.code(), Some(1));
    let result: Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(result["reason"], "agent_exit(3)");

    let timed_out = once(&order("sleep 60", 1), &def, work.path());
    assert_eq!(timed_out.status.code(), Some(3));

    let bad = once(
        &json!({"type": "docs", "repo": "/r", "prompt": "x", "colour": 1}),
        &def,
        work.path(),
    );
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(stderr(&bad).lines().count(), 1, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("colour"), "{}", stderr(&bad));
}

#[test]
fn workers_refuse_an_invalid_definition_with_the_checkers_message() {
    let broken = repo_root().join("tests/fixtures/definitions/broken/memory-not-a-size.yaml");
    assert!(broken.exists(), "fixture moved: {}", broken.display());
    let checker = Command::new(bin("fleet-controller"))
        .args(["definitions", "check"])
        .arg(broken.parent().unwrap())
        .output()
        .unwrap();
    assert_eq!(checker.status.code(), Some(2));
    let expected_line = String::from_utf8_lossy(&checker.stdout)
        .lines()
        .find(|l| l.contains("memory-not-a-size.yaml"))
        .unwrap()
        .to_string();

    let worker = Command::new(bin("fleet-worker"))
        .args(["run", "--executor", "process"])
        .arg("--definition")
        .arg(&broken)
        .env(
            "FLEET_REDIS_URL",
            format!("redis://127.0.0.1:{}", free_port()),
        )
        .output()
        .unwrap();
    assert_eq!(worker.status.code(), Some(2));
    assert_eq!(stderr(&worker), format!("error: {expected_line}"));

    let shipped = Command::new(bin("fleet-controller"))
        .args(["definitions", "check"])
        .arg(repo_root().join("definitions"))
        .output()
        .unwrap();
    assert!(
        shipped.status.success(),
        "{}",
        String::from_utf8_lossy(&shipped.stdout)
    );
}
