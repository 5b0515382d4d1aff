//! The `jobs` tools against an in-process sandbox: jobs are created, listed, read,
//! changed, run and deleted; runs are submitted, followed, read and cancelled. SQL
//! notebooks really run in the sandbox, so outputs are checked for real values.
//! Also: destructive tools refuse without `confirm`, Databricks errors become
//! `isError` results, bad arguments become invalid-params errors naming the field,
//! waits that run out are not failures, and a cancelled request cancels only a run
//! the call itself started.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use databricks_client::{Client, Config, types};
use databricks_mcp::{DatabricksMcp, Settings, ToolContext, Toolset};
use databricks_sandbox::{Sandbox, SandboxOptions};
use rmcp::ErrorData as McpError;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const REPORT: &str = "-- Databricks notebook source\n\
SELECT 1 AS warm_up;\n\
\n-- COMMAND ----------\n\n\
SELECT '${greeting}' AS greeting, 40 + 2 AS answer\n";

struct Harness {
    _sandbox: Sandbox,
    client: Client,
    server: DatabricksMcp,
}

impl Harness {
    async fn start(transition_delay: Duration) -> Self {
        let options = SandboxOptions { transition_delay, tpch_scale: 0.001, seed: false, ..Default::default() };
        let sandbox = Sandbox::start("127.0.0.1:0".parse().unwrap(), options).await.expect("sandbox starts");
        let client = Client::from_config(Config::new().with_host(sandbox.url()).with_token("t")).expect("client");
        let server = DatabricksMcp::new(
            client.clone(),
            Settings {
                toolsets: Toolset::ALL.into_iter().collect(),
                poll_unit: Some(Duration::from_millis(10)),
                ..Default::default()
            },
        );
        Self { _sandbox: sandbox, client, server }
    }

    async fn call_with(&self, tool: &str, args: Value, cancel: CancellationToken) -> Result<CallToolResult, McpError> {
        let settings = Arc::new(self.server.settings().clone());
        let ctx = ToolContext::new(self.client.clone(), settings, cancel, None, None);
        self.server.run(tool, args.as_object().expect("object arguments").clone(), ctx).await
    }

    async fn call(&self, tool: &str, args: Value) -> Result<CallToolResult, McpError> {
        let ctx = ToolContext::standalone(self.client.clone(), Arc::new(self.server.settings().clone()));
        self.server.run(tool, args.as_object().expect("object arguments").clone(), ctx).await
    }

    /// A call that must succeed; returns its text and structured content.
    async fn ok(&self, tool: &str, args: Value) -> (String, Value) {
        let result = self.call(tool, args.clone()).await.unwrap_or_else(|e| panic!("{tool} {args}: {e:?}"));
        let text = text_of(&result);
        assert_ne!(result.is_error, Some(true), "{tool} {args} failed: {text}");
        (text, result.structured_content.clone().unwrap_or(Value::Null))
    }

    /// A call that must come back as an `isError` result; returns its text.
    async fn tool_error(&self, tool: &str, args: Value) -> String {
        let result = self.call(tool, args.clone()).await.unwrap_or_else(|e| panic!("{tool} {args}: {e:?}"));
        let text = text_of(&result);
        assert_eq!(result.is_error, Some(true), "{tool} {args} should fail, got: {text}");
        text
    }

    /// A call that must be refused as invalid params; returns the message.
    async fn invalid(&self, tool: &str, args: Value) -> String {
        match self.call(tool, args.clone()).await {
            Err(e) => {
                assert_eq!(e.code, rmcp::model::ErrorCode::INVALID_PARAMS, "{tool} {args}: {e:?}");
                e.message.to_string()
            }
            Ok(r) => panic!("{tool} {args} should be invalid params, got {}", text_of(&r)),
        }
    }

    /// Import a notebook in SOURCE format through the workspace API.
    async fn import_notebook(&self, path: &str, language: &str, source: &str) {
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
        let mkdirs: types::WorkspaceMkdirsBody = serde_json::from_value(json!({"path": dir})).unwrap();
        self.client.workspace_mkdirs().body(mkdirs).send().await.expect("mkdirs");
        let import: types::WorkspaceImportBody = serde_json::from_value(json!({
            "path": path,
            "content": B64.encode(source),
            "format": "SOURCE",
            "language": language,
            "overwrite": true,
        }))
        .unwrap();
        self.client.workspace_import().body(import).send().await.expect("import");
    }

    async fn create_job(&self, settings: Value) -> i64 {
        let (_, s) = self.ok("create_job", json!({ "settings": settings })).await;
        s["job_id"].as_i64().expect("job_id")
    }

    /// The life-cycle and result state of a run, read straight from the API.
    async fn run_state(&self, run_id: i64) -> (String, String) {
        let run = self.client.jobs_get_run().run_id(run_id).send().await.expect("get run").into_inner();
        let state = run.state.expect("state");
        (
            state.life_cycle_state.map(|s| s.to_string()).unwrap_or_default(),
            state.result_state.map(|s| s.to_string()).unwrap_or_default(),
        )
    }
}

fn text_of(result: &CallToolResult) -> String {
    result.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default()
}

fn notebook_job(name: &str, path: &str) -> Value {
    json!({
        "name": name,
        "tasks": [{"task_key": "report", "notebook_task": {"notebook_path": path, "base_parameters": {"greeting": "hello"}}}],
    })
}

#[tokio::test]
async fn a_job_from_creation_to_deletion() {
    let h = Harness::start(Duration::ZERO).await;
    let path = "/Shared/mcp-jobs/report";
    h.import_notebook(path, "SQL", REPORT).await;

    // create_job passes the settings through and returns the id.
    let (text, s) = h
        .ok(
            "create_job",
            json!({"settings": {
                "name": "Nightly report",
                "tasks": [{"task_key": "report", "notebook_task": {"notebook_path": path, "base_parameters": {"greeting": "hello"}}}],
                "schedule": {"quartz_cron_expression": "0 0 3 * * ?", "timezone_id": "UTC", "pause_status": "PAUSED"},
                "tags": {"team": "data"},
                "max_concurrent_runs": 2,
            }}),
        )
        .await;
    let job_id = s["job_id"].as_i64().expect("job_id");
    assert!(text.contains(&format!("Created job {job_id}")), "{text}");
    assert_eq!(s["task_count"], 1);
    h.create_job(json!({"name": "something else", "tasks": []})).await;

    // list_jobs: summaries, filtered by exact name (case-insensitive).
    let (text, s) = h.ok("list_jobs", json!({"name": "nightly REPORT"})).await;
    assert_eq!(s["count"], 1, "{text}");
    let job = &s["jobs"][0];
    assert_eq!(job["job_id"], job_id);
    assert_eq!(job["name"], "Nightly report");
    assert_eq!(job["task_count"], 1);
    assert_eq!(job["task_kinds"], json!(["notebook_task"]));
    assert_eq!(job["schedule"], "cron 0 0 3 * * ? (UTC) PAUSED");
    assert!(job["creator"].as_str().is_some_and(|c| !c.is_empty()), "{job}");
    assert!(job["created"].as_str().is_some_and(|c| c.ends_with('Z')), "{job}");
    assert!(text.contains("| job_id | name |"), "{text}");
    let (_, s) = h.ok("list_jobs", json!({})).await;
    assert_eq!(s["count"], 2);
    assert_eq!(s["has_more"], false);

    // get_job: the full settings.
    let (_, s) = h.ok("get_job", json!({"job_id": job_id})).await;
    assert_eq!(s["settings"]["tasks"][0]["notebook_task"]["notebook_path"], path);
    assert_eq!(s["settings"]["schedule"]["timezone_id"], "UTC");
    assert_eq!(s["settings"]["max_concurrent_runs"], 2);

    // update_job: change one field, remove another, keep the rest.
    let (text, s) = h
        .ok(
            "update_job",
            json!({"job_id": job_id, "new_settings": {"name": "Morning report"}, "fields_to_remove": ["schedule"]}),
        )
        .await;
    assert!(text.contains("set name") && text.contains("removed schedule"), "{text}");
    assert_eq!(s["changed_fields"], json!(["name"]));
    let (_, s) = h.ok("get_job", json!({"job_id": job_id})).await;
    assert_eq!(s["settings"]["name"], "Morning report");
    assert!(s["settings"].get("schedule").is_none(), "{s}");
    assert_eq!(s["settings"]["tags"]["team"], "data");
    assert_eq!(s["settings"]["tasks"].as_array().map(Vec::len), Some(1));
    let message = h.invalid("update_job", json!({"job_id": job_id, "new_settings": {"tags": {}}})).await;
    assert!(message.contains("new_settings.tags") && message.contains("fields_to_remove"), "{message}");
    let message = h.invalid("update_job", json!({"job_id": job_id})).await;
    assert!(message.contains("new_settings"), "{message}");

    // run_job with wait: the final state and the notebook's result, with run parameters applied.
    let (text, s) =
        h.ok("run_job", json!({"job_id": job_id, "notebook_params": {"greeting": "hi there"}, "wait": true})).await;
    assert!(text.contains("TERMINATED/SUCCESS"), "{text}");
    assert_eq!(s["succeeded"], true);
    assert_eq!(s["run"]["job_id"], job_id);
    let output = s["output"]["text"].as_str().expect("output text");
    assert!(output.contains("Notebook result") && output.contains("hi there") && output.contains("42"), "{output}");
    let first_run = s["run"]["run_id"].as_i64().expect("run id");
    let first_task_run = s["tasks"][0]["run_id"].as_i64().expect("task run id");
    assert_ne!(first_run, first_task_run);

    // run_job without wait, then wait_for_run_completion.
    let (text, s) = h.ok("run_job", json!({"job_id": job_id})).await;
    let second_run = s["run_id"].as_i64().expect("run id");
    assert!(text.contains("wait_for_run_completion"), "{text}");
    let (text, s) = h.ok("wait_for_run_completion", json!({"run_id": second_run, "timeout_seconds": 30})).await;
    assert!(text.contains(&format!("Run {second_run}")) && text.contains("TERMINATED/SUCCESS"), "{text}");
    assert!(s["output"]["text"].as_str().is_some_and(|o| o.contains("hello")), "{s}");

    // list_runs: summaries, newest first, with filters.
    let (text, s) = h.ok("list_runs", json!({"job_id": job_id})).await;
    assert_eq!(s["count"], 2, "{text}");
    assert_eq!(s["runs"][0]["run_id"], second_run);
    assert_eq!(s["runs"][1]["run_id"], first_run);
    let run = &s["runs"][1];
    assert_eq!(run["life_cycle_state"], "TERMINATED");
    assert_eq!(run["result_state"], "SUCCESS");
    assert_eq!(run["run_type"], "JOB_RUN");
    assert!(run["start_time"].as_i64().is_some() && run["duration"].is_string(), "{run}");
    let (_, s) = h.ok("list_runs", json!({"job_id": job_id, "completed_only": true})).await;
    assert_eq!(s["count"], 2);
    let (text, s) = h.ok("list_runs", json!({"job_id": job_id, "active_only": true})).await;
    assert_eq!(s["count"], 0, "{text}");

    // get_run: the full run with its task runs.
    let (_, s) = h.ok("get_run", json!({"run_id": first_run})).await;
    assert_eq!(s["run_id"], first_run);
    assert_eq!(s["tasks"][0]["run_id"], first_task_run);
    assert_eq!(s["state"]["result_state"], "SUCCESS");

    // get_run_output on the parent of a single-task run resolves to the task run.
    let (text, s) = h.ok("get_run_output", json!({"run_id": first_run})).await;
    assert!(text.contains("single task"), "{text}");
    assert_eq!(s["run_id"], first_task_run);
    assert!(s["content"].as_str().is_some_and(|c| c.contains("hi there")), "{s}");
    // ... and pages by offset and length.
    let (text, s) = h.ok("get_run_output", json!({"run_id": first_task_run, "length": 10})).await;
    assert_eq!(s["returned_chars"], 10);
    assert_eq!(s["next_offset"], 10);
    assert!(text.contains("offset=10"), "{text}");
    let total = s["total_chars"].as_u64().expect("total");
    let (_, s) = h.ok("get_run_output", json!({"run_id": first_task_run, "offset": 10})).await;
    assert_eq!(s["returned_chars"].as_u64(), Some(total - 10));
    assert_eq!(s["complete"], true);

    // delete_job refuses without confirm, then deletes.
    let refused = h.tool_error("delete_job", json!({"job_id": job_id})).await;
    assert!(refused.contains("Confirmation required") && refused.contains("Morning report"), "{refused}");
    h.ok("get_job", json!({"job_id": job_id})).await;
    let (text, _) = h.ok("delete_job", json!({"job_id": job_id, "confirm": true})).await;
    assert!(text.contains(&format!("Deleted job {job_id}")), "{text}");
    let gone = h.tool_error("get_job", json!({"job_id": job_id})).await;
    assert!(gone.contains("INVALID_PARAMETER_VALUE") && gone.contains("does not exist"), "{gone}");
}

#[tokio::test]
async fn jobs_with_more_than_a_page_of_tasks_are_read_whole() {
    let h = Harness::start(Duration::ZERO).await;
    let tasks: Vec<Value> = (0..150)
        .map(|i| json!({"task_key": format!("t{i:03}"), "notebook_task": {"notebook_path": "/Shared/nb"}}))
        .collect();
    let job_id = h.create_job(json!({"name": "wide", "tasks": tasks})).await;

    let (_, s) = h.ok("get_job", json!({"job_id": job_id})).await;
    let tasks = s["settings"]["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 150);
    assert_eq!(tasks[149]["task_key"], "t149");
    assert!(s.get("next_page_token").is_none() && s.get("has_more").is_none(), "{s:?}");

    let (text, s) = h.ok("list_jobs", json!({"name": "wide"})).await;
    assert_eq!(s["jobs"][0]["more_tasks"], true);
    assert!(text.contains("100+"), "{text}");
}

#[tokio::test]
async fn one_time_runs_with_several_tasks_and_unsupported_kinds() {
    let h = Harness::start(Duration::ZERO).await;
    h.import_notebook("/Shared/one-off/report", "SQL", REPORT).await;
    h.import_notebook("/Shared/one-off/etl", "PYTHON", "# Databricks notebook source\nprint('hi')\n").await;

    // Two tasks, the second after the first.
    let (text, s) = h
        .ok(
            "submit_single_run",
            json!({
                "run_name": "adhoc",
                "tasks": [
                    {"task_key": "first", "notebook_task": {"notebook_path": "/Shared/one-off/report", "base_parameters": {"greeting": "one"}}},
                    {"task_key": "second", "depends_on": [{"task_key": "first"}],
                     "notebook_task": {"notebook_path": "/Shared/one-off/report", "base_parameters": {"greeting": "two"}}},
                ],
                "other_settings": {"timeout_seconds": 600},
                "wait": true,
            }),
        )
        .await;
    assert!(text.contains("Submitted one-time run") && text.contains("TERMINATED/SUCCESS"), "{text}");
    assert!(text.contains("Task runs") && text.contains("second"), "{text}");
    let run_id = s["run"]["run_id"].as_i64().expect("run id");
    assert_eq!(s["run"]["run_type"], "SUBMIT_RUN");
    let tasks = s["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 2);
    let second = tasks.iter().find(|t| t["task_key"] == "second").expect("second task");
    let second_id = second["run_id"].as_i64().expect("task run id");

    // The parent of several tasks has no output of its own: the tool names the task runs.
    let text = h.tool_error("get_run_output", json!({"run_id": run_id})).await;
    assert!(text.contains("2 tasks") && text.contains("first") && text.contains(&second_id.to_string()), "{text}");
    let (_, s) = h.ok("get_run_output", json!({"run_id": second_id})).await;
    assert_eq!(s["task_key"], "second");
    assert!(s["content"].as_str().is_some_and(|c| c.contains("two")), "{s}");

    // Task kinds the sandbox cannot run fail with a clear message, reported as an error result.
    let text = h
        .tool_error(
            "submit_single_run",
            json!({"tasks": [{"task_key": "py", "notebook_task": {"notebook_path": "/Shared/one-off/etl"}}], "wait": true}),
        )
        .await;
    assert!(text.contains("FAILED") && text.contains("PYTHON notebook") && text.contains("not supported"), "{text}");
    let text = h
        .tool_error(
            "submit_single_run",
            json!({"tasks": [{"task_key": "spark", "spark_python_task": {"python_file": "dbfs:/x.py"}}], "wait": true}),
        )
        .await;
    assert!(text.contains("spark_python_task") && text.contains("not supported"), "{text}");
    assert!(text.contains("### Error"), "the task's error output is included: {text}");

    // A failing SQL cell in a multi-task run: the failed task's error is in the report.
    h.import_notebook("/Shared/one-off/broken", "SQL", "-- Databricks notebook source\nSELECT * FROM no_such_table")
        .await;
    let text = h
        .tool_error(
            "submit_single_run",
            json!({"tasks": [
                {"task_key": "ok", "notebook_task": {"notebook_path": "/Shared/one-off/report"}},
                {"task_key": "bad", "notebook_task": {"notebook_path": "/Shared/one-off/broken"}},
            ], "wait": true}),
        )
        .await;
    assert!(text.contains("Error of task bad") && text.contains("no_such_table"), "{text}");

    let (_, s) = h.ok("list_runs", json!({"run_type": "SUBMIT_RUN"})).await;
    assert_eq!(s["count"], 4);
    let (_, s) = h.ok("list_runs", json!({"run_type": "JOB_RUN"})).await;
    assert_eq!(s["count"], 0);

    // Argument mistakes inside the free-form tasks are named.
    let message = h
        .invalid(
            "submit_single_run",
            json!({"tasks": [{"task_key": "x", "notebok_task": {"notebook_path": "/Shared/one-off/report"}}]}),
        )
        .await;
    assert!(message.contains("tasks[0].notebok_task"), "{message}");
    let message = h.invalid("submit_single_run", json!({"tasks": [{"notebook_task": {"notebook_path": "/x"}}]})).await;
    assert!(message.contains("tasks[0]") && message.contains("task_key"), "{message}");
    let message = h
        .invalid(
            "submit_single_run",
            json!({"tasks": [{"task_key": "x", "notebook_task": {"notebook_path": "/x"}}], "other_settings": {"tasks": []}}),
        )
        .await;
    assert!(message.contains("other_settings.tasks"), "{message}");
    let message = h.invalid("submit_single_run", json!({"tasks": []})).await;
    assert!(message.contains("tasks"), "{message}");
}

#[tokio::test]
async fn listings_page_with_tokens() {
    let h = Harness::start(Duration::ZERO).await;
    h.import_notebook("/Shared/paging/report", "SQL", REPORT).await;
    let mut jobs = Vec::new();
    for i in 0..3 {
        jobs.push(h.create_job(notebook_job(&format!("job {i}"), "/Shared/paging/report")).await);
    }

    let (text, s) = h.ok("list_jobs", json!({"limit": 2})).await;
    assert_eq!(s["count"], 2);
    let token = s["next_page_token"].as_str().expect("a next page").to_string();
    assert!(text.contains("page_token"), "{text}");
    let (_, s) = h.ok("list_jobs", json!({"limit": 2, "page_token": token})).await;
    assert_eq!(s["count"], 1);
    assert!(s["next_page_token"].is_null(), "{s}");
    assert_eq!(s["has_more"], false);

    for job_id in &jobs {
        let (_, s) = h.ok("run_job", json!({"job_id": job_id, "wait": true})).await;
        assert_eq!(s["succeeded"], true);
    }
    let (_, s) = h.ok("list_runs", json!({"limit": 2})).await;
    assert_eq!(s["count"], 2);
    let token = s["next_page_token"].as_str().expect("a next page").to_string();
    let (_, s) = h.ok("list_runs", json!({"limit": 2, "page_token": token})).await;
    assert_eq!(s["count"], 1);
    assert!(s["next_page_token"].is_null(), "{s}");

    assert!(h.invalid("list_jobs", json!({"limit": 0})).await.contains("limit"));
}

#[tokio::test]
async fn waits_that_run_out_are_not_failures_and_cancel_run_needs_confirmation() {
    let h = Harness::start(Duration::from_secs(3)).await;
    h.import_notebook("/Shared/slow/report", "SQL", REPORT).await;
    let job_id = h.create_job(notebook_job("slow", "/Shared/slow/report")).await;

    // The run spends 3 s pending; a 1 s wait runs out and says how to go on.
    let (text, s) = h.ok("run_job", json!({"job_id": job_id, "wait": true, "timeout_seconds": 1})).await;
    let run_id = s["run_id"].as_i64().expect("run id");
    assert_eq!(s["timed_out"], true);
    assert_eq!(s["finished"], false);
    assert!(text.contains(&format!("Run {run_id}")) && text.contains("wait_for_run_completion"), "{text}");
    assert!(text.contains("do not start it again"), "{text}");
    let (life, _) = h.run_state(run_id).await;
    assert_ne!(life, "TERMINATED", "the run was left running");
    let (text, s) = h.ok("wait_for_run_completion", json!({"run_id": run_id, "timeout_seconds": 60})).await;
    assert_eq!(s["succeeded"], true, "{text}");

    // cancel_run: refused without confirm, the run keeps going; with confirm it ends CANCELED.
    let (_, s) = h.ok("run_job", json!({"job_id": job_id})).await;
    let run_id = s["run_id"].as_i64().expect("run id");
    let refused = h.tool_error("cancel_run", json!({"run_id": run_id})).await;
    assert!(refused.contains("Confirmation required") && refused.contains(&run_id.to_string()), "{refused}");
    let (life, _) = h.run_state(run_id).await;
    assert!(life == "PENDING" || life == "RUNNING", "{life}");
    let (text, s) =
        h.ok("cancel_run", json!({"run_id": run_id, "confirm": true, "wait": true, "timeout_seconds": 30})).await;
    assert!(text.contains("TERMINATED/CANCELED"), "{text}");
    assert_eq!(s["result_state"], "CANCELED");
    let (text, s) = h.ok("cancel_run", json!({"run_id": run_id, "confirm": true})).await;
    assert!(text.contains("already finished"), "{text}");
    assert_eq!(s["cancelled"], false);

    // Without wait, cancellation is only requested.
    let (_, s) = h.ok("run_job", json!({"job_id": job_id})).await;
    let run_id = s["run_id"].as_i64().expect("run id");
    let (text, _) = h.ok("cancel_run", json!({"run_id": run_id, "confirm": true})).await;
    assert!(text.contains("asynchronous"), "{text}");
    // Following a run that ends CANCELED: it did not succeed, so the result is an error carrying the state.
    let text = h.tool_error("wait_for_run_completion", json!({"run_id": run_id, "timeout_seconds": 30})).await;
    assert!(text.contains("TERMINATED/CANCELED"), "{text}");
}

#[tokio::test]
async fn a_cancelled_request_cancels_only_a_run_it_started() {
    let h = Harness::start(Duration::from_secs(4)).await;
    h.import_notebook("/Shared/cancel/report", "SQL", REPORT).await;
    let job_id = h.create_job(notebook_job("cancellable", "/Shared/cancel/report")).await;

    // run_job with wait, cancelled by the client while waiting: the run it started is cancelled.
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        trigger.cancel();
    });
    let result = h.call_with("run_job", json!({"job_id": job_id, "wait": true}), token).await.expect("a result");
    assert_eq!(result.is_error, Some(true), "{}", text_of(&result));
    let (_, s) = h.ok("list_runs", json!({"job_id": job_id})).await;
    let started = s["runs"][0]["run_id"].as_i64().expect("the started run");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut state = h.run_state(started).await;
    while state.0 != "TERMINATED" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = h.run_state(started).await;
    }
    assert_eq!(state, ("TERMINATED".to_string(), "CANCELED".to_string()), "the started run is cancelled");

    // wait_for_run_completion, cancelled: the wait stops, the run goes on.
    let (_, s) = h.ok("run_job", json!({"job_id": job_id})).await;
    let run_id = s["run_id"].as_i64().expect("run id");
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel();
    });
    let result = h.call_with("wait_for_run_completion", json!({"run_id": run_id}), token).await.expect("a result");
    assert_eq!(result.is_error, Some(true), "{}", text_of(&result));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (life, _) = h.run_state(run_id).await;
    assert!(life == "PENDING" || life == "RUNNING", "the run was not cancelled: {life}");
    let (_, s) = h.ok("wait_for_run_completion", json!({"run_id": run_id, "timeout_seconds": 60})).await;
    assert_eq!(s["succeeded"], true);
}

#[tokio::test]
async fn errors_and_argument_checks() {
    let h = Harness::start(Duration::ZERO).await;
    h.import_notebook("/Shared/errors/report", "SQL", REPORT).await;

    // Databricks errors become isError results with the error code.
    let text = h.tool_error("get_job", json!({"job_id": 987_654})).await;
    assert!(text.contains("INVALID_PARAMETER_VALUE") && text.contains("987654"), "{text}");
    let text = h.tool_error("get_run", json!({"run_id": 424_242})).await;
    assert!(text.contains("INVALID_PARAMETER_VALUE") && text.contains("424242"), "{text}");
    let text = h.tool_error("run_job", json!({"job_id": 987_654})).await;
    assert!(text.contains("does not exist"), "{text}");
    let text = h.tool_error("get_run_output", json!({"run_id": 424_242})).await;
    assert!(text.contains("does not exist"), "{text}");
    let text = h.tool_error("update_job", json!({"job_id": 987_654, "new_settings": {"name": "x"}})).await;
    assert!(text.contains("does not exist"), "{text}");
    let text = h.tool_error("delete_job", json!({"job_id": 987_654, "confirm": true})).await;
    assert!(text.contains("does not exist"), "{text}");
    let text = h.tool_error("cancel_run", json!({"run_id": 424_242, "confirm": true})).await;
    assert!(text.contains("does not exist"), "{text}");
    let text = h.tool_error("create_job", json!({"settings": {"tasks": [{"task_key": "a"}]}})).await;
    assert!(text.contains("INVALID_PARAMETER_VALUE") && text.contains("task type"), "{text}");

    // Wrong argument types and unknown fields are invalid params naming the field.
    let message = h.invalid("get_job", json!({"job_id": "abc"})).await;
    assert!(message.contains("job_id"), "{message}");
    let message = h.invalid("list_runs", json!({"limit": "many"})).await;
    assert!(message.contains("limit"), "{message}");
    let message = h.invalid("list_runs", json!({"active_only": true, "completed_only": true})).await;
    assert!(message.contains("completed_only"), "{message}");
    let message = h.invalid("list_runs", json!({"run_type": "NIGHTLY"})).await;
    assert!(message.contains("run_type"), "{message}");
    let message = h.invalid("create_job", json!({"settings": "not an object"})).await;
    assert!(message.contains("settings"), "{message}");
    let message = h.invalid("create_job", json!({"settings": {"name": "x", "max_concurrent_runs": "two"}})).await;
    assert!(message.contains("settings.max_concurrent_runs"), "{message}");
    let message = h
        .invalid(
            "create_job",
            json!({"settings": {"name": "x", "tasks": [{"task_key": "a", "notebok_task": {"notebook_path": "/x"}}]}}),
        )
        .await;
    assert!(message.contains("settings.tasks[0].notebok_task"), "{message}");
    let message = h.invalid("run_job", json!({"job_id": 1, "job_parameters": {"n": 1}})).await;
    assert!(message.contains("job_parameters.n"), "{message}");
    let message = h.invalid("run_job", json!({"job_id": 1, "idempotency_token": "x".repeat(65)})).await;
    assert!(message.contains("idempotency_token"), "{message}");
    let message = h.invalid("get_run_output", json!({"run_id": 1, "length": 0})).await;
    assert!(message.contains("length"), "{message}");
    let message = h.invalid("get_run", json!({"run_id": 1, "include_everything": true})).await;
    assert!(message.contains("include_everything"), "{message}");
    let message = h.invalid("cancel_run", json!({"run_id": 1, "confirm": "yes"})).await;
    assert!(message.contains("confirm"), "{message}");

    // The same idempotency token returns the run already started instead of a second one.
    let job_id = h.create_job(notebook_job("once", "/Shared/errors/report")).await;
    let (_, a) = h.ok("run_job", json!({"job_id": job_id, "idempotency_token": "retry-safe-1"})).await;
    let (_, b) = h.ok("run_job", json!({"job_id": job_id, "idempotency_token": "retry-safe-1"})).await;
    assert_eq!(a["run_id"], b["run_id"]);
    let (_, s) = h.ok("list_runs", json!({"job_id": job_id})).await;
    assert_eq!(s["count"], 1);
    // A job without tasks cannot run.
    let empty = h.create_job(json!({"name": "empty"})).await;
    let text = h.tool_error("run_job", json!({"job_id": empty})).await;
    assert!(text.contains("no tasks"), "{text}");
}
