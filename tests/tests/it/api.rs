//! The controller's HTTP API against a real server on port 0 and a real Redis.

use std::time::Duration;

use fleet_shared::queue::Failure;
use fleet_shared::{FailureReason, Priority, TaskType};
use fleet_tests::TestFleet;
use fleet_tests::controller::ControllerHandle;
use reqwest::StatusCode;
use serde_json::{Value, json};

const LEASE: Duration = Duration::from_secs(60);

fn order_body() -> Value {
    json!({
        "type": "bugfix",
        "priority": "high",
        "repo": "https://git.example.com/team/app.git",
        "branch": "main",
        "prompt": "Fix the crash on empty input",
        "labels": ["team:core"],
        "max_attempts": 2,
        "timeout_secs": 600
    })
}

async fn post(c: &ControllerHandle, path: &str, body: &Value) -> (StatusCode, Value) {
    let res = c.client.post(c.url(path)).json(body).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(c: &ControllerHandle, path: &str) -> (StatusCode, Value) {
    let res = c.client.get(c.url(path)).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_order_posted_can_be_read_back_and_listed() {
    let fleet = TestFleet::new();
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;

    let res = c
        .client
        .post(c.url("/api/v1/orders"))
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/api/v1/orders/{id}"));
    assert_eq!(created["state"], "queued");

    let (status, order) = get(&c, &location).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order["type"], "bugfix");
    assert_eq!(order["priority"], "high");
    assert_eq!(order["history"][0]["state"], "queued");

    let (_, listed) = get(&c, "/api/v1/orders?state=queued&type=bugfix&limit=5").await;
    assert_eq!(listed["orders"][0]["id"], id);
    let (_, none) = get(&c, "/api/v1/orders?state=queued&type=docs").await;
    assert_eq!(none["orders"].as_array().unwrap().len(), 0);

    let (_, queues) = get(&c, "/api/v1/queues").await;
    assert_eq!(queues["depths"]["ready"]["bugfix"]["high"], 1);
}

#[tokio::test]
async fn bad_input_gets_a_400_naming_the_field() {
    let fleet = TestFleet::new();
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;
    let cases: Vec<(&str, Value)> = vec![
        (
            "type",
            json!({"type": "chore", "repo": "/r", "prompt": "p"}),
        ),
        ("priority", {
            let mut b = order_body();
            b["priority"] = json!("urgent");
            b
        }),
        ("prompt", {
            let mut b = order_body();
            b["prompt"] = json!("  ");
            b
        }),
        ("repo", {
            let mut b = order_body();
            b["repo"] = json!("ftp://nope/x");
            b
        }),
        ("colour", {
            let mut b = order_body();
            b["colour"] = json!("blue");
            b
        }),
        ("max_attempts", {
            let mut b = order_body();
            b["max_attempts"] = json!("three");
            b
        }),
        ("repo", json!({"type": "docs", "prompt": "p"})),
    ];
    for (field, body) in cases {
        let (status, err) = post(&c, "/api/v1/orders", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(err["field"], field, "{err}");
        assert!(err["error"].as_str().unwrap().len() > 5);
    }
    let res = c
        .client
        .post(c.url("/api/v1/orders"))
        .header("content-type", "application/json")
        .body("{\"type\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let err: Value = res.json().await.unwrap();
    assert!(
        err["error"].as_str().unwrap().starts_with("malformed JSON"),
        "{err}"
    );

    let mut huge = order_body();
    huge["prompt"] = json!("x".repeat(2 * 1024 * 1024));
    let (status, err) = post(&c, "/api/v1/orders", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(err["field"], "body");

    let (status, err) = get(&c, "/api/v1/orders?state=sleeping").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["field"], "state");
    assert_eq!(
        fleet.queue.depths().await.unwrap().total_ready(),
        0,
        "nothing was written"
    );
}

#[tokio::test]
async fn mutations_need_the_token_when_one_is_set() {
    let fleet = TestFleet::new();
    let c = ControllerHandle::start(fleet.queue.clone(), Some("s3cret")).await;
    let (status, err) = post(&c, "/api/v1/orders", &order_body()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(err["field"], "Authorization");
    let res = c
        .client
        .post(c.url("/api/v1/orders"))
        .bearer_auth("wrong")
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = c
        .client
        .post(c.url("/api/v1/orders"))
        .bearer_auth("s3cret")
        .json(&order_body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let (status, _) = get(&c, "/api/v1/orders").await;
    assert_eq!(status, StatusCode::OK, "reads stay open");
}

#[tokio::test]
async fn unknown_orders_are_404_and_forbidden_transitions_409() {
    let fleet = TestFleet::new();
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;
    let (status, err) = get(&c, "/api/v1/orders/0193a4b2-0000-7000-8000-000000000001").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(err["error"].as_str().unwrap().contains("does not exist"));
    let (status, _) = get(&c, "/api/v1/orders/not-an-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let order = fleet.enqueue(TaskType::Docs, Priority::Low).await;
    let path = format!("/api/v1/orders/{}/cancel", order.id);
    let (status, body) = post(&c, &path, &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["previous_state"], "queued");
    let (status, err) = post(&c, &path, &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        err["error"].as_str().unwrap().contains("cancelled"),
        "{err}"
    );
    let (status, _) = post(
        &c,
        &format!("/api/v1/orders/{}/retry", order.id),
        &json!({}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "only dead or failed orders can be retried"
    );
}

#[tokio::test]
async fn a_dead_order_retried_over_http_is_queued_again() {
    let fleet = TestFleet::new();
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;
    let mut order = fleet_tests::order(TaskType::Test, Priority::Default);
    order.max_attempts = 1;
    fleet.queue.enqueue(&order, None).await.unwrap();
    let lease = fleet
        .queue
        .claim("w-1", TaskType::ALL, 1, LEASE)
        .await
        .unwrap()
        .remove(0);
    let failure = Failure {
        reason: FailureReason::AgentExit(1),
        message: "tests failed".into(),
        permanent: false,
        details: None,
    };
    fleet.queue.fail(&lease, &failure).await.unwrap();
    let (_, dead) = get(&c, "/api/v1/orders?state=dead").await;
    assert_eq!(dead["orders"][0]["id"], order.id.as_str());

    let (status, body) = post(
        &c,
        &format!("/api/v1/orders/{}/retry", order.id),
        &json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["previous_state"], "dead");
    let (_, again) = get(&c, &format!("/api/v1/orders/{}", order.id)).await;
    assert_eq!(again["state"], "queued");
}

#[tokio::test]
async fn every_documented_route_is_served_and_metrics_are_prometheus_text() {
    let fleet = TestFleet::new();
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;
    let order = fleet.enqueue(TaskType::Feature, Priority::High).await;
    for (method, path) in fleet_controller::api::ROUTES {
        if *path == "/api/v1/events" {
            continue; // a stream; tested on its own
        }
        let path = path.replace("{id}", order.id.as_str());
        let req = match *method {
            "get" => c.client.get(c.url(&path)),
            _ => c.client.post(c.url(&path)).json(&order_body()),
        };
        let status = req.send().await.unwrap().status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} answered {status}"
        );
    }
    let text = c
        .client
        .get(c.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for family in [
        "fleet_queue_depth{type=\"feature\",priority=\"high\"}",
        "fleet_orders{state=\"running\"}",
        "fleet_claim_wait_seconds_bucket{le=\"+Inf\"}",
        "fleet_run_duration_seconds_count",
        "fleet_workers_alive",
        "fleet_workers_lost",
    ] {
        assert!(text.contains(family), "missing {family} in\n{text}");
    }
    let (status, doc) = get(&c, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    let (status, _) = get(&c, "/api/v1/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_event_stream_delivers_transitions_as_they_happen() {
    let fleet = TestFleet::new();
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;
    let mut res = c.client.get(c.url("/api/v1/events")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // The stream starts after the newest event; give the server a moment to subscribe.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let order = fleet.enqueue(TaskType::Review, Priority::Default).await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(order.id.as_str()) {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .expect("event within 10 s")
            .unwrap()
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"event\":\"enqueued\""), "{seen}");
    assert!(
        seen.contains("id: "),
        "events carry ids for Last-Event-ID: {seen}"
    );
}

#[tokio::test]
async fn health_follows_redis_and_the_controller_recovers_when_it_returns() {
    let mut fleet = TestFleet::new();
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;
    let (status, body) = get(&c, "/healthz").await;
    assert_eq!(
        (status, body["redis"].as_str()),
        (StatusCode::OK, Some("up"))
    );

    fleet.redis.kill();
    let (status, body) = get(&c, "/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["redis"], "down");
    let (status, err) = get(&c, "/api/v1/queues").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(err["error"].is_string());

    fleet.redis.restart();
    let mut healthy = false;
    for _ in 0..100 {
        if get(&c, "/healthz").await.0 == StatusCode::OK {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "the controller reconnects by itself");
    let (status, _) = post(&c, "/api/v1/orders", &order_body()).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_dashboard_renders_orders_workers_and_dead_letters() {
    let fleet = TestFleet::new();
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;
    let order = fleet.enqueue(TaskType::Docs, Priority::High).await;
    let page = c
        .client
        .get(c.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<title>fleet · test</title>"), "{page}");
    assert!(page.contains(order.id.as_str()));
    assert!(page.contains("/ui/app.js"));
    let panels = c
        .client
        .get(c.url("/ui/panels"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(panels.contains("data-depth=\"docs:high\">1<"), "{panels}");
    for asset in ["/ui/app.js", "/ui/style.css"] {
        assert_eq!(
            c.client.get(c.url(asset)).send().await.unwrap().status(),
            StatusCode::OK
        );
    }
}
