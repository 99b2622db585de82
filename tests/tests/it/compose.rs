//! The docker compose deployment: images built locally, the fleet brought up with three
//! workers, orders run through it over the HTTP API, everything torn down.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fleet_tests::git_fixtures::Upstream;
use fleet_tests::images::require_docker;
use fleet_tests::worker::repo_root;
use serde_json::{Value, json};

/// `docker compose` (v2) where it exists, else `docker-compose` (v1, Debian's package).
fn compose_command() -> Vec<String> {
    let v2 = Command::new("docker").args(["compose", "version"]).output();
    if v2.is_ok_and(|o| o.status.success()) {
        return vec!["docker".into(), "compose".into()];
    }
    let v1 = Command::new("docker-compose").arg("version").output();
    assert!(
        v1.is_ok_and(|o| o.status.success()),
        "neither `docker compose` nor `docker-compose` is installed (scripts/deps.sh installs it)"
    );
    vec!["docker-compose".into()]
}

/// A compose project that is always torn down, even when the test fails.
struct Project {
    name: String,
    env: Vec<(String, String)>,
    compose: Vec<String>,
}

impl Project {
    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.compose[0]);
        cmd.args(&self.compose[1..])
            .args(["-p", &self.name, "-f"])
            .arg(repo_root().join("docker-compose.yml"))
            .args(args)
            .current_dir(repo_root());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output().expect("run compose")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let out = self.run(&["down", "-v", "--timeout", "20"]);
        if !out.status.success() {
            eprintln!(
                "compose down failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn build_images() {
    let out = Command::new(repo_root().join("scripts/build-service-images.sh"))
        .arg("--debug")
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building the images failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_fleet_runs_orders_on_three_scaled_workers() {
    require_docker();
    build_images();
    let upstream = Upstream::new("demo");
    let work_dir = tempfile::tempdir().unwrap();
    let port = fleet_tests::free_port();
    let repos: PathBuf = upstream.root().to_path_buf();
    let project = Project {
        name: format!("fleettest{}", rand::random::<u32>()),
        env: vec![
            ("FLEET_API_TOKEN".into(), "compose-test-token".into()),
            ("FLEET_DASHBOARD_PORT".into(), port.to_string()),
            ("FLEET_WORK_DIR".into(), path_str(work_dir.path())),
            ("FLEET_REPOS_DIR".into(), path_str(&repos)),
            ("FLEET_NAME".into(), "compose".into()),
        ],
        compose: compose_command(),
    };
    let up = project.run(&["up", "-d", "--scale", "worker=3"]);
    assert!(
        up.status.success(),
        "compose up: {}",
        String::from_utf8_lossy(&up.stderr)
    );

    let api = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let workers = client.get(format!("{api}/api/v1/workers")).send().await;
        if let Ok(res) = workers
            && let Ok(body) = res.json::<Value>().await
            && body["workers"].as_array().is_some_and(|w| w.len() == 3)
        {
            break;
        }
        assert!(Instant::now() < deadline, "three workers never registered");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let mut ids = Vec::new();
    for (i, task_type) in ["docs", "review", "test", "docs", "review", "test"]
        .iter()
        .enumerate()
    {
        let res = client
            .post(format!("{api}/api/v1/orders"))
            .bearer_auth("compose-test-token")
            .json(&json!({"type": task_type, "repo": upstream.file_url(), "prompt": format!("Describe part {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let unauthenticated = client
        .post(format!("{api}/api/v1/orders"))
        .json(&json!({"type": "docs", "repo": upstream.file_url(), "prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        unauthenticated.status(),
        401,
        "the published API needs the token"
    );

    let mut workers_used = std::collections::HashSet::new();
    for id in &ids {
        let order = loop {
            let body: Value = client
                .get(format!("{api}/api/v1/orders/{id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let state = body["state"].as_str().unwrap_or("").to_string();
            if ["succeeded", "failed", "dead", "cancelled"].contains(&state.as_str()) {
                break body;
            }
            assert!(
                Instant::now() < deadline + Duration::from_secs(60),
                "order {id} is {state}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_eq!(order["state"], "succeeded", "{order}");
        let branch = order["result"]["branch"].as_str().unwrap().to_string();
        assert!(upstream.tip(&branch).is_some(), "{branch} was pushed");
        workers_used.insert(order["worker"].as_str().unwrap().to_string());
    }
    eprintln!(
        "compose: 6 orders succeeded on {} worker(s)",
        workers_used.len()
    );
    let metrics = client
        .get(format!("{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("fleet_workers_alive 3"), "{metrics}");
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
