//! Clarification questions: an agent in a real container asks, a person answers through the
//! CLI or the HTTP API, the answer reaches the agent and its commit.

use std::process::Command;
use std::time::Duration;

use fleet_shared::clarification::Question;
use fleet_shared::{OrderId, OrderState, Queue};
use fleet_tests::TestFleet;
use fleet_tests::controller::ControllerHandle;
use fleet_tests::git_fixtures::Upstream;
use fleet_tests::images::require_docker;
use fleet_tests::worker::{
    DefinitionSpec, TestWorker, WorkerOptions, test_agent_image, wait_for_state,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::worker::order_for;

const MINUTE: Duration = Duration::from_secs(60);

/// Waits for the order's next pending question.
async fn pending_question(queue: &Queue, order: &OrderId) -> Question {
    for _ in 0..300 {
        let pending = queue.pending_questions(50).await.unwrap();
        if let Some(q) = pending.into_iter().find(|q| q.order == order.as_str()) {
            return q;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("order {order} asked no question");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_given_on_the_cli_reaches_the_agent_and_its_commit() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let _worker = TestWorker::for_spec(
        &fleet.queue,
        "w-ask-cli",
        DefinitionSpec::new(&test_agent_image()),
        WorkerOptions::default(),
    )
    .await;
    let order = order_for(&upstream, "feature", "ask Use sqlx or diesel?");
    fleet.queue.enqueue(&order, None).await.unwrap();

    let question = pending_question(&fleet.queue, &order.id).await;
    assert_eq!(question.text, "Use sqlx or diesel?");
    assert_eq!(question.worker, "w-ask-cli");
    let record = fleet.queue.order(&order.id).await.unwrap().unwrap();
    assert_eq!(record.state, OrderState::AwaitingClarification);

    let out = Command::new(fleet_tests::bin("fleet-controller"))
        .args(["answer", &question.id, "sqlx, with compile-time checks"])
        .env("FLEET_REDIS_URL", fleet.redis.url())
        .env("FLEET_NAME", "test")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let done = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| s.is_finished()).await;
    assert_eq!(done.state, OrderState::Succeeded, "{:?}", done.error);
    let answer = upstream.file(&order.result_branch(), "ANSWER.md").unwrap();
    assert_eq!(
        String::from_utf8(answer).unwrap(),
        "answer: sqlx, with compile-time checks (status 0)\n"
    );
    let closed = fleet.queue.question(&question.id).await.unwrap().unwrap();
    assert_eq!(closed.state, "answered");
    assert!(closed.answered_by.unwrap().starts_with("cli"));
    let trail = fleet.queue.audit_trail(&order.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"question") && actions.contains(&"answer"),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_questions_are_answered_over_http_and_a_repeat_answer_is_accepted_once() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let _worker = TestWorker::for_spec(
        &fleet.queue,
        "w-ask-http",
        DefinitionSpec::new(&test_agent_image()),
        WorkerOptions::default(),
    )
    .await;
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;
    let order = order_for(&upstream, "feature", "ask-twice");
    fleet.queue.enqueue(&order, None).await.unwrap();

    for (expected, answer) in [("First question?", "one"), ("Second question?", "two")] {
        let q = pending_question(&fleet.queue, &order.id).await;
        assert_eq!(q.text, expected);
        let listed: Value = c
            .client
            .get(c.url("/api/v1/clarifications?state=pending"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["clarifications"][0]["id"], q.id.as_str());
        assert!(listed["clarifications"][0]["age_ms"].is_number());
        let url = c.url(&format!("/api/v1/clarifications/{}/answer", q.id));
        for _ in 0..2 {
            let res = c
                .client
                .post(&url)
                .json(&json!({"text": answer}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::OK,
                "the same answer twice is accepted once"
            );
        }
        let res = c
            .client
            .post(&url)
            .json(&json!({"text": "something else"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        let empty = c
            .client
            .post(c.url("/api/v1/clarifications/nope/answer"))
            .json(&json!({"text": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(empty.status(), StatusCode::NOT_FOUND);
    }
    let done = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| s.is_finished()).await;
    assert_eq!(done.state, OrderState::Succeeded, "{:?}", done.error);
    assert_eq!(
        upstream.file(&order.result_branch(), "ANSWERS.md").unwrap(),
        b"one\ntwo\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_question_fails_the_order_when_the_definition_says_so() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let mut spec = DefinitionSpec::new(&test_agent_image());
    spec.clarification_timeout = "10s";
    let _worker =
        TestWorker::for_spec(&fleet.queue, "w-ask-fail", spec, WorkerOptions::default()).await;
    let order = order_for(&upstream, "feature", "ask Anyone there?");
    fleet.queue.enqueue(&order, None).await.unwrap();
    let q = pending_question(&fleet.queue, &order.id).await;

    fleet.clock.advance(Duration::from_secs(11)); // the deadline passes; no sleeping
    let done = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| s.is_finished()).await;
    assert_eq!(done.state, OrderState::Failed);
    assert_eq!(done.reason.as_deref(), Some("clarification_timeout"));
    assert_eq!(
        fleet.queue.question(&q.id).await.unwrap().unwrap().state,
        "timed_out"
    );
    assert!(upstream.tip(&order.result_branch()).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_question_gets_the_default_answer_recorded_as_a_default() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let mut spec = DefinitionSpec::new(&test_agent_image());
    spec.clarification_timeout = "10s";
    spec.on_timeout = Some("go with the simplest option");
    let _worker = TestWorker::for_spec(
        &fleet.queue,
        "w-ask-default",
        spec,
        WorkerOptions::default(),
    )
    .await;
    let order = order_for(&upstream, "feature", "ask Which option?");
    fleet.queue.enqueue(&order, None).await.unwrap();
    let q = pending_question(&fleet.queue, &order.id).await;

    fleet.clock.advance(Duration::from_secs(11));
    let done = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| s.is_finished()).await;
    assert_eq!(done.state, OrderState::Succeeded, "{:?}", done.error);
    assert_eq!(
        upstream.file(&order.result_branch(), "ANSWER.md").unwrap(),
        b"answer: go with the simplest option (status 0)\n"
    );
    let closed = fleet.queue.question(&q.id).await.unwrap().unwrap();
    assert_eq!(
        closed.state, "default",
        "never recorded as a person's answer"
    );
    assert_eq!(
        closed.answered_by.as_deref(),
        Some("fleet (default answer)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_whose_order_lost_its_lease_is_stale_and_the_next_attempt_asks_again() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let mut worker = TestWorker::for_spec(
        &fleet.queue,
        "w-ask-stale",
        DefinitionSpec::new(&test_agent_image()),
        WorkerOptions::default(),
    )
    .await;
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;
    let mut order = order_for(&upstream, "feature", "ask Still there?");
    order.max_attempts = 2;
    fleet.queue.enqueue(&order, None).await.unwrap();
    let first = pending_question(&fleet.queue, &order.id).await;

    // The worker dies while waiting; its lease runs out and the reaper takes the order back.
    worker.crash();
    fleet.clock.advance(Duration::from_secs(61));
    fleet.queue.reap_expired(10).await.unwrap();
    let res = c
        .client
        .post(c.url(&format!("/api/v1/clarifications/{}/answer", first.id)))
        .json(&json!({"text": "too late"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let err: Value = res.json().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("stale"), "{err}");

    // A controller restart loses nothing: the next attempt's question is there for a new one.
    c.stop().await;
    let _worker2 = TestWorker::for_spec(
        &fleet.queue,
        "w-ask-stale-2",
        DefinitionSpec::new(&test_agent_image()),
        WorkerOptions::default(),
    )
    .await;
    let second = pending_question(&fleet.queue, &order.id).await;
    assert_ne!(second.id, first.id);
    assert!(
        second.id.contains(".2."),
        "asked by attempt 2: {}",
        second.id
    );
    let c2 = ControllerHandle::start(fleet.queue.clone(), None).await;
    let res = c2
        .client
        .post(c2.url(&format!("/api/v1/clarifications/{}/answer", second.id)))
        .json(&json!({"text": "yes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let done = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| s.is_finished()).await;
    assert_eq!(done.state, OrderState::Succeeded, "{:?}", done.error);
    fleet_tests::images::remove_containers_labelled("io.fleet.worker=w-ask-stale");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_visible_through_the_api_while_the_order_runs() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let _worker = TestWorker::for_spec(
        &fleet.queue,
        "w-progress",
        DefinitionSpec::new(&test_agent_image()),
        WorkerOptions::default(),
    )
    .await;
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;
    let order = order_for(&upstream, "test", "progress");
    fleet.queue.enqueue(&order, None).await.unwrap();

    let url = c.url(&format!("/api/v1/orders/{}", order.id));
    let mut seen = false;
    for _ in 0..200 {
        let body: Value = c
            .client
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["state"] == "running" && body["progress"] == 42 {
            assert_eq!(body["progress_message"], "halfway there");
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "42% was never visible while running");
    let done = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| s.is_finished()).await;
    assert_eq!(done.state, OrderState::Succeeded);
    assert_eq!(done.progress, Some(100));
}
