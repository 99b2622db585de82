//! The `fleet-controller` command line, run as a real process against a real Redis.

use std::process::{Command, Output};

use fleet_tests::{RedisServer, bin};

fn controller(redis_url: &str, args: &[&str]) -> Output {
    Command::new(bin("fleet-controller"))
        .args(args)
        .env("FLEET_REDIS_URL", redis_url)
        .env("FLEET_NAME", "cli-test")
        .env_remove("FLEET_API_TOKEN")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[test]
fn enqueue_prints_the_id_and_status_shows_the_order() {
    let redis = RedisServer::start();
    let out = controller(
        &redis.url(),
        &[
            "enqueue",
            "--type",
            "docs",
            "--repo",
            "https://git.example.com/a.git",
            "--prompt",
            "Document the CLI",
            "--priority",
            "high",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out);
    assert_eq!(id.len(), 36, "a UUID: {id}");

    let status = controller(&redis.url(), &["status", &id]);
    assert!(status.status.success());
    let text = stdout(&status);
    assert!(text.contains("state     queued"), "{text}");
    assert!(text.contains("docs (high priority)"), "{text}");

    let json = controller(&redis.url(), &["--json", "status", &id]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["order"]["state"], "queued");

    let queues = controller(&redis.url(), &["queues"]);
    assert!(
        stdout(&queues)
            .lines()
            .any(|l| l.starts_with("docs") && l.contains(" 1 "))
    );
    let summary = controller(&redis.url(), &["status"]);
    assert!(
        stdout(&summary).contains("queued 1"),
        "{}",
        stdout(&summary)
    );

    let cancel = controller(&redis.url(), &["cancel", &id]);
    assert!(cancel.status.success());
    let again = controller(&redis.url(), &["cancel", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        stderr(&again).lines().count(),
        1,
        "one readable line: {}",
        stderr(&again)
    );
}

#[test]
fn bad_input_exits_2_with_one_line_naming_the_field() {
    let redis = RedisServer::start();
    let out = controller(
        &redis.url(),
        &[
            "enqueue",
            "--type",
            "chore",
            "--repo",
            "/srv/r.git",
            "--prompt",
            "x",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: type: \"chore\" is not a task type (use feature, bugfix, test, docs, refactor or review)"
    );
    let out = controller(&redis.url(), &["status", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: id: \"nope\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unknown_order_exits_1() {
    let redis = RedisServer::start();
    let out = controller(
        &redis.url(),
        &["status", "0193a4b2-0000-7000-8000-000000000001"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn an_unreachable_redis_is_one_clear_line_and_exit_4() {
    let port = fleet_tests::free_port();
    let out = controller(&format!("redis://127.0.0.1:{port}"), &["queues"]);
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: cannot reach Redis"), "{err}");
    assert!(
        err.contains("FLEET_REDIS_URL"),
        "says what to do next: {err}"
    );
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["enqueue", "--help"],
        vec!["status", "--help"],
        vec!["queues", "--help"],
        vec!["workers", "--help"],
        vec!["cancel", "--help"],
        vec!["retry", "--help"],
        vec!["watch", "--help"],
        vec!["token", "--help"],
    ] {
        let out = Command::new(bin("fleet-controller"))
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(stdout(&out).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn serving_on_a_public_address_without_a_token_is_refused() {
    let out = Command::new(bin("fleet-controller"))
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env_remove("FLEET_API_TOKEN")
        .env_remove("FLEET_JWT_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--insecure"), "{}", stderr(&out));
}
