//! The real binary against a standalone sandbox that injects faults: rate limits,
//! bursts of 503, dropped connections, answers slower than the HTTP timeout, cut-off
//! and invalid JSON bodies, and run submissions whose answer is lost after the run
//! started. Each test checks what the agent sees, what reached the sandbox (its
//! request log), and that the same session keeps serving afterwards.

use std::sync::Arc;

use databricks_mcp_tests::{Sandbox, Session, call, text};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

const GET_CLUSTER: &str = "/api/2.1/clusters/get";
const LIST_CLUSTERS: &str = "/api/2.1/clusters/list";
const ME: &str = "/api/2.0/preview/scim/v2/Me";
const RUN_NOW: &str = "/api/2.2/jobs/run-now";
const SUBMIT: &str = "/api/2.2/jobs/runs/submit";
const CREATE_JOB: &str = "/api/2.2/jobs/create";

async fn ok(session: &Session, tool: &str, args: Value) -> (String, Value) {
    let result = call(session, tool, args.clone()).await.unwrap_or_else(|e| panic!("{tool} {args}: {e}"));
    let body = text(&result);
    assert_ne!(result.is_error, Some(true), "{tool} {args} failed: {body}");
    (body, result.structured_content.unwrap_or(Value::Null))
}

async fn fails(session: &Session, tool: &str, args: Value) -> String {
    let result: CallToolResult =
        call(session, tool, args.clone()).await.unwrap_or_else(|e| panic!("{tool} {args}: {e}"));
    let body = text(&result);
    assert_eq!(result.is_error, Some(true), "{tool} {args} should fail, got: {body}");
    body
}

/// The statuses the sandbox answered on `path`, oldest first (0: no answer).
async fn statuses(sandbox: &Sandbox, path: &str) -> Vec<u16> {
    sandbox.requests_to(path).await.expect("request log").into_iter().map(|(_, status)| status).collect()
}

/// The requests the sandbox served on `path`, once there are at least `n`. A request
/// the client gave up on is logged only when the sandbox notices the closed
/// connection, a moment after the client has moved on, so it is waited for (up to
/// 30 s; no timing is asserted).
async fn logged(sandbox: &Sandbox, path: &str, n: usize) -> Vec<(String, u16)> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let sent = sandbox.requests_to(path).await.expect("request log");
        if sent.len() >= n || tokio::time::Instant::now() > deadline {
            return sent;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The id of the running cluster the sandbox starts with. The sandbox's request log
/// is cleared afterwards, so that each test sees only its own requests.
async fn seeded_cluster(sandbox: &Sandbox, session: &Session) -> String {
    let (_, listing) = ok(session, "list_clusters", json!({})).await;
    let id = listing["clusters"][0]["cluster_id"].as_str().unwrap_or_else(|| panic!("a cluster in {listing}"));
    sandbox.clear_requests().await.expect("request log cleared");
    id.to_string()
}

/// The session still answers an ordinary call.
async fn still_serving(session: &Session) {
    let (_, me) = ok(session, "get_current_user", json!({})).await;
    assert_eq!(me["user_name"], "sandbox-user@example.com");
}

#[tokio::test]
async fn rate_limits_and_bursts_of_503_are_retried() {
    let sandbox = Arc::new(Sandbox::start().await.expect("sandbox"));
    let session = sandbox.serve(&[]).await.expect("session");
    let cluster_id = seeded_cluster(&sandbox, &session).await;

    sandbox.fault(json!({"path": GET_CLUSTER, "kind": "status", "status": 429, "retry_after": 1})).await.unwrap();
    let (_, cluster) = ok(&session, "get_cluster", json!({"cluster_id": cluster_id})).await;
    assert_eq!(cluster["state"], "RUNNING");
    assert_eq!(statuses(&sandbox, GET_CLUSTER).await, [429, 200]);

    sandbox.fault(json!({"path": LIST_CLUSTERS, "kind": "status", "status": 503, "times": 3})).await.unwrap();
    let (body, _) = ok(&session, "list_clusters", json!({})).await;
    assert!(body.contains(&cluster_id), "{body}");
    assert_eq!(statuses(&sandbox, LIST_CLUSTERS).await, [503, 503, 503, 200]);
    still_serving(&session).await;
    session.close().await;
}

#[tokio::test]
async fn dropped_connections_and_broken_bodies_on_reads_are_retried() {
    let sandbox = Arc::new(Sandbox::start().await.expect("sandbox"));
    let session = sandbox.serve(&[]).await.expect("session");
    let cluster_id = seeded_cluster(&sandbox, &session).await;

    sandbox.fault(json!({"path": GET_CLUSTER, "kind": "drop", "times": 2})).await.unwrap();
    let (_, cluster) = ok(&session, "get_cluster", json!({"cluster_id": cluster_id})).await;
    assert_eq!(cluster["cluster_id"], cluster_id.as_str());
    assert_eq!(statuses(&sandbox, GET_CLUSTER).await, [0, 0, 200]);

    sandbox.fault(json!({"path": LIST_CLUSTERS, "kind": "truncate"})).await.unwrap();
    let (body, _) = ok(&session, "list_clusters", json!({})).await;
    assert!(body.contains(&cluster_id), "{body}");
    assert_eq!(statuses(&sandbox, LIST_CLUSTERS).await.len(), 2, "the cut-off listing was read again");

    sandbox.fault(json!({"path": ME, "kind": "invalid_json"})).await.unwrap();
    still_serving(&session).await;
    assert_eq!(statuses(&sandbox, ME).await, [200, 200], "the invalid body was read again");
    session.close().await;
}

#[tokio::test]
async fn a_read_slower_than_the_http_timeout_is_sent_again() {
    let sandbox = Arc::new(Sandbox::start().await.expect("sandbox"));
    let session = sandbox.serve(&["--http-timeout", "1"]).await.expect("session");
    let cluster_id = seeded_cluster(&sandbox, &session).await;
    sandbox.fault(json!({"path": GET_CLUSTER, "kind": "delay", "delay_ms": 3000})).await.unwrap();
    let (_, cluster) = ok(&session, "get_cluster", json!({"cluster_id": cluster_id})).await;
    assert_eq!(cluster["state"], "RUNNING");
    let sent = logged(&sandbox, GET_CLUSTER, 2).await;
    assert!(sent.len() >= 2, "the slow read was sent again: {sent:?}");
    still_serving(&session).await;
    session.close().await;
}

/// A job whose one task runs a small SQL notebook on the seeded cluster.
async fn create_job(session: &Session, cluster_id: &str) -> i64 {
    let notebook = "/Users/sandbox-user@example.com/faults";
    let source = "-- Databricks notebook source\nSELECT 1 AS one\n";
    ok(session, "import_notebook", json!({"path": notebook, "language": "SQL", "content": source})).await;
    let task = json!({
        "task_key": "only",
        "existing_cluster_id": cluster_id,
        "notebook_task": {"notebook_path": notebook},
    });
    let (_, job) = ok(session, "create_job", json!({"settings": {"name": "faults", "tasks": [task]}})).await;
    job["job_id"].as_i64().expect("job_id")
}

#[tokio::test]
async fn a_run_whose_answer_was_lost_is_started_exactly_once() {
    let sandbox = Arc::new(Sandbox::start().await.expect("sandbox"));
    let session = sandbox.serve(&[]).await.expect("session");
    let cluster_id = seeded_cluster(&sandbox, &session).await;
    let job_id = create_job(&session, &cluster_id).await;

    // run-now: the sandbox starts the run, then closes the connection unanswered.
    sandbox.fault(json!({"path": RUN_NOW, "kind": "lose_response"})).await.unwrap();
    let (_, started) = ok(&session, "run_job", json!({"job_id": job_id})).await;
    let run_id = started["run_id"].as_i64().expect("run_id");
    assert_eq!(statuses(&sandbox, RUN_NOW).await, [0, 200], "the lost submission was sent again");
    let (_, runs) = ok(&session, "list_runs", json!({"job_id": job_id})).await;
    let ids: Vec<i64> = runs["runs"].as_array().expect("runs").iter().filter_map(|r| r["run_id"].as_i64()).collect();
    assert_eq!(ids, [run_id], "exactly one run started: {runs}");

    // runs/submit, the same way.
    sandbox.fault(json!({"path": SUBMIT, "kind": "lose_response"})).await.unwrap();
    let task = json!({
        "task_key": "once",
        "existing_cluster_id": cluster_id,
        "notebook_task": {"notebook_path": "/Users/sandbox-user@example.com/faults"},
    });
    let (_, submitted) = ok(&session, "submit_single_run", json!({"run_name": "once", "tasks": [task]})).await;
    let submitted_id = submitted["run_id"].as_i64().expect("run_id");
    assert_eq!(statuses(&sandbox, SUBMIT).await, [0, 200]);
    let (_, runs) = ok(&session, "list_runs", json!({"run_type": "SUBMIT_RUN"})).await;
    let ids: Vec<i64> = runs["runs"].as_array().expect("runs").iter().filter_map(|r| r["run_id"].as_i64()).collect();
    assert_eq!(ids, [submitted_id], "exactly one one-time run started: {runs}");
    still_serving(&session).await;
    session.close().await;
}

#[tokio::test]
async fn a_spent_retry_budget_is_a_clear_tool_error_and_the_server_keeps_serving() {
    let sandbox = Arc::new(Sandbox::start().await.expect("sandbox"));
    let session = sandbox.serve(&["--retry-timeout", "3", "--http-timeout", "1"]).await.expect("session");
    let cluster_id = seeded_cluster(&sandbox, &session).await;

    // Unavailable for longer than the budget.
    sandbox.fault(json!({"path": GET_CLUSTER, "kind": "status", "status": 503, "times": 1000})).await.unwrap();
    let error = fails(&session, "get_cluster", json!({"cluster_id": cluster_id})).await;
    assert!(error.contains("HTTP 503") && error.contains("TEMPORARILY_UNAVAILABLE"), "{error}");
    assert!(error.contains("attempts") && error.contains("retry budget"), "says it retried and gave up: {error}");
    let tries = statuses(&sandbox, GET_CLUSTER).await.len();
    assert!((2..=4).contains(&tries), "retried within a 3 s budget: {tries} attempts");

    // Slower than the HTTP timeout every time.
    sandbox.fault(json!({"path": LIST_CLUSTERS, "kind": "delay", "delay_ms": 5000, "times": 1000})).await.unwrap();
    let error = fails(&session, "list_clusters", json!({})).await;
    assert!(error.contains("timed out"), "{error}");
    assert!(error.contains("retry budget"), "{error}");

    // A write that timed out is never sent again: it may have been applied.
    sandbox.fault(json!({"path": CREATE_JOB, "kind": "delay", "delay_ms": 3000})).await.unwrap();
    let settings = json!({"name": "slow", "tasks": [{"task_key": "t", "existing_cluster_id": cluster_id,
        "notebook_task": {"notebook_path": "/Users/sandbox-user@example.com/none"}}]});
    let error = fails(&session, "create_job", json!({"settings": settings})).await;
    assert!(error.contains("timed out") && error.contains("check its effect"), "{error}");
    // Any second send would have met no fault and been logged before the first.
    assert_eq!(logged(&sandbox, CREATE_JOB, 1).await.len(), 1, "a create was sent twice, or never");

    // The faults end; the same session answers again.
    sandbox.clear_faults().await.unwrap();
    let (_, cluster) = ok(&session, "get_cluster", json!({"cluster_id": cluster_id})).await;
    assert_eq!(cluster["state"], "RUNNING");
    let (body, _) = ok(&session, "list_clusters", json!({})).await;
    assert!(body.contains(&cluster_id), "{body}");
    still_serving(&session).await;
    session.close().await;
}
