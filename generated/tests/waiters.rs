//! Waiters: success, failure, deadline and cancellation for each kind of operation.

mod common;

use std::time::Duration;

use common::client;
use databricks_client::wait::{self, CancellationToken, WaitError, WaitOptions};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fast(timeout: Duration) -> WaitOptions {
    WaitOptions { timeout, poll_unit: Duration::from_millis(2), ..WaitOptions::default() }
}

/// Answer `first` `times` times on `route`, then `then` forever.
async fn sequence(server: &MockServer, route: &str, first: Value, times: u64, then: Value) {
    Mock::given(method("GET"))
        .and(path(route))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .up_to_n_times(times)
        .with_priority(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(route))
        .respond_with(ResponseTemplate::new(200).set_body_json(then))
        .with_priority(2)
        .mount(server)
        .await;
}

#[tokio::test]
async fn cluster_running_succeeds_fails_and_times_out() {
    let server = MockServer::start().await;
    sequence(
        &server,
        "/api/2.1/clusters/get",
        json!({"cluster_id": "c", "state": "PENDING"}),
        2,
        json!({"cluster_id": "c", "state": "RUNNING"}),
    )
    .await;
    let c = client(&server);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let opts = WaitOptions {
        on_poll: Some(std::sync::Arc::new(move |s: &str| record.lock().expect("lock").push(s.to_string()))),
        ..fast(Duration::from_secs(10))
    };
    let cluster = wait::cluster_running(&c, "c", &opts).await.expect("running");
    assert_eq!(cluster.state.map(|s| s.to_string()).as_deref(), Some("RUNNING"));
    assert_eq!(*seen.lock().expect("lock"), ["PENDING", "PENDING", "RUNNING"]);

    let server = MockServer::start().await;
    sequence(&server, "/api/2.1/clusters/get", json!({"state": "PENDING"}), 1,
        json!({"state": "TERMINATED", "state_message": "Instance quota exceeded", "termination_reason": {"code": "QUOTA_EXCEEDED"}})).await;
    let err = wait::cluster_running(&client(&server), "c", &fast(Duration::from_secs(10))).await.expect_err("fails");
    assert!(matches!(&err, WaitError::Failed { state, .. } if state == "TERMINATED"), "{err:?}");
    assert!(err.to_string().contains("Instance quota exceeded (termination code QUOTA_EXCEEDED)"), "{err}");

    let server = MockServer::start().await;
    sequence(&server, "/api/2.1/clusters/get", json!({"state": "PENDING"}), 1000, json!({"state": "PENDING"})).await;
    let err =
        wait::cluster_running(&client(&server), "c", &fast(Duration::from_millis(60))).await.expect_err("times out");
    assert!(matches!(&err, WaitError::TimedOut { state, .. } if state == "PENDING"), "{err:?}");
    assert!(err.to_string().contains("may still be in progress"), "{err}");
}

#[tokio::test]
async fn cancellation_stops_the_wait() {
    let server = MockServer::start().await;
    sequence(&server, "/api/2.1/clusters/get", json!({"state": "PENDING"}), 1000, json!({"state": "PENDING"})).await;
    let cancel = CancellationToken::new();
    let opts = WaitOptions { cancel: cancel.clone(), poll_unit: Duration::from_millis(20), ..WaitOptions::default() };
    let c = client(&server);
    let waiting = tokio::spawn(async move { wait::cluster_terminated(&c, "c", &opts).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    cancel.cancel();
    let err = waiting.await.expect("joined").expect_err("cancelled");
    assert!(matches!(err, WaitError::Cancelled { .. }), "{err:?}");
}

#[tokio::test]
async fn run_terminated_returns_finished_runs_and_fails_on_internal_error() {
    let server = MockServer::start().await;
    sequence(
        &server,
        "/api/2.2/jobs/runs/get",
        json!({"run_id": 1, "state": {"life_cycle_state": "RUNNING"}}),
        1,
        json!({"run_id": 1, "state": {"life_cycle_state": "TERMINATED", "result_state": "FAILED"}}),
    )
    .await;
    let run = wait::run_terminated(&client(&server), 1, &fast(Duration::from_secs(10))).await.expect("finished");
    assert_eq!(run.state.and_then(|s| s.result_state).map(|s| s.to_string()).as_deref(), Some("FAILED"));

    let server = MockServer::start().await;
    sequence(
        &server,
        "/api/2.2/jobs/runs/get",
        json!({"state": {"life_cycle_state": "PENDING"}}),
        1,
        json!({"state": {"life_cycle_state": "INTERNAL_ERROR", "state_message": "driver lost"}}),
    )
    .await;
    let err = wait::run_terminated(&client(&server), 1, &fast(Duration::from_secs(10))).await.expect_err("fails");
    assert!(err.to_string().contains("INTERNAL_ERROR: driver lost"), "{err}");
}

#[tokio::test]
async fn warehouse_waiters() {
    let server = MockServer::start().await;
    sequence(
        &server,
        "/api/2.0/sql/warehouses/w1",
        json!({"id": "w1", "state": "STARTING"}),
        1,
        json!({"id": "w1", "state": "RUNNING"}),
    )
    .await;
    wait::warehouse_running(&client(&server), "w1", &fast(Duration::from_secs(10))).await.expect("running");

    let server = MockServer::start().await;
    sequence(&server, "/api/2.0/sql/warehouses/w1", json!({"state": "STOPPING"}), 1, json!({"state": "DELETED"})).await;
    let err =
        wait::warehouse_stopped(&client(&server), "w1", &fast(Duration::from_secs(10))).await.expect_err("deleted");
    assert!(matches!(err, WaitError::Failed { ref state, .. } if state == "DELETED"));

    let server = MockServer::start().await;
    sequence(&server, "/api/2.0/sql/warehouses/w1", json!({"state": "STOPPING"}), 1000, json!({"state": "STOPPING"}))
        .await;
    let err =
        wait::warehouse_stopped(&client(&server), "w1", &fast(Duration::from_millis(40))).await.expect_err("times out");
    assert!(matches!(err, WaitError::TimedOut { .. }));
}

#[tokio::test]
async fn command_execution_waiters() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/1.2/contexts/status"))
        .and(query_param("clusterId", "c"))
        .and(query_param("contextId", "x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "x", "status": "Running"})))
        .mount(&server)
        .await;
    sequence(&server, "/api/1.2/commands/status", json!({"id": "k", "status": "Running"}), 1,
        json!({"id": "k", "status": "Error", "results": {"resultType": "error", "cause": "SyntaxError", "summary": "bad syntax"}})).await;
    let c = client(&server);
    wait::context_running(&c, "c", "x", &fast(Duration::from_secs(10))).await.expect("context running");
    // A command that failed is still a finished command: its error is in `results`.
    let done = wait::command_finished(&c, "c", "x", "k", &fast(Duration::from_secs(10))).await.expect("finished");
    assert_eq!(done.results.and_then(|r| r.summary).as_deref(), Some("bad syntax"));
    let err = wait::command_cancelled(&c, "c", "x", "k", &fast(Duration::from_secs(10))).await.expect_err("errored");
    assert!(err.to_string().contains("bad syntax"), "{err}");

    let server = MockServer::start().await;
    sequence(&server, "/api/1.2/contexts/status", json!({"status": "Pending"}), 1, json!({"status": "Error"})).await;
    let err =
        wait::context_running(&client(&server), "c", "x", &fast(Duration::from_secs(10))).await.expect_err("error");
    assert!(matches!(err, WaitError::Failed { .. }));
}

#[tokio::test]
async fn statement_waiter_reports_the_statements_error() {
    let server = MockServer::start().await;
    sequence(&server, "/api/2.0/sql/statements/s1", json!({"statement_id": "s1", "status": {"state": "RUNNING"}}), 1,
        json!({"statement_id": "s1", "status": {"state": "FAILED", "error": {"error_code": "BAD_REQUEST", "message": "[TABLE_OR_VIEW_NOT_FOUND] nope"}}})).await;
    let err = wait::statement_done(&client(&server), "s1", &fast(Duration::from_secs(10))).await.expect_err("failed");
    assert!(err.to_string().contains("TABLE_OR_VIEW_NOT_FOUND"), "{err}");

    let server = MockServer::start().await;
    sequence(
        &server,
        "/api/2.0/sql/statements/s1",
        json!({"status": {"state": "PENDING"}}),
        1,
        json!({"statement_id": "s1", "status": {"state": "SUCCEEDED"}, "result": {"data_array": [["1"]]}}),
    )
    .await;
    let done = wait::statement_done(&client(&server), "s1", &fast(Duration::from_secs(10))).await.expect("succeeded");
    assert_eq!(done.statement_id.as_deref(), Some("s1"));
}
