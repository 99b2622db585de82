//! Trust levels, approval, escalation, constraint violations and the audit trail, end to end.

use std::time::Duration;

use fleet_shared::OrderState;
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

fn supervised(escalate_after: Option<u32>) -> DefinitionSpec {
    let mut spec = DefinitionSpec::new(&test_agent_image());
    spec.trust_level = "supervised";
    spec.escalation = escalate_after.map(|n| (n, "monitored"));
    spec.constraints =
        "  - {constraint_id: small, witness: max_changed_files, value: 10, feedback: alert}".into();
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_change_waits_for_approval_and_every_step_is_audited() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let _worker = TestWorker::for_spec(
        &fleet.queue,
        "supervised-worker",
        supervised(None),
        WorkerOptions::default(),
    )
    .await;
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;
    let order = order_for(&upstream, "feature", "edit src/new.rs pub fn new() {}");
    fleet.queue.enqueue(&order, None).await.unwrap();

    let waiting = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| {
        s == OrderState::AwaitingApproval || s.is_finished()
    })
    .await;
    assert_eq!(
        waiting.state,
        OrderState::AwaitingApproval,
        "{:?}",
        waiting.error
    );
    assert!(
        upstream.tip(&order.result_branch()).is_some(),
        "the branch is pushed for review"
    );
    let page = c
        .client
        .get(c.url("/ui/panels"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("data-approval=\"{}\"", order.id)),
        "the dashboard lists it"
    );

    let res = c
        .client
        .post(c.url(&format!("/api/v1/orders/{}/approve", order.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let record = fleet.queue.order(&order.id).await.unwrap().unwrap();
    assert_eq!(record.state, OrderState::Succeeded);
    let again = c
        .client
        .post(c.url(&format!("/api/v1/orders/{}/approve", order.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);

    let audit: Value = c
        .client
        .get(c.url(&format!("/api/v1/orders/{}/audit", order.id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "claim",
        "clone",
        "sandbox_start",
        "sandbox_exit",
        "witness",
        "commit",
        "push",
        "complete",
        "approve",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let exit = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "sandbox_exit")
        .unwrap();
    assert_eq!(exit["detail"]["exit_code"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_change_fails_the_order_with_the_reason() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let _worker = TestWorker::for_spec(
        &fleet.queue,
        "reject-worker",
        supervised(None),
        WorkerOptions::default(),
    )
    .await;
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;
    let order = order_for(&upstream, "feature", "edit x.txt x");
    fleet.queue.enqueue(&order, None).await.unwrap();
    wait_for_state(&fleet.queue, &order.id, MINUTE, |s| {
        s == OrderState::AwaitingApproval
    })
    .await;

    let url = c.url(&format!("/api/v1/orders/{}/reject", order.id));
    let res = c
        .client
        .post(&url)
        .json(&json!({"reason": " "}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "a rejection needs a reason"
    );
    let res = c
        .client
        .post(&url)
        .json(&json!({"reason": "wrong module"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let record = fleet.queue.order(&order.id).await.unwrap().unwrap();
    assert_eq!(record.state, OrderState::Failed);
    assert_eq!(record.reason.as_deref(), Some("rejected"));
    assert!(record.error.unwrap().contains("wrong module"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_in_a_row_escalate_trust_and_a_rejection_reverts_it() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let _worker = TestWorker::for_spec(
        &fleet.queue,
        "escalating-worker",
        supervised(Some(2)),
        WorkerOptions::default(),
    )
    .await;
    let c = ControllerHandle::start(fleet.queue.clone(), None).await;

    for i in 0..2 {
        let order = order_for(&upstream, "feature", &format!("edit f{i}.txt {i}"));
        fleet.queue.enqueue(&order, None).await.unwrap();
        wait_for_state(&fleet.queue, &order.id, MINUTE, |s| {
            s == OrderState::AwaitingApproval
        })
        .await;
        let approved: Value = c
            .client
            .post(c.url(&format!("/api/v1/orders/{}/approve", order.id)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(approved["trust_escalated"], i == 1, "{approved}");
        if i == 1 {
            let trail = fleet.queue.audit_trail(&order.id).await.unwrap();
            assert!(
                trail.iter().any(|e| e.action == "trust_escalated"),
                "the escalation is in the audit trail"
            );
        }
    }
    let trust = fleet.queue.trust("escalating-worker").await.unwrap();
    assert_eq!(trust.escalated_to.as_deref(), Some("monitored"));

    // Now monitored: the next change succeeds without waiting, with an alert for people.
    let order = order_for(&upstream, "feature", "edit f2.txt 2");
    fleet.queue.enqueue(&order, None).await.unwrap();
    let done = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| s.is_finished()).await;
    assert_eq!(done.state, OrderState::Succeeded);
    let alerts = fleet.queue.alerts(10).await.unwrap();
    assert!(alerts.iter().any(|a| a.kind == "monitored"), "{alerts:?}");

    // A violation takes the trust back.
    let reverted = fleet
        .queue
        .reset_trust("escalating-worker", "test")
        .await
        .unwrap();
    assert!(reverted);
    let order = order_for(&upstream, "feature", "edit f3.txt 3");
    fleet.queue.enqueue(&order, None).await.unwrap();
    let waiting = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| {
        s == OrderState::AwaitingApproval || s.is_finished()
    })
    .await;
    assert_eq!(
        waiting.state,
        OrderState::AwaitingApproval,
        "supervised again"
    );
    assert!(fleet.queue.reject(&order.id, "bob", "no").await.is_ok());
    assert_eq!(
        fleet
            .queue
            .trust("escalating-worker")
            .await
            .unwrap()
            .approved_in_a_row,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constraint_violation_fails_the_order_and_leaves_the_remote_untouched() {
    require_docker();
    let fleet = TestFleet::new();
    let upstream = Upstream::new("app");
    let mut spec = DefinitionSpec::new(&test_agent_image());
    spec.constraints = "  - {constraint_id: no-secrets, witness: no_secrets, value: true, feedback: alert}\n  - {constraint_id: small, witness: max_changed_files, value: 5, feedback: log}".into();
    let _worker = TestWorker::for_spec(
        &fleet.queue,
        "strict-worker",
        spec,
        WorkerOptions::default(),
    )
    .await;
    let before = upstream.repo().branches(None).unwrap().count();
    let order = order_for(&upstream, "feature", "secret");
    fleet.queue.enqueue(&order, None).await.unwrap();

    let done = wait_for_state(&fleet.queue, &order.id, MINUTE, |s| s.is_finished()).await;
    assert_eq!(done.state, OrderState::Failed);
    assert_eq!(done.reason.as_deref(), Some("constraint_violation"));
    assert!(done.error.as_deref().unwrap().contains("no-secrets"));
    let verdicts = &done.result.as_ref().unwrap()["verdicts"];
    let failed: Vec<&Value> = verdicts
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["passed"] == false)
        .collect();
    assert_eq!(failed.len(), 1);
    let finding = failed[0]["findings"][0].to_string();
    assert!(finding.contains("config.txt"), "{finding}");
    assert!(
        !finding.contains("AKIAIOSFODNN7EXAMPLE"),
        "the secret itself is never recorded"
    );

    assert!(
        upstream.tip(&order.result_branch()).is_none(),
        "nothing was pushed"
    );
    let after = upstream.repo().branches(None).unwrap().count();
    assert_eq!(before, after);
    let alerts = fleet.queue.alerts(10).await.unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == "constraint_violation"
                && a.order.as_deref() == Some(order.id.as_str())),
        "{alerts:?}"
    );
}
